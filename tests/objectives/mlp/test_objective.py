"""The cross-validated MLP objective, driven directly with a real Optuna trial."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from glasstune.data.sources import SyntheticSoftness
from glasstune.objectives.context import TrialContext
from glasstune.objectives.mlp.objective import CrossValidatedMLP, build_estimator, fold_splits
from tests.recording import RecordingSink


def space(trial):
    return {"hidden_layer_sizes": (trial.suggest_int("width", 6, 8),), "max_iter": 12,
            "solver": "adam", "learning_rate_init": 0.01}


@pytest.fixture
def table():
    return SyntheticSoftness(0.45, n_frames=6, n_per_class=12).load()


def _context(tmp_path, table, pruner=None):
    study = optuna.create_study(direction="maximize", pruner=pruner or optuna.pruners.NopPruner(),
                                sampler=optuna.samplers.RandomSampler(seed=0))  # same width every time
    sink = RecordingSink()
    ctx = TrialContext(trial=study.ask(), data=table, seed=7, workdir=tmp_path,
                       checkpoint_dir=tmp_path / "ckpt", sink=sink)
    return ctx, sink


def test_folds_never_split_a_frame(table):
    for train, test in fold_splits(table, 3, seed=0):
        assert not set(table.groups[train]) & set(table.groups[test])
        assert 0.3 < table.y[test].mean() < 0.7  # stratified: both classes in every fold


@pytest.mark.parametrize(("backend", "reports"), [("sklearn", [1, 2, 3]), ("torch", [3, 6, 9, 12])])
def test_objective_logs_curves_folds_and_memorisation_gap(tmp_path, table, backend, reports):
    ctx, sink = _context(tmp_path, table)
    value = CrossValidatedMLP(space, n_folds=3, backend=backend, chunk_epochs=3)(ctx)
    attrs = ctx.trial.user_attrs
    assert value == pytest.approx(attrs["cv_score"])
    assert attrs["gap"] == pytest.approx(attrs["train_score"] - attrs["cv_score"])
    assert [step for step, _ in sink.metrics["loss_fold1"]] == list(range(1, 13))  # one point per epoch
    assert [step for step, _ in sink.metrics["fold_balanced_accuracy"]] == [1, 2, 3]
    assert {"cv_balanced_accuracy", "cv_roc_auc", "memorisation_gap", "baseline_accuracy"} <= set(sink.metrics)
    assert sink.artifact_names == {"config.json", "folds.csv", "loss_curves.png"}
    assert [step for step, _ in sink.metrics["intermediate_value"]] == reports
    assert sink.tags["glasstune.mlp_backend"] == backend


@pytest.mark.parametrize("backend", ["sklearn", "torch"])
def test_long_loss_curves_are_thinned_for_the_tracking_store(tmp_path, table, backend, monkeypatch):
    (tmp_path / "full").mkdir()
    (tmp_path / "thin").mkdir()
    full_ctx, full = _context(tmp_path / "full", table)
    CrossValidatedMLP(space, n_folds=3, backend=backend, chunk_epochs=5)(full_ctx)
    monkeypatch.setattr("glasstune.objectives.mlp.objective.CURVE_POINTS", 5)
    thin_ctx, thin = _context(tmp_path / "thin", table)
    CrossValidatedMLP(space, n_folds=3, backend=backend, chunk_epochs=5)(thin_ctx)
    every_epoch = dict(full.metrics["loss_fold2"])
    kept = thin.metrics["loss_fold2"]
    assert [step for step, _ in kept] == [1, 3, 6, 9, 12]  # every 3rd epoch, the first and the last
    assert all(value == pytest.approx(every_epoch[step]) for step, value in kept)


def test_lab_semantics_run_every_epoch():
    estimator = build_estimator({"max_iter": 40, "hidden_layer_sizes": (5,)}, seed=0)
    mlp = estimator[-1]
    assert mlp.tol == 0 and mlp.n_iter_no_change == 40
    capped = build_estimator({"max_iter": 400}, seed=0, epoch_cap=10)[-1]
    assert capped.max_iter == 10 and capped.n_iter_no_change == 10


def test_pruner_stops_after_first_fold_with_a_reason(tmp_path, table):
    ctx, sink = _context(tmp_path, table, pruner=optuna.pruners.ThresholdPruner(lower=0.99))
    with pytest.raises(optuna.TrialPruned, match="pruned at fold 1: held-out"):
        CrossValidatedMLP(space, n_folds=3, backend="sklearn")(ctx)
    assert ctx.trial.user_attrs["folds_done"] == 1
    assert "prune_reason" in ctx.trial.user_attrs


def test_torch_backend_is_pruned_after_its_first_chunk_of_epochs(tmp_path, table):
    ctx, sink = _context(tmp_path, table, pruner=optuna.pruners.ThresholdPruner(lower=0.99))
    with pytest.raises(optuna.TrialPruned, match="pruned at epoch 4: held-out"):
        CrossValidatedMLP(space, n_folds=3, backend="torch", chunk_epochs=4)(ctx)
    assert ctx.trial.user_attrs["epochs_done"] == 4
    assert [step for step, _ in sink.metrics["loss_fold3"]] == [1, 2, 3, 4]


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown MLP backend"):
        CrossValidatedMLP(space, backend="jax")


def test_same_seed_same_score_and_other_seed_differs(tmp_path, table):
    scores = []
    for seed in (7, 7, 8):
        ctx, _ = _context(tmp_path, table)
        ctx.seed = seed
        scores.append(CrossValidatedMLP(space, n_folds=3, backend="sklearn")(ctx))
    assert scores[0] == scores[1]
    model_a = build_estimator({"max_iter": 5}, seed=7).fit(table.X, table.y)
    model_b = build_estimator({"max_iter": 5}, seed=8).fit(table.X, table.y)
    assert not np.allclose(model_a[-1].coefs_[0], model_b[-1].coefs_[0])


def test_diverging_training_fails_the_trial(tmp_path, table):
    def explosive(trial):
        return {"hidden_layer_sizes": (8,), "max_iter": 20, "solver": "sgd", "learning_rate_init": 1e6,
                "momentum": 0.99}

    ctx, _ = _context(tmp_path, table)
    with pytest.raises((FloatingPointError, ValueError)):
        CrossValidatedMLP(explosive, n_folds=3, backend="sklearn")(ctx)
    ctx, _ = _context(tmp_path, table)
    with pytest.raises(FloatingPointError, match="NaN"):
        CrossValidatedMLP(explosive, n_folds=3, backend="torch")(ctx)


def test_a_sink_that_keeps_nothing_gets_no_files_drawn_or_written(tmp_path, table):
    study = optuna.create_study(direction="maximize")
    workdir = tmp_path / "trial"
    workdir.mkdir()
    ctx = TrialContext(trial=study.ask(), data=table, seed=7, workdir=workdir, checkpoint_dir=workdir / "ckpt")
    value = CrossValidatedMLP(space, n_folds=3, backend="torch")(ctx)
    assert 0 <= value <= 1 and ctx.trial.user_attrs["cv_score"] == pytest.approx(value)
    assert list(workdir.iterdir()) == []  # no figure, table or config written for nobody


def test_trials_of_any_length_report_at_the_same_epochs():
    from glasstune.objectives.mlp.objective import report_epochs

    assert report_epochs(3162) == [10, 18, 32, 56, 100, 178, 316, 562, 1000, 1778, 3162]
    assert report_epochs(1000)[:-1] == report_epochs(3162)[:8] and report_epochs(1000)[-1] == 1000
    assert report_epochs(316) == report_epochs(3162)[:7]  # the lab's epoch counts are on the ladder
    assert report_epochs(400) == [10, 18, 32, 56, 100, 178, 316, 400]
    assert report_epochs(7) == [7]
    assert report_epochs(12, chunk=5) == [5, 10, 12]


def test_median_pruner_stops_a_hopeless_trial_whatever_its_length(tmp_path, table):
    """Optuna's median pruner compares values at exactly the same step: trials with different
    max_iter must share report steps, or nothing is ever pruned."""
    def lengths(trial):
        return {"hidden_layer_sizes": (8,), "solver": "adam", "alpha": 1e-4,
                "max_iter": trial.suggest_int("max_iter", 20, 60),
                "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-7, 0.1, log=True)}

    objective = CrossValidatedMLP(lengths, n_folds=3, backend="torch")
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    for max_iter, rate in [(60, 0.03), (45, 0.03), (33, 1e-7)]:  # two that learn, then one that cannot
        study.enqueue_trial({"max_iter": max_iter, "learning_rate_init": rate})

    def run(trial):
        ctx = TrialContext(trial=trial, data=table, seed=trial.number, workdir=tmp_path, checkpoint_dir=tmp_path)
        return objective(ctx)

    study.optimize(run, n_trials=3)
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 2 + [optuna.trial.TrialState.PRUNED]
    assert study.trials[2].last_step == 10  # stopped at its first report, 10 of its 33 epochs


@pytest.mark.parametrize("backend", ["torch", "sklearn"])
def test_the_final_model_is_trained_on_every_row_with_the_trials_backend(backend):
    """fit_final gives the model the trial's backend trains, applied by column name; three string
    classes come back as their own values."""
    import pandas as pd

    from glasstune.data.table import FeatureTable

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(150, 4)), columns=["a", "b", "c", "d"])
    frame["kind"] = np.array(["low", "mid", "high"])[np.digitize(frame["a"], [-0.4, 0.4])]
    table = FeatureTable(frame, {"name": "three"}, features=["a", "b", "c", "d"], label="kind")
    objective = CrossValidatedMLP(space, n_folds=3, backend=backend)
    config = {"hidden_layer_sizes": (16,), "max_iter": 60, "learning_rate_init": 0.02}
    final = objective.fit_final(config, table, seed=3)
    assert final.backend == backend and final.classes == ("high", "low", "mid")
    predicted = final.predict_frame(frame.iloc[:, ::-1])  # columns found by name, not by position
    assert list(predicted.columns) == ["p_high", "p_low", "p_mid", "predicted"]
    np.testing.assert_allclose(predicted.iloc[:, :3].sum(axis=1), 1.0, rtol=1e-6)
    assert (predicted["predicted"] == frame["kind"]).mean() > 0.8
    again = objective.fit_final(config, table, seed=3)
    np.testing.assert_array_equal(again.predict_output(table.X), final.predict_output(table.X))  # seeded
