"""Bad input: one line that says what is wrong and how to fix it, a non-zero exit, no traceback,
and nothing already recorded is damaged."""

from __future__ import annotations

import os
import subprocess
import sys

import optuna
import pytest

from glasstune.config import default_storage


def _trial_count(name: str) -> int:
    return len(optuna.load_study(study_name=name, storage=default_storage()).trials)


@pytest.fixture
def recorded(cli, write_study):
    """A study with two finished trials that no bad command may disturb."""
    assert cli("run", write_study(n_trials=2), "--no-progress").exit_code == 0
    return "tiny"


CASES = [
    ("missing study file", lambda p: ["run", "studies/absent.py"], "no such study file"),
    ("not python", lambda p: ["run", p["notpy"]], "a study file is a Python file"),
    ("syntax error", lambda p: ["run", p["syntax"]], ":3: syntax error"),
    ("no STUDY", lambda p: ["run", p["nostudy"]], "defines no study"),
    ("import error", lambda p: ["run", p["importerr"]], "fails while loading: ModuleNotFoundError"),
    ("bad n_trials", lambda p: ["run", p["badtrials"]], "n_trials must be a positive whole number"),
    ("bad data", lambda p: ["run", p["baddata"]], "no such data file"),
    ("too few rows for k folds", lambda p: ["run", p["fewrows"]], "row(s) of class 0 for 3-fold"),
    ("unknown study", lambda p: ["trials", "nope"], "no study named 'nope'"),
    ("bad storage", lambda p: ["trials", "tiny", "--storage", "nosuchdb://x"], "cannot be opened"),
    ("storage not a URL", lambda p: ["run", p["tiny"], "--storage", "optuna.db"], "is not a URL"),
    ("file store", lambda p: ["run", p["tiny"], "--tracking-uri", "mlruns"], "file store is deprecated"),
    ("unwritable export", lambda p: ["export", "tiny", "-o", "/proc/best.yaml"], "choose another path"),
    ("export folder missing", lambda p: ["export", "tiny", "-o", "no/such/dir/b.yaml"], "does not exist"),
    ("export suffix", lambda p: ["export", "tiny", "-o", "best.txt"], "export to a .yaml"),
    ("bad export file", lambda p: ["retrain", p["notpy"]], "not a glasstune export"),
    ("bad device", lambda p: ["run", p["tiny"], "--device", "tpu"], "--device 'tpu'"),
]


@pytest.mark.parametrize("label, arguments, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(cli, write_study, recorded, tmp_path, label, arguments, expected):
    paths = {
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
    (tmp_path / "studies" / "notes.txt").write_text("just: text\n")
    before = _trial_count(recorded)
    result = cli(*arguments(paths))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert "Traceback" not in result.stderr
    assert _trial_count(recorded) == before
    assert optuna.load_study(study_name=recorded, storage=default_storage()).trials[0].state.name == "COMPLETE"


def test_debug_shows_the_traceback(cli):
    with pytest.raises(Exception, match="no such study file"):
        cli("run", "studies/absent.py", "--debug")


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; sys.argv=['glasstune','--help']\n"
            "from glasstune.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy=[m for m in ('mlflow','torch','sklearn','optuna') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert "run" in out.stdout and "export" in out.stdout
