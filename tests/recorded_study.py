"""A small recorded study, made once per test module and copied into each test's folder.

Creating an MLflow store and an Optuna storage and running two trials costs seconds (more on a busy
machine); copying the finished stores costs milliseconds. Tests that damage or probe a study start
from a copy, so each one still has stores of its own.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from glasstune.config import default_storage, default_tracking_uri
from tests.conftest import TINY_STUDY


def make_recorded_study(folder: Path, name: str = "tiny", n_trials: int = 2) -> Path:
    """Run the tiny study in ``folder`` through the real entry point; returns ``folder``."""
    from glasstune import cli as cli_module

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("GLASSTUNE_DATA_DIR", str(folder / "data-cache"))
        for variable in ("GLASSTUNE_STORAGE", "MLFLOW_TRACKING_URI", "GLASSTUNE_SEED"):
            patch.delenv(variable, raising=False)
        study_file = folder / "studies" / f"{name}.py"
        study_file.parent.mkdir(exist_ok=True)
        study_file.write_text(textwrap.dedent(TINY_STUDY.format(name=name, n_trials=n_trials,
                                                                pruner="optuna.pruners.NopPruner()")))
        patch.setattr(sys, "argv", ["glasstune", "run", str(study_file), "--no-progress"])
        with _no_exit():
            cli_module.main()
    return folder


class _no_exit:
    """``main`` returns on success and exits otherwise: here, anything but success is a broken fixture."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if kind is SystemExit and error.code not in (0, None):
            raise AssertionError(f"making the recorded study failed with exit code {error.code}")
        return kind is SystemExit


def copy_recorded_study(template: Path, target: Path) -> None:
    """The template's stores, study files and data cache, into ``target`` (the test's working folder)."""
    for part in ("mlruns", "studies", "data-cache"):
        if (template / part).exists():
            shutil.copytree(template / part, target / part, dirs_exist_ok=True)


def snapshot(name: str = "tiny") -> tuple:
    """What a command must not change: every trial (state, value, params, attributes), the study's
    attributes, and every MLflow run of the study (status and tags)."""
    study = optuna.load_study(study_name=name, storage=default_storage())
    trials = tuple((t.number, t.state.name, t.value, tuple(sorted(t.params.items())),
                    tuple(sorted((k, str(v)) for k, v in t.user_attrs.items()))) for t in study.trials)
    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    tracked = tuple(sorted((r.info.run_id, r.info.status, tuple(sorted(r.data.tags.items()))) for r in runs))
    return trials, tuple(sorted((k, str(v)) for k, v in study.user_attrs.items())), tracked
