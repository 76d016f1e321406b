"""The transfer matrix end to end: tiny studies at three temperatures, then ``glasstune transfer``."""

from __future__ import annotations

import shutil

import numpy as np
import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from glasstune.config import default_storage, default_tracking_uri

TEMPERATURES = (0.45, 1.0, 2.0)
STUDY_AT = '''
import optuna
from glasstune import Study
from glasstune.data import softness
from glasstune.objectives.mlp import CrossValidatedMLP


def space(trial):
    return {{"hidden_layer_sizes": (trial.suggest_int("width", 4, 10),), "max_iter": 12,
            "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-3, 1e-1, log=True)}}


STUDY = Study(name="{name}", data={data},
              objective=CrossValidatedMLP(space, n_folds=3), n_trials=2, pruner=optuna.pruners.NopPruner())
'''
SYNTHETIC = 'softness({temperature}, source="synthetic", n_frames=8, n_per_class=12)'
USER_TABLE = 'table_file("{path}")'


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Finished two-trial studies: mlp_045, mlp_100, mlp_200 on the synthetic sets (last quarter of
    the frames held out), and own_045, own_200 on a user's tables (nothing held out)."""
    from glasstune.cli.options import quiet_libraries
    from glasstune.data import softness
    from glasstune.study.loader import load_study_file
    from glasstune.study.runner import RunOptions, run_study

    folder = tmp_path_factory.mktemp("transfer-studies")
    (folder / "studies").mkdir()
    quiet_libraries()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("GLASSTUNE_DATA_DIR", str(folder / "data-cache"))
        options = RunOptions(storage=default_storage(), tracking_uri=default_tracking_uri(), progress=False)
        studies = {f"mlp_{round(t * 100):03d}": SYNTHETIC.format(temperature=t) for t in TEMPERATURES}
        for temperature in (0.45, 2.0):  # a lab's own tables: no sidecar, so not synthetic
            table = softness(temperature, source="synthetic", n_frames=8, n_per_class=12, heldout=0).load()
            path = folder / f"own_{round(temperature * 100):03d}.csv"
            table.frame.to_csv(path, index=False)
            studies[f"own_{round(temperature * 100):03d}"] = USER_TABLE.format(path=path)
        for name, data in studies.items():
            path = folder / "studies" / f"{name}.py"
            header = "from glasstune.data import table_file\n" if "table_file" in data else ""
            path.write_text(header + STUDY_AT.format(name=name, data=data))
            assert run_study(load_study_file(path), options).finished == 2
    return folder


@pytest.fixture
def studies(built, tmp_path):
    """This test's own copy of the stores (the study files stay where the studies recorded them)."""
    shutil.copytree(built / "mlruns", tmp_path / "mlruns")
    return [f"mlp_{round(t * 100):03d}" for t in TEMPERATURES]


def test_transfer_matrix_outputs_and_run(cli, studies, tmp_path):
    result = cli("transfer", "mlp_*", "--seeds", "2", "--out", "tr")
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "tr"
    assert str(out.name) in result.stdout

    for metric in ("balanced_accuracy", "accuracy", "roc_auc"):
        for statistic in ("mean", "std"):
            matrix = pd.read_csv(out / f"matrix_{metric}_{statistic}.csv", index_col=0)
            assert matrix.shape == (3, 3)
            assert list(matrix.index) == list(TEMPERATURES)
            assert [float(c) for c in matrix.columns] == list(TEMPERATURES)
    mean = pd.read_csv(out / "matrix_balanced_accuracy_mean.csv", index_col=0)
    assert ((mean >= 0) & (mean <= 1)).all().all()

    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 3 * 3 * 2 and set(scores["replicate"]) == {0, 1}
    networks = pd.read_csv(out / "networks.csv").set_index("trained_at")
    assert list(networks["study"]) == studies
    assert list(networks["data"]) == [f"ka-softness-synthetic/T{t:g}" for t in TEMPERATURES]
    assert set(networks["backend"]) == {"torch"}  # the studies' own backend, not sklearn's MLPClassifier
    assert networks["config_from"].str.startswith("best trial").all()
    assert not networks["selection_saw_heldout"].any()

    baseline = pd.read_csv(out / "baseline.csv", index_col=0)
    assert list(baseline.index) == list(TEMPERATURES)
    assert {"svm_balanced_accuracy", "chance_accuracy"} <= set(baseline.columns)
    text = (out / "observations.txt").read_text()
    assert "SYNTHETIC" in text and "lowest temperature T = 0.45" in text
    assert "tuned MLP" in text and "linear SVM" in text and "best trial" in text
    for name in ("heatmap.png", "transfer_accuracy.png", "transfer_balanced_accuracy.png"):
        assert (out / name).stat().st_size > 10_000
    assert len(list((out / "models").glob("*.pkl"))) == 3

    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name("transfer")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["glasstune.synthetic"] == "true"
    assert run.data.params["studies"] == "mlp_045,mlp_100,mlp_200" and run.data.params["seeds"] == "2"
    assert run.data.params["data_T0.45"] == "ka-softness-synthetic/T0.45"
    assert run.data.metrics["balanced_accuracy_T0.45_on_T0.45"] == pytest.approx(mean.loc[0.45, "0.45"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"heatmap.png", "transfer_accuracy.png", "observations.txt", "networks.csv", "models"} <= artifacts


def test_transfer_scores_only_frames_the_studies_never_tuned_on(cli, studies, tmp_path):
    from glasstune.data import softness

    assert cli("transfer", "mlp_*", "--out", "tr").exit_code == 0
    splits = pd.read_csv(tmp_path / "tr" / "splits.csv")
    for name, temperature in zip(studies, TEMPERATURES, strict=True):
        study = optuna.load_study(study_name=name, storage=default_storage())
        recorded = study.user_attrs["glasstune.provenance"]["heldout"]["temperatures"][f"{temperature:g}"]
        here = splits[splits.temperature == temperature]
        heldout = set(here.loc[here.role == "heldout", "frame"])
        assert heldout == set(recorded["heldout_frames"]) and len(heldout) == 2  # the last quarter of 8
        assert set(here.loc[here.role == "tuning", "frame"]) == set(recorded["tuning_frames"])
        assert not heldout & set(recorded["tuning_frames"])
        # the study tuned on exactly the tuning rows: its recorded fingerprint is theirs
        source = softness(temperature, source="synthetic", n_frames=8, n_per_class=12)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GLASSTUNE_DATA_DIR", str(tmp_path.parent / "data-cache"))
            tuning = source.load()
        assert study.user_attrs["glasstune.data_fingerprint"] == tuning.fingerprint()
        assert not set(tuning.frame["frame"]) & heldout


def test_smoke_studies_are_left_out_unless_asked(cli, built, studies):
    assert cli("run", built / "studies" / "mlp_045.py", "--smoke").exit_code == 0  # makes mlp_045-smoke
    result = cli("transfer", "mlp_0*", "mlp_200", "--out", "tr")
    assert result.exit_code == 0, result.stderr
    assert "Skipped smoke studies: mlp_045-smoke" in " ".join(result.stdout.split())
    named = cli("transfer", "mlp_045-smoke", "mlp_200")
    assert named.exit_code == 2 and "--include-smoke" in named.stderr


def test_synthetic_and_other_data_do_not_mix_without_a_flag(cli, studies, tmp_path):
    mixed = cli("transfer", "mlp_045", "own_200")
    assert mixed.exit_code == 2 and "synthetic" in mixed.stderr and "--allow-mixed" in mixed.stderr
    assert cli("export", "mlp_045", "-o", "best.yaml").exit_code == 0
    tuned_on_synthetic = cli("transfer", "own_*", "--config", "best.yaml")
    assert tuned_on_synthetic.exit_code == 2 and "tuned on synthetic data" in tuned_on_synthetic.stderr
    allowed = cli("transfer", "own_*", "--config", "best.yaml", "--allow-mixed", "--out", "tr")
    assert allowed.exit_code == 0, allowed.stderr
    networks = pd.read_csv(tmp_path / "tr" / "networks.csv")
    assert networks["config_synthetic"].all() and (networks["config_from"] == "best.yaml").all()
    # the user's tables held nothing out: the frames are split here, and the text says the selection saw them
    assert networks["selection_saw_heldout"].all()
    text = (tmp_path / "tr" / "observations.txt").read_text()
    assert "configuration tuned on synthetic data" in text and "chose the configuration on every frame" in text


def test_collapsed_replicates_are_flagged_and_left_out_of_the_means():
    from glasstune.data import softness
    from glasstune.results.observations import observations
    from glasstune.results.transfer import Network, transfer_matrix

    networks = []
    for temperature, config in ((0.45, {"hidden_layer_sizes": (8,), "max_iter": 20}),
                                (2.0, {"hidden_layer_sizes": (2,), "alpha": 1e3, "learning_rate_init": 0.1,
                                       "max_iter": 20})):  # L2 so strong the network may forget the features
        source = softness(temperature, source="synthetic", n_frames=8, n_per_class=12)
        networks.append(Network(f"mlp_T{temperature:g}", temperature, source.load(), source.held_out(), config, 0))
    result = transfer_matrix(networks, seeds=3)
    collapsed = result.collapsed()
    assert collapsed[0.45] == 0 and 1 <= collapsed[2.0] < 3  # the premise: some, not all, collapsed
    scores = result.scores
    kept = scores[(scores.trained_at == 2.0) & ~scores.collapsed]
    for evaluated_at, rows in kept.groupby("evaluated_at"):
        assert result.matrix("accuracy").loc[2.0, evaluated_at] == pytest.approx(rows["accuracy"].mean())
    assert np.isfinite(result.matrix("accuracy").to_numpy()).all()
    text = observations(result)
    assert f"{collapsed[2.0]} of 3 replicate(s) collapsed" in text and "left out of the means" in text
