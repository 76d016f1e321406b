"""Shared fixtures: every test runs in its own folder with its own stores and data cache."""

from __future__ import annotations

import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

TINY_STUDY = '''
import optuna
from glasstune import Study
from glasstune.data.sources import SyntheticSoftness
from glasstune.objectives.mlp import CrossValidatedMLP


def space(trial):
    return {{
        "hidden_layer_sizes": (trial.suggest_int("width", 4, 12),),
        "max_iter": trial.suggest_int("max_iter", 5, 15),
        "solver": "adam",
        "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-3, 1e-1, log=True),
    }}


STUDY = Study(
    name="{name}",
    data=SyntheticSoftness(0.45, n_frames=6, n_per_class=12),
    objective=CrossValidatedMLP(space, n_folds=3),
    n_trials={n_trials},
    pruner={pruner},
)
'''


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A fresh working folder (so ./mlruns is the test's own) and data cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GLASSTUNE_DATA_DIR", str(tmp_path / "data-cache"))
    for name in ("GLASSTUNE_STORAGE", "MLFLOW_TRACKING_URI", "GLASSTUNE_SEED", "GLASSTUNE_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def write_study(tmp_path):
    """Write a tiny MLP study file; returns its path."""

    def write(name: str = "tiny", n_trials: int = 3, pruner: str = "optuna.pruners.NopPruner()",
              body: str | None = None) -> Path:
        path = tmp_path / "studies" / f"{name}.py"
        path.parent.mkdir(exist_ok=True)
        text = body if body is not None else TINY_STUDY.format(name=name, n_trials=n_trials, pruner=pruner)
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run ``glasstune ARGS`` in this process through the real entry point (error handling included)."""
    from glasstune import cli as cli_module

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["glasstune", *map(str, args)])
        code = 0
        try:
            cli_module.main()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def postgres_url():
    """A fresh database on the PostgreSQL server at 127.0.0.1:5432, dropped after the test."""
    import psycopg

    name = f"glasstune_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is not running: {error}")
    admin.execute(f"CREATE DATABASE {name}")
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()
