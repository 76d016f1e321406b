"""Real ``glasstune run`` processes for tests that stop them: a slow study, and waiting until its
trials run (read from the Optuna file directly, read-only, never creating tables)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time

import pytest

SLOW_STUDY = """
import os
import time

from glasstune import Study
from glasstune.data.sources import SyntheticSoftness


class Slow:
    '''Takes a minute per trial when GLASSTUNE_TEST_SLOW=1 (long enough to be interrupted), else none.'''

    def __call__(self, ctx):
        x = ctx.trial.suggest_float("x", 0.0, 1.0)
        if os.environ.get("GLASSTUNE_TEST_SLOW") == "1":
            for _ in range(600):
                time.sleep(0.1)
        return x

    def smoke(self):
        return self


STUDY = Study(name="slow", data=SyntheticSoftness(0.45, n_frames=6, n_per_class=12), objective=Slow(), n_trials=2)
"""


def running_trials_with_runs(database) -> list[int]:
    """RUNNING trials with their MLflow run and their parameters drawn (the objective has started),
    read from the Optuna SQLite file directly, read-only: the test must not create tables while the
    process under test is creating them."""
    if not database.exists():
        return []
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            rows = connection.execute(
                "SELECT t.number FROM trials t JOIN trial_user_attributes a ON a.trial_id = t.trial_id "
                "WHERE t.state = 'RUNNING' AND a.key = 'mlflow_run_id' "
                "AND EXISTS (SELECT 1 FROM trial_params p WHERE p.trial_id = t.trial_id)").fetchall()
    except sqlite3.Error:
        return []
    return [number for (number,) in rows]


def running_trials_in(storage_url: str, study: str) -> list[int]:
    """RUNNING trials that have their MLflow run, read through Optuna (journal, PostgreSQL)."""
    import optuna

    try:
        loaded = optuna.load_study(study_name=study, storage=storage_url)
        running = loaded.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    except Exception:  # not created yet
        return []
    return [trial.number for trial in running if "mlflow_run_id" in trial.user_attrs and trial.params]


def start_and_wait(command: list[str], database, expected: int, *, storage_url: str | None = None,
                   study: str = "slow") -> subprocess.Popen:
    """Start ``command`` with slow trials; return once ``expected`` trials run with their runs."""
    environment = {**os.environ, "GLASSTUNE_TEST_SLOW": "1"}
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def running() -> list[int]:
        if storage_url is None or storage_url.startswith("sqlite"):
            return running_trials_with_runs(database)
        return running_trials_in(storage_url, study)

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(running()) < expected:
        if process.poll() is not None:
            pytest.fail(f"glasstune run ended early ({process.returncode}): {process.communicate()}")
        time.sleep(0.3)
    assert len(running()) == expected, "no trial started in 120 s"
    return process
