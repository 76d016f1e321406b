"""Every kind of label and source through ``glasstune run``: K classes from a data source written in
Python, a continuous target, an NPY pair, a partitioned Parquet folder; and the data problems that
must stop a study before its first trial, in one line."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from glasstune.config import default_storage, default_tracking_uri

HEADER = '''
from glasstune import Study
from glasstune.data import FeatureTable, table_file
from glasstune.objectives.mlp import CrossValidatedMLP


def space(trial):
    return {"hidden_layer_sizes": (trial.suggest_int("width", 16, 24),), "max_iter": 30, "learning_rate_init": 0.01}

'''

DIGITS = HEADER + '''

class Digits:
    """A data source written in Python: scikit-learn's 8x8 digits, ten classes."""

    name = "sklearn-digits"

    def load(self):
        from sklearn.datasets import load_digits

        digits = load_digits(as_frame=True)
        return FeatureTable(digits.frame, {"name": self.name, "source": "sklearn.datasets.load_digits"},
                            features="pixel_*", label="target")


STUDY = Study(name="digits", data=Digits(), objective=CrossValidatedMLP(space, n_folds=3), n_trials=1)
'''


def _study(name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=default_storage())


def _run(cli, write_study, name: str, body: str, *extra: str):
    result = cli("run", write_study(name=name, body=body), "--no-progress", *extra)
    assert result.exit_code == 0, result.stderr
    return _study(name)


def _one_line_error(result, expected: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_python_source_with_ten_classes_is_tuned_as_ten_classes(cli, write_study):
    """sklearn's digits once ran to "value 0.1" (chance) without a word: now they are ten classes."""
    study = _run(cli, write_study, "digits", DIGITS)
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE" and trial.value > 0.8  # chance is 0.1
    assert trial.user_attrs["cv_auc"] > 0.95 and trial.user_attrs["metric"] == "cv_balanced_accuracy"
    provenance = study.user_attrs["glasstune.provenance"]
    assert provenance["task"] == "multiclass" and provenance["classes"] == list(range(10))
    assert "label_mapping" not in provenance  # digits 0..9 are their own codes


REGRESSION = HEADER + '''
STUDY = Study(name="propensity", data=table_file("propensity.parquet", features="g*", label="phop", group="frame"),
              objective=CrossValidatedMLP(space, n_folds=3, backend="{backend}"), n_trials=1)
'''


@pytest.mark.parametrize("backend", ["torch", "sklearn"])
def test_a_continuous_target_is_a_regression_scored_by_pearson_r(cli, write_study, tmp_path, backend):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 8))
    frame = pd.DataFrame(X, columns=[f"g{i}" for i in range(8)])
    frame["phop"] = 1.0 + X[:, 0] - 0.5 * X[:, 1] + 0.2 * rng.normal(size=240)
    frame["frame"] = np.arange(240) // 24
    frame.to_parquet(tmp_path / "propensity.parquet")
    study = _run(cli, write_study, "propensity", REGRESSION.replace("{backend}", backend))
    trial = study.trials[0]
    attrs = trial.user_attrs
    assert study.user_attrs["glasstune.provenance"]["task"] == "regression"
    assert attrs["metric"] == "cv_pearson_r" and attrs["cv_score"] == trial.value > 0.6
    assert attrs["gap"] == pytest.approx(attrs["train_score"] - attrs["cv_score"])
    run = MlflowClient(default_tracking_uri()).get_run(attrs["mlflow_run_id"])
    assert run.data.metrics["cv_pearson_r"] == pytest.approx(trial.value)
    assert run.data.metrics["train_pearson_r"] == pytest.approx(attrs["train_score"])
    assert {"cv_r2", "baseline_r2", "memorisation_gap"} <= set(run.data.metrics)

    assert cli("export", "propensity", "-o", "best.yaml").exit_code == 0
    assert yaml.safe_load((tmp_path / "best.yaml").read_text())["metric"] == "cv_pearson_r"
    retrained = cli("retrain", "best.yaml", "--out", "out", "--no-progress")
    assert retrained.exit_code == 0, retrained.stderr
    text = " ".join(retrained.stdout.split())
    assert "cv_pearson_r" in text and f"final model ({backend}" in text and "pearson_r" in text
    result = json.loads((tmp_path / "out" / "retrain.json").read_text())
    assert result["value"] == trial.value and result["backend"] == backend
    predicted = cli("predict", "out/model", "propensity.parquet", "-o", "values.csv")
    assert predicted.exit_code == 0, predicted.stderr
    values = pd.read_csv(tmp_path / "values.csv")
    assert list(values.columns) == ["phop", "frame", "prediction"]
    assert np.corrcoef(values["phop"], values["prediction"])[0, 1] > 0.8


NPY = HEADER + '''
STUDY = Study(name="pair", data=table_file("X.npy", label="y.npy"), objective=CrossValidatedMLP(space, n_folds=3),
              n_trials=1)
'''


def test_an_npy_pair_is_a_table(cli, write_study, tmp_path):
    rng = np.random.default_rng(1)
    y = rng.random(150) < 0.4
    X = rng.normal(size=(150, 12)) + y[:, None] * 0.8
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    study = _run(cli, write_study, "pair", NPY)
    assert study.trials[0].value > 0.7
    assert study.user_attrs["glasstune.provenance"]["classes"] == [False, True]
    checked = cli("data", "check", "X.npy", "--label", "y.npy")
    assert "features (12): f0, f1, f2 ... f11" in " ".join(checked.stdout.split())


PARTITIONED = HEADER + '''
STUDY = Study(name="parts", data=table_file("parts", temperature=0.6), objective=CrossValidatedMLP(space, n_folds=3),
              n_trials=1)
'''


def test_a_partitioned_parquet_folder_is_one_table(cli, write_study, tmp_path):
    from glasstune.data.synthetic import make_softness_table

    frame, _ = make_softness_table((0.6, 1.0), n_frames=4, n_per_class=10)
    frame.to_parquet(tmp_path / "parts", partition_cols=["temperature"])
    study = _run(cli, write_study, "parts", PARTITIONED)
    assert study.user_attrs["glasstune.provenance"]["temperature"] == 0.6
    checked = cli("data", "check", "parts")
    assert checked.exit_code == 0 and "0.6, 1" in checked.stdout


def _write(path, frame):
    frame.to_parquet(path) if path.suffix == ".parquet" else frame.to_csv(path, index=False)


def _table(rows=60, features=4, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, features)), columns=[f"f{i}" for i in range(features)])
    frame["label"] = np.arange(rows) % 2
    return frame


def _overflow(tmp_path):
    frame = _table()
    frame.loc[7, "f2"] = 1e39  # finite in float64, inf in float32
    _write(tmp_path / "t.parquet", frame)


def _many_integers(tmp_path):
    frame = _table()
    frame["label"] = np.arange(60) % 30
    _write(tmp_path / "t.parquet", frame)


def _rare_class(tmp_path):
    frame = _table()
    frame["label"] = "a"
    frame.loc[[1, 2, 3, 4], "label"] = "b"
    frame.loc[5, "label"] = "c"
    _write(tmp_path / "t.parquet", frame)


def _text_feature(tmp_path):
    frame = _table()
    frame["f1"] = "high"
    _write(tmp_path / "t.parquet", frame)


def _hdf5(tmp_path):
    (tmp_path / "t.h5").write_bytes(b"\x89HDF\r\n")


def _npy_without_labels(tmp_path):
    np.save(tmp_path / "X.npy", np.zeros((10, 3)))


STUDY_OF = HEADER + '''
STUDY = Study(name="bad", data=table_file("{file}", features="f*"), objective=CrossValidatedMLP(space, n_folds=3),
              n_trials=1)
'''

CASES = [
    (_overflow, "t.parquet", "column 'f2' has values up to 1e+39, beyond float32's 3.4e+38"),
    (_many_integers, "t.parquet", "label column 'label' has 30 distinct whole-number values, too many"),
    (_rare_class, "t.parquet", "only 1 row(s) of the rarer class (label 'c')"),
    (_text_feature, "t.parquet", "feature column 'f1' is not numeric"),
    (_hdf5, "t.h5", "HDF5 is not read"),
    (_npy_without_labels, "X.npy", "an NPY pair needs its labels file"),
]


@pytest.mark.parametrize(("make", "file", "expected"), CASES, ids=[c[0].__name__.strip("_") for c in CASES])
def test_bad_data_stops_the_study_before_its_first_trial_in_one_line(cli, write_study, tmp_path, make, file,
                                                                       expected):
    make(tmp_path)
    result = cli("run", write_study(name="bad", body=STUDY_OF.replace("{file}", file)), "--no-progress")
    _one_line_error(result, expected)
    storage = tmp_path / "mlruns" / "optuna.db"
    assert not storage.exists() or "bad" not in optuna.get_all_study_names(default_storage())


def test_a_damaged_cached_data_set_names_the_file_and_says_to_delete_it(cli, write_study, tmp_path):
    path = write_study(n_trials=1)
    assert cli("run", path, "--no-progress").exit_code == 0
    (cached,) = (tmp_path / "data-cache" / "synthetic").glob("*.parquet")
    cached.write_bytes(cached.read_bytes()[:200])
    result = cli("run", path, "--no-progress", "--n-trials", "2")
    _one_line_error(result, f"{cached}: cannot be read as parquet")
    assert "delete it and it is made again on next use" in result.stderr
    cached.unlink()
    assert cli("run", path, "--no-progress", "--n-trials", "2").exit_code == 0  # made again, same rows
