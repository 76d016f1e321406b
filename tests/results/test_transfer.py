"""The transfer matrix end to end: tiny studies at three temperatures, then ``glasstune transfer``."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from glasstune.config import default_storage, default_tracking_uri

TEMPERATURES = (0.45, 1.0, 2.0)
STUDY_AT = '''
import optuna
from glasstune import Study
from glasstune.data.sources import SyntheticSoftness
from glasstune.objectives.mlp import CrossValidatedMLP


def space(trial):
    return {{"hidden_layer_sizes": (trial.suggest_int("width", 4, 10),), "max_iter": 12,
            "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-3, 1e-1, log=True)}}


STUDY = Study(name="mlp_{code}", data=SyntheticSoftness({temperature}, n_frames=6, n_per_class=12),
              objective=CrossValidatedMLP(space, n_folds=3), n_trials=2, pruner=optuna.pruners.NopPruner())
'''


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Three finished two-trial studies (mlp_045, mlp_100, mlp_200), run once for the module."""
    from glasstune.cli.options import quiet_libraries
    from glasstune.study.loader import load_study_file
    from glasstune.study.runner import RunOptions, run_study

    folder = tmp_path_factory.mktemp("transfer-studies")
    (folder / "studies").mkdir()
    quiet_libraries()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("GLASSTUNE_DATA_DIR", str(folder / "data-cache"))
        options = RunOptions(storage=default_storage(), tracking_uri=default_tracking_uri(), progress=False)
        for temperature in TEMPERATURES:
            code = f"{round(temperature * 100):03d}"
            path = folder / "studies" / f"mlp_{code}.py"
            path.write_text(STUDY_AT.format(code=code, temperature=temperature))
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
            assert matrix.notna().all().all()
    mean = pd.read_csv(out / "matrix_balanced_accuracy_mean.csv", index_col=0)
    assert ((mean >= 0) & (mean <= 1)).all().all()

    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 3 * 3 * 2 and set(scores["replicate"]) == {0, 1}
    # replicates differ (other split, other seed), so a std was measured
    assert pd.read_csv(out / "matrix_accuracy_std.csv", index_col=0).to_numpy().max() > 0

    splits = pd.read_csv(out / "splits.csv")
    for (_, _), group in splits.groupby(["replicate", "temperature"]):
        train = set(group.loc[group.role == "train", "frame"])
        heldout = set(group.loc[group.role == "heldout", "frame"])
        assert train and heldout and not train & heldout  # whole frames held out, never trained on
    assert (scores["n_train"] + scores["n_heldout"] == 6 * 24).all()

    baseline = pd.read_csv(out / "baseline_summary.csv", index_col=0)
    assert list(baseline.index) == list(TEMPERATURES)
    assert {"svm_balanced_accuracy_mean", "chance_accuracy_mean"} <= set(baseline.columns)
    text = (out / "observations.txt").read_text()
    assert "SYNTHETIC" in text and "lowest temperature T = 0.45" in text and "SVM" in text
    for name in ("heatmap.png", "transfer_accuracy.png", "transfer_balanced_accuracy.png"):
        assert (out / name).stat().st_size > 10_000
    assert len(list((out / "models").glob("*.pkl"))) == 3 * 2

    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name("transfer")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["glasstune.synthetic"] == "true"
    assert run.data.params["studies"] == "mlp_045,mlp_100,mlp_200" and run.data.params["seeds"] == "2"
    assert run.data.metrics["balanced_accuracy_T0.45_on_T0.45"] == pytest.approx(mean.loc[0.45, "0.45"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"heatmap.png", "transfer_accuracy.png", "observations.txt", "scores.csv", "models"} <= artifacts
    models = {a.path for a in client.list_artifacts(run.info.run_id, "models")}
    assert "models/trained_T0.45_rep0.pkl" in models


def test_transfer_with_an_exported_config_and_user_mistakes(cli, studies, tmp_path):
    assert cli("export", "mlp_045", "-o", "best.yaml").exit_code == 0
    result = cli("transfer", "mlp_045", "mlp_200", "--config", "best.yaml", "--out", "tr2")
    assert result.exit_code == 0, result.stderr
    assert pd.read_csv(tmp_path / "tr2" / "matrix_roc_auc_mean.csv", index_col=0).shape == (2, 2)
    params = MlflowClient(default_tracking_uri()).search_runs(
        [MlflowClient(default_tracking_uri()).get_experiment_by_name("transfer").experiment_id])[0].data.params
    assert params["params_T0.45"] == params["params_T2"] and params["config_source"] == "best.yaml"

    missing = cli("transfer", "nope_*", "mlp_045")
    assert missing.exit_code == 2 and "no study matches 'nope_*'" in missing.stderr
    single = cli("transfer", "mlp_045")
    assert single.exit_code == 2 and "two or more temperatures" in single.stderr
