"""Several trials' fold networks trained as one batched model: each trial computes what it computes
alone with the same seed, leaves the batch when pruned or done, and keeps its own MLflow run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from glasstune.config import default_storage, default_tracking_uri
from glasstune.data.sources import SyntheticSoftness
from glasstune.objectives.mlp.model import FoldBatchedMLP, MLPSettings, TrialBatchedMLP
from glasstune.objectives.mlp.objective import fold_splits
from tests.conftest import TINY_STUDY

TRIALS = [  # other depths, widths, solvers, batch sizes and seeds in one batch
    ({"hidden_layer_sizes": (12, 12), "solver": "adam", "learning_rate_init": 0.01, "alpha": 1e-3}, 3),
    ({"hidden_layer_sizes": (20,), "solver": "sgd", "learning_rate_init": 0.05, "alpha": 1e-2}, 7),
    ({"hidden_layer_sizes": (8, 16, 8), "solver": "adam", "learning_rate_init": 0.003, "batch_size": 50}, 11),
    ({"hidden_layer_sizes": (12, 12), "solver": "sgd", "nesterovs_momentum": False, "learning_rate_init": 0.02}, 5),
]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    import os

    os.environ.setdefault("GLASSTUNE_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    return SyntheticSoftness(0.45, n_frames=10, n_per_class=21).load()  # 420 rows: folds of unequal size


def _settings():
    return [(MLPSettings.from_sklearn(config), seed) for config, seed in TRIALS]


def _alone(table, folds, settings, seed, epochs):
    model = FoldBatchedMLP(table.X, table.y, folds, settings=settings, seed=seed)
    return model, model.train(epochs)


def _assert_same_networks(batched, alone, folds):
    for fold in range(len(folds)):
        ours, theirs = batched.fold_parameters(fold), alone.fold_parameters(fold)
        for key in ("weights", "biases"):
            for a, b in zip(ours[key], theirs[key], strict=True):
                assert a.shape == b.shape  # in the trial's own shapes, padding left out
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # float rounding in the products


def test_each_trial_in_a_batch_trains_as_it_does_alone(table):
    folds = fold_splits(table, 3, seed=0)
    batch = TrialBatchedMLP(table.X, table.y, folds, _settings())
    losses = batch.train(25)
    for position, (settings, seed) in enumerate(_settings()):
        alone, alone_losses = _alone(table, folds, settings, seed, 25)
        np.testing.assert_allclose(losses[:, 3 * position:3 * position + 3], alone_losses, rtol=1e-6)
        _assert_same_networks(batch.trial(position), alone, folds)
        np.testing.assert_array_equal(batch.trial(position).held_out_scores(table.X, table.y),
                                      alone.held_out_scores(table.X, table.y))


def test_a_trial_that_leaves_the_batch_changes_nothing_for_the_others(table):
    folds = fold_splits(table, 3, seed=0)
    batch = TrialBatchedMLP(table.X, table.y, folds, _settings())
    batch.train(10)
    batch.keep([3, 1])  # trials 0 and 2 pruned or done
    batch.train(15)
    assert batch.n_members == 6
    for position, original in enumerate((3, 1)):
        settings, seed = _settings()[original]
        alone, _ = _alone(table, folds, settings, seed, 25)
        _assert_same_networks(batch.trial(position), alone, folds)


def test_a_network_without_hidden_layers_is_not_padded_into_deeper_ones(table):
    folds = fold_splits(table, 3, seed=0)
    linear = MLPSettings.from_sklearn({"hidden_layer_sizes": ()})
    with pytest.raises(ValueError, match="without hidden layers"):
        TrialBatchedMLP(table.X, table.y, folds, [(linear, 0), _settings()[0]])


PRUNE_TRIAL_1 = '''
class PruneTrialOne(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return trial.number == 1
'''


def _study(name: str) -> str:
    return TINY_STUDY.format(name=name, n_trials=4, pruner="PruneTrialOne()").replace(
        "\n\ndef space", PRUNE_TRIAL_1 + "\n\ndef space")


def _trials(name: str) -> list:
    return optuna.load_study(study_name=name, storage=default_storage()).trials


def test_trials_trained_together_score_prune_and_log_as_alone(cli, write_study):
    alone = cli("run", write_study(name="alone", body=_study("alone")), "--no-progress", "--trials-per-batch", "1")
    together = cli("run", write_study(name="together", body=_study("together")), "--no-progress",
                   "--trials-per-batch", "3")
    assert alone.exit_code == 0 and together.exit_code == 0, alone.stderr + together.stderr
    one, many = _trials("alone"), _trials("together")
    assert [t.params for t in many] == [t.params for t in one]  # the sampler's startup draws
    assert len({t.params["max_iter"] for t in many[:3]}) > 1, "the batch should mix trial lengths"
    assert [t.state.name for t in many] == ["COMPLETE", "PRUNED", "COMPLETE", "COMPLETE"]
    assert [t.value for t in many] == [t.value for t in one]
    client = MlflowClient(default_tracking_uri())
    runs = [client.get_run(t.user_attrs["mlflow_run_id"]) for t in many]
    assert len({run.info.run_id for run in runs}) == 4
    assert [run.info.status for run in runs] == ["FINISHED", "KILLED", "FINISHED", "FINISHED"]
    for alone_trial, run in zip(one, runs, strict=True):  # its own curve, to its own end or its pruning
        ours = client.get_metric_history(run.info.run_id, "loss_fold1")
        theirs = client.get_metric_history(alone_trial.user_attrs["mlflow_run_id"], "loss_fold1")
        assert [m.step for m in ours] == [m.step for m in theirs]
        np.testing.assert_allclose([m.value for m in ours], [m.value for m in theirs], rtol=1e-5)
    assert "folds.csv" in {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    # each trial says how many trained with it, and so does its export (a retrain alone may round otherwise)
    assert [t.user_attrs.get("trials_together") for t in many] == [3, 3, 3, None]
    assert all("trials_together" not in t.user_attrs for t in one)
    assert cli("export", "together", "-o", "best.yaml", "--top", "3").exit_code == 0
    exported = yaml.safe_load(Path("best.yaml").read_text())["trials"]
    for entry in exported:
        assert entry["trials_together"] == many[entry["trial"]].user_attrs.get("trials_together", 1)
        assert "trials_together" not in entry["metrics"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_batch_on_cuda_trains_as_on_cpu(table):
    folds = fold_splits(table, 3, seed=0)
    cpu = TrialBatchedMLP(table.X, table.y, folds, _settings())
    gpu = TrialBatchedMLP(table.X, table.y, folds, _settings(), device="cuda")
    np.testing.assert_allclose(gpu.train(5), cpu.train(5), rtol=1e-3)
    gpu.keep([1, 2])
    cpu.keep([1, 2])
    for position in range(2):
        ours, theirs = (model.trial(position).held_out_scores(table.X, table.y) for model in (gpu, cpu))
        assert np.abs(ours - theirs).max() < 0.05


def test_a_configuration_the_batch_cannot_train_fails_its_own_trial_only(table, tmp_path):
    """One trial's unsupported setting is that trial's error, not the batch's; a width given as a
    plain number (as sklearn takes it) trains with the others."""
    from glasstune.objectives.context import TrialContext
    from glasstune.objectives.mlp.objective import CrossValidatedMLP

    configs = [{"hidden_layer_sizes": 8, "max_iter": 12}, {"hidden_layer_sizes": (8,), "activation": "tanh"},
               {"hidden_layer_sizes": (6, 6), "max_iter": 15}]
    objective = CrossValidatedMLP(lambda trial: dict(configs[trial.suggest_int("config", 0, 2)]), n_folds=3)
    contexts = [TrialContext(trial=optuna.trial.FixedTrial({"config": index}), data=table, seed=index,
                             workdir=tmp_path, checkpoint_dir=tmp_path / "ckpt") for index in range(3)]
    results = objective.run_batch(contexts)
    assert isinstance(results[1], ValueError) and "relu" in str(results[1])
    assert results[0] == objective(contexts[0]) and results[2] == objective(contexts[2])  # as alone
