"""Bad input and unusable stores: one line that says what is wrong and how to fix it, exit code 2,
no traceback, and nothing already recorded is changed (trials, study attributes, MLflow runs)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from glasstune.config import default_tracking_uri
from tests.conftest import TINY_STUDY
from tests.recorded_study import copy_recorded_study, make_recorded_study, snapshot


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_recorded_study(tmp_path_factory.mktemp("recorded"))


@pytest.fixture
def recorded(template, tmp_path):
    """A study with two finished trials that no bad command may disturb."""
    copy_recorded_study(template, tmp_path)
    return "tiny"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _block_artifacts(tmp_path, monkeypatch):
    (tmp_path / "blocked").mkdir()
    (tmp_path / "blocked" / "artifacts").write_text("a file where the artifact folder should be\n")


def _delete_experiment(tmp_path, monkeypatch):
    client = MlflowClient(default_tracking_uri())
    client.delete_experiment(client.get_experiment_by_name("tiny").experiment_id)


def _bad_heartbeat(tmp_path, monkeypatch):
    monkeypatch.setenv("GLASSTUNE_HEARTBEAT_SECONDS", "soon")


MORE = ["--n-trials", "3"]  # the recorded study is finished: ask for work, so the stores are really used

CASES = [
    # study files and data
    ("missing study file", lambda p: ["run", "studies/absent.py"], "no such study file"),
    ("not python", lambda p: ["run", p["notpy"]], "a study file is a Python file"),
    ("syntax error", lambda p: ["run", p["syntax"]], ":3: syntax error"),
    ("no STUDY", lambda p: ["run", p["nostudy"]], "defines no study"),
    ("import error", lambda p: ["run", p["importerr"]], "fails while loading: ModuleNotFoundError"),
    ("bad n_trials", lambda p: ["run", p["badtrials"]], "n_trials must be a positive whole number"),
    ("bad data", lambda p: ["run", p["baddata"]], "no such data file"),
    ("too few rows for k folds", lambda p: ["run", p["fewrows"]], "row(s) of class 0 for 3-fold"),
    ("unknown study", lambda p: ["trials", "nope"], "no study named 'nope'"),
    ("unwritable export", lambda p: ["export", "tiny", "-o", "/proc/best.yaml"], "choose another path"),
    ("export folder missing", lambda p: ["export", "tiny", "-o", "no/such/dir/b.yaml"], "does not exist"),
    ("export suffix", lambda p: ["export", "tiny", "-o", "best.txt"], "export to a .yaml"),
    ("bad export file", lambda p: ["retrain", p["notpy"]], "not a glasstune export"),
    # Optuna storages
    ("bad storage", lambda p: ["trials", "tiny", "--storage", "nosuchdb://x"], "cannot be opened"),
    ("storage not a URL", lambda p: ["run", p["tiny"], "--storage", "optuna.db"], "is not a URL"),
    ("unknown dialect", lambda p: ["run", p["tiny"], "--storage", "nosuchdb://x"],
     "unknown database dialect 'nosuchdb'"),
    ("postgres port not a number", lambda p: ["run", p["tiny"], "--storage", "postgresql://postgres@127.0.0.1:five/x"],
     "is not a valid database URL"),
    ("postgres unreachable", lambda p: ["run", p["tiny"], "--storage", f"postgresql://postgres@127.0.0.1:{p['port']}/x"],
     "postgresql://postgres@127.0.0.1:{port}/x cannot be opened"),
    ("postgres password hidden", lambda p: ["run", p["tiny"], "--storage", f"postgresql://me:secret@127.0.0.1:{p['port']}/x"],
     "postgresql://me:***@127.0.0.1"),
    ("sqlite folder impossible", lambda p: ["run", p["tiny"], "--storage", "sqlite:////proc/glasstune/optuna.db"],
     "cannot create /proc/glasstune"),
    ("journal folder impossible", lambda p: ["run", p["tiny"], "--storage", "journal:////proc/glasstune/study.log"],
     "cannot create /proc/glasstune"),
    ("heartbeat setting", lambda p: ["run", p["tiny"], *MORE], "GLASSTUNE_HEARTBEAT_SECONDS='soon'", _bad_heartbeat),
    # MLflow stores
    ("file store", lambda p: ["run", p["tiny"], "--tracking-uri", "mlruns"], "file store is deprecated"),
    ("file store URI", lambda p: ["run", p["tiny"], "--tracking-uri", f"file://{p['tmp']}/mlruns"],
     "file store is deprecated"),
    ("tracking server down", lambda p: ["run", p["tiny"], *MORE, "--tracking-uri", f"http://127.0.0.1:{p['port']}"],
     "nothing answers there (connection refused)"),
    ("tracking scheme unknown", lambda p: ["run", p["tiny"], *MORE, "--tracking-uri", "nosuch://x"],
     "unsupported URI scheme"),
    ("tracking store read-only", lambda p: ["run", p["tiny"], *MORE, "--tracking-uri",
                                            f"sqlite:///file:{p['tmp']}/mlruns/mlflow.db?mode=ro&uri=true"],
     "is not writable: MlflowException: (sqlite3.OperationalError) attempt to write a readonly database"),
    ("artifact folder unusable", lambda p: ["run", p["tiny"], *MORE, "--tracking-uri",
                                            f"sqlite:///{p['tmp']}/blocked/mlflow.db"],
     "MLflow artifacts cannot be written", _block_artifacts),
    ("tracking folder impossible", lambda p: ["run", p["tiny"], "--tracking-uri", "sqlite:////proc/glasstune/m.db"],
     "cannot create /proc/glasstune"),
    ("experiment deleted", lambda p: ["run", p["tiny"], *MORE], "MLflow experiment 'tiny' was deleted",
     _delete_experiment),
    # options
    ("bad device", lambda p: ["run", p["tiny"], "--device", "tpu"], "unknown device 'tpu' (--device)"),
    ("bad device index", lambda p: ["run", p["tiny"], "--device", "cuda:x"], "unknown device 'cuda:x' (--device)"),
    ("zero workers", lambda p: ["run", p["tiny"], "--workers", "0"], "Invalid value for '--workers'"),
    ("negative n-trials", lambda p: ["run", p["tiny"], "--n-trials", "-1"], "Invalid value for '--n-trials'"),
    ("zero timeout", lambda p: ["run", p["tiny"], "--timeout", "0"], "Invalid value for '--timeout'"),
    ("misspelt option", lambda p: ["run", p["tiny"], "--n-trial", "3"], "No such option: --n-trial"),
    ("gpus with cpu", lambda p: ["run", p["tiny"], "--gpus", "0", "--device", "cpu"], "contradicts --device cpu"),
    ("gpus list", lambda p: ["run", p["tiny"], "--gpus", "0,,1"], "give GPU indices separated by commas"),
    ("gpu absent", lambda p: ["run", p["tiny"], "--gpus", "99"], "GPU 99 does not exist here"),
    ("zero workers per gpu", lambda p: ["run", p["tiny"], "--workers-per-gpu", "0"],
     "Invalid value for '--workers-per-gpu'"),
    ("doctor unknown study", lambda p: ["doctor", "nope"], "no study named 'nope'"),
    ("doctor stale-after", lambda p: ["doctor", "tiny", "--stale-after", "0"], "--stale-after 0"),
    ("timeout zero", lambda p: ["run", p["timeout0"]], "timeout must be a number of seconds above 0"),
    ("timeout text", lambda p: ["run", p["timeouttext"]], "got '4 min'"),
    ("other objective settings", lambda p: ["run", p["twofolds"], *MORE],
     "study 'tiny' was made with other objective settings (n_folds 3 -> 2)"),
    ("ui port busy", lambda p: ["ui", "--port", str(p["busy"])], "port {busy} on 127.0.0.1 is not free"),
    ("dashboard port busy", lambda p: ["dashboard", "--port", str(p["busy"])], "is not free"),
    ("ui port out of range", lambda p: ["ui", "--port", "70000"], "Invalid value for '--port'"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(cli, write_study, recorded, tmp_path, monkeypatch, case):
    label, arguments, expected, *setup = case
    paths = {
        "tmp": str(tmp_path),
        "port": _closed_port(),
        "tiny": str(tmp_path / "studies" / "tiny.py"),
        "notpy": str(write_study(name="notes", body="just: text\n").with_suffix(".txt")),
        "syntax": str(write_study(name="syntax", body="import optuna\n\nSTUDY = Study(name=\n")),
        "nostudy": str(write_study(name="nostudy", body="x = 1\n")),
        "importerr": str(write_study(name="importerr", body="import glasstune_nonexistent\n")),
        "badtrials": str(write_study(name="badtrials", n_trials=0)),
        "fewrows": str(write_study(name="fewrows", body=(
            "import pandas as pd\nfrom glasstune import Study\nfrom glasstune.data import table_file\n"
            "from glasstune.data.synthetic import make_softness_table\n"
            "from glasstune.objectives.mlp import CrossValidatedMLP\n"
            "frame, _ = make_softness_table((0.45,), n_frames=2, n_per_class=4)\n"
            "frame = frame[(frame.label == 1) | (frame.index % 4 == 0)]\n"
            "frame.to_parquet('few.parquet')\n"
            "STUDY = Study(name='fewrows', data=table_file('few.parquet'), objective=CrossValidatedMLP(n_folds=3))\n"
        ))),
        "baddata": str(write_study(name="baddata", body=(
            "from glasstune import Study\nfrom glasstune.data import table_file\n"
            "from glasstune.objectives.mlp import CrossValidatedMLP\n"
            "STUDY = Study(name='baddata', data=table_file('nowhere.parquet'), objective=CrossValidatedMLP())\n"
        ))),
    }
    tiny = TINY_STUDY.format(name="tiny", n_trials=2, pruner="optuna.pruners.NopPruner()")
    paths["timeout0"] = str(write_study(name="timeout0", body=tiny.replace("pruner=", "timeout=0, pruner=")))
    text_timeout = tiny.replace("pruner=", "timeout='4 min', pruner=")
    paths["timeouttext"] = str(write_study(name="timeouttext", body=text_timeout))
    paths["twofolds"] = str(write_study(name="twofolds", body=tiny.replace("n_folds=3", "n_folds=2")))
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    paths["busy"] = busy.getsockname()[1]
    (tmp_path / "studies" / "notes.txt").write_text("just: text\n")
    for step in setup:
        step(tmp_path, monkeypatch)
    before = snapshot(recorded)
    result = cli(*arguments(paths))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    expected = expected.format(port=paths["port"], busy=paths["busy"])
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in result.stderr and "secret" not in result.stderr + result.stdout
    monkeypatch.delenv("GLASSTUNE_HEARTBEAT_SECONDS", raising=False)
    assert snapshot(recorded) == before
    busy.close()


def test_debug_shows_the_traceback(cli):
    with pytest.raises(Exception, match="no such study file"):
        cli("run", "studies/absent.py", "--debug")


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; sys.argv=['glasstune','--help']\n"
            "from glasstune.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy=[m for m in ('mlflow','torch','sklearn','optuna','pandas') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert "run" in out.stdout and "export" in out.stdout and "doctor" in out.stdout
