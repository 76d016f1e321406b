"""A lab's own table in, the scored model out, end to end through the CLI.

One project is made per module (a CSV with its own column names, a study of it and its smoke study,
both exported) and copied into each test's folder, so every test has stores of its own.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from glasstune.config import default_storage, default_tracking_uri

OWN_STUDY = '''
from glasstune import Study
from glasstune.data import table_file
from glasstune.objectives.mlp import CrossValidatedMLP


def space(trial):
    return {"hidden_layer_sizes": (trial.suggest_int("width", 4, 8),), "max_iter": 20, "learning_rate_init": 0.02}


STUDY = Study(name="own", data=table_file("own.csv", features="f*", label="label"),
              objective=CrossValidatedMLP(space, n_folds=3), n_trials=2, smoke_trials=1)
'''


def own_table(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Features f0..f99 and labels "yes"/"no" that the first 30 features predict; no temperature, no
    frame, and a column glasstune has no use for."""
    rng = np.random.default_rng(seed)
    yes = rng.random(rows) < 0.5
    X = rng.normal(size=(rows, 100))
    X[:, :30] += np.where(yes, 0.4, -0.4)[:, None]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(100)])
    frame["label"] = np.where(yes, "yes", "no")
    frame["operator"] = "jd"
    return frame


def _main(*args: str) -> int:
    from glasstune import cli as cli_module

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["glasstune", *args])
        try:
            cli_module.main()
        except SystemExit as exit_:
            return int(exit_.code or 0)
    return 0


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("GLASSTUNE_DATA_DIR", str(folder / "data-cache"))
        for variable in ("GLASSTUNE_STORAGE", "MLFLOW_TRACKING_URI", "GLASSTUNE_SEED"):
            patch.delenv(variable, raising=False)
        own_table().to_csv("own.csv", index=False)
        (folder / "studies").mkdir()
        (folder / "studies" / "own.py").write_text(textwrap.dedent(OWN_STUDY))
        for args in (["run", "studies/own.py", "--no-progress"], ["run", "studies/own.py", "--smoke", "--no-progress"],
                     ["export", "own", "-o", "own.yaml"], ["export", "own-smoke", "-o", "smoke.yaml"]):
            assert _main(*args) == 0, args
    return folder


@pytest.fixture
def project(template, tmp_path):
    for part in template.iterdir():
        target = tmp_path / part.name
        (shutil.copytree if part.is_dir() else shutil.copy)(part, target)
    return tmp_path


def _study(name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=default_storage())


def _one_line_error(result, expected: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr


def test_a_labs_csv_runs_with_its_own_column_names(project, cli):
    study = _study("own")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    provenance = study.user_attrs["glasstune.provenance"]
    assert provenance["label_mapping"] == {"no": 0, "yes": 1} and provenance["task"] == "binary"
    assert provenance["synthetic"] is False and provenance["source"] == "own.csv"
    assert study.user_attrs["glasstune.data"]["features"] == "f*"
    assert study.best_value > 0.7  # f0 and f1 were read as features: well above chance
    checked = cli("data", "check", "own.csv", "--features", "f*")
    assert checked.exit_code == 0, checked.stderr
    text = " ".join(checked.stdout.split())
    assert "features (100): f0, f1, f2 ... f99" in text and "not read: operator" in text
    assert "binary (classes no, yes)" in text


def test_smoke_runs_on_a_stratified_sample_of_the_labs_own_table(project):
    smoke = _study("own-smoke")
    provenance = smoke.user_attrs["glasstune.provenance"]
    assert provenance["source"] == "own.csv" and provenance["synthetic"] is False
    assert provenance["sample"]["of"] == 300 and 150 <= provenance["sample"]["rows"] <= 250
    assert smoke.user_attrs["glasstune.data"]["name"] == "own.csv/sample200"
    assert smoke.user_attrs["glasstune.objective_settings"]["n_folds"] == 3


def test_a_smoke_export_retrains_on_the_smoke_data_and_reproduces_its_score(project, cli):
    result = cli("retrain", "smoke.yaml", "--out", "smoke-model", "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "reproduced exactly" in result.stdout and "(smoke study)" in result.stdout
    retrained = json.loads((project / "smoke-model" / "retrain.json").read_text())
    exported = yaml.safe_load((project / "smoke.yaml").read_text())
    assert retrained["value"] == exported["trials"][0]["value"] == _study("own-smoke").best_value
    assert retrained["fingerprint"] == exported["data"]["fingerprint"]
    assert retrained["rows"] == exported["data"]["provenance"]["sample"]["rows"]  # the sample, not all 300 rows


def test_the_retrained_model_predicts_as_glasstune_predict_and_registers(project, cli):
    result = cli("retrain", "own.yaml", "--out", "out", "--register", "own-model", "--no-progress")
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "reproduced exactly" in text
    assert "final model (torch, trained on all 300 rows): training score balanced_accuracy" in text
    assert "registered as version 1" in text
    retrained = json.loads((project / "out" / "retrain.json").read_text())
    assert retrained["train_scores"]["train_balanced_accuracy"] >= 0.7

    new = own_table(rows=40, seed=5).drop(columns="label")
    new.to_csv("new.csv", index=False)
    predicted = cli("predict", "out/model", "new.csv", "-o", "pred.parquet")
    assert predicted.exit_code == 0, predicted.stderr
    written = pd.read_parquet(project / "pred.parquet")
    assert list(written.columns) == ["operator", "probability", "predicted"] and len(written) == 40
    assert set(written["predicted"]) <= {"yes", "no"}
    for location in ("out/model", "models:/own-model/1"):
        mlflow.set_tracking_uri(default_tracking_uri())
        loaded = mlflow.pyfunc.load_model(location)
        np.testing.assert_array_equal(loaded.predict(new)["probability"].to_numpy(), written["probability"].to_numpy())
    run = MlflowClient(default_tracking_uri()).get_run(retrained["mlflow"]["run_id"])
    assert run.data.tags["glasstune.role"] == "model" and run.data.metrics["cv_score"] == retrained["value"]

    renamed = new.rename(columns={f"f{i}": f"x{i}" for i in range(100)})
    renamed.to_parquet(project / "renamed.parquet")
    again = cli("predict", "out/model", "renamed.parquet", "--features", "x0:x99", "-o", "again.parquet")
    assert again.exit_code == 0, again.stderr
    np.testing.assert_array_equal(pd.read_parquet(project / "again.parquet")["probability"], written["probability"])
    _one_line_error(cli("predict", "out/model", "renamed.parquet", "--features", "x0:x9"),
                    "--features names 10 column(s); the model was trained on 100 (f0 ... f99)")
    _one_line_error(cli("predict", "out", "new.csv"), "out: not a saved model (no MLmodel file)")
    _one_line_error(cli("predict", "out/model", "new.csv", "-o", "p.xlsx"), "write predictions to a .parquet or .csv")


def test_retrain_refuses_a_changed_study_file(project, cli):
    study_file = project / "studies" / "own.py"
    study_file.write_text(study_file.read_text().replace('"max_iter": 20', '"max_iter": 30'))
    _one_line_error(cli("retrain", "own.yaml", "--out", "out"), "studies/own.py has changed since the export")
    assert not (project / "out").exists()  # refused before anything was trained


def test_retrain_refuses_other_data_unless_asked(project, cli):
    table = pd.read_csv(project / "own.csv")
    table.loc[3, "f7"] += 1.0
    table.to_csv(project / "own.csv", index=False)
    _one_line_error(cli("retrain", "own.yaml", "--out", "out"), "these rows are not the ones study 'own' was tuned on")
    assert not (project / "out").exists()
    anyway = cli("retrain", "own.yaml", "--out", "out", "--allow-other-data", "--no-progress")
    assert anyway.exit_code == 0, anyway.stderr
    assert "on other data than the study's" in " ".join(anyway.stdout.split())


def test_retrain_never_overwrites_a_folder_that_is_not_a_model(project, cli):
    (project / "out" / "model").mkdir(parents=True)
    (project / "out" / "model" / "notes.txt").write_text("mine")
    _one_line_error(cli("retrain", "own.yaml", "--out", "out"), "out/model: exists and is not a saved model")
    assert (project / "out" / "model" / "notes.txt").read_text() == "mine"


def _drop_fingerprint(document: dict) -> None:
    del document["data"]["fingerprint"]


def _bad_seed(document: dict) -> None:
    document["trials"][0]["seed"] = "seven"


def _params_as_list(document: dict) -> None:
    document["trials"][0]["params"] = [1, 2]


def _objective_as_text(document: dict) -> None:
    document["objective"] = "CrossValidatedMLP"


@pytest.mark.parametrize(("edit", "expected"), [
    (_drop_fingerprint, "key 'data.fingerprint' is missing"),
    (_bad_seed, "'trials[0].seed' should be a whole number, got 'seven'"),
    (_params_as_list, "'trials[0].params' should be a mapping of parameters"),
    (_objective_as_text, "'objective' should be a mapping"),
])
def test_a_hand_edited_export_is_one_line_before_any_work(project, cli, edit, expected):
    document = yaml.safe_load((project / "own.yaml").read_text())
    edit(document)
    Path(project / "edited.yaml").write_text(yaml.safe_dump(document))
    _one_line_error(cli("retrain", "edited.yaml", "--out", "out"), expected)
    assert not (project / "out").exists()
