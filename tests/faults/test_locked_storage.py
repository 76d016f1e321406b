"""The Optuna storage is locked by another process when a trial ends (a long query, a backup, a
stuck process holding SQLite's write lock): the outcome is saved once the lock goes, and if it never
goes the trial's run says FAILED with its value kept, the command exits 1 in one line, and the same
command afterwards redoes that trial. Real SQLite locks throughout; only the waiting is shortened."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from glasstune.config import default_storage, default_tracking_uri
from glasstune.study.runner import save_outcome
from glasstune.study.trial import Outcome


def _hold_write_lock(database, seconds: float) -> threading.Thread:
    """Another connection takes SQLite's exclusive lock for ``seconds`` (as another process would)."""
    ready = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(database, timeout=30, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        ready.set()
        time.sleep(seconds)
        connection.execute("COMMIT")
        connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    ready.wait()
    return thread


@pytest.fixture
def asked(tmp_path):
    database = tmp_path / "optuna.db"
    storage = optuna.storages.RDBStorage(f"sqlite:///{database}", engine_kwargs={"connect_args": {"timeout": 0.2}})
    study = optuna.create_study(storage=storage, study_name="locked")
    return database, study, study.ask()


def test_an_outcome_is_saved_once_the_lock_goes(asked):
    database, study, trial = asked
    holder = _hold_write_lock(database, 1.5)
    assert save_outcome(study, trial, Outcome("COMPLETE", value=0.7), pauses=(0.5, 0.5, 1.0, 1.0)) is None
    holder.join()
    assert study.trials[0].state == TrialState.COMPLETE and study.trials[0].value == 0.7


def test_an_outcome_that_cannot_be_saved_is_said_with_its_value(asked):
    database, study, trial = asked
    holder = _hold_write_lock(database, 3.0)
    failure = save_outcome(study, trial, Outcome("COMPLETE", value=0.7), pauses=(0.2, 0.2))
    holder.join()
    assert failure is not None and "could not be saved in the Optuna storage after 3 attempts" in failure
    assert "value 0.7 kept in its MLflow run" in failure and "database is locked" in failure
    assert study.trials[0].state == TrialState.RUNNING  # untouched: the next run redoes it


LOCKING_STUDY = """
import subprocess
import sys

from glasstune import Study
from glasstune.data.sources import SyntheticSoftness

HOLD = '''
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
'''


def objective(ctx):
    x = ctx.trial.suggest_float("x", 0.0, 1.0)
    if ctx.trial.number == 0:  # another process locks the storage just as the trial ends
        holder = subprocess.Popen([sys.executable, "-c", HOLD, "mlruns/optuna.db", "{seconds}"], stdout=subprocess.PIPE)
        holder.stdout.readline()
    return x


STUDY = Study(name="locked", data=SyntheticSoftness(0.45, n_frames=6, n_per_class=12), objective=objective, n_trials=2)
"""


@pytest.mark.slow
def test_a_storage_locked_at_a_trial_s_end_costs_no_result(write_study, tmp_path):
    """Locked for 8 s while each write waits 2 s: the outcome is saved by a retry."""
    path = write_study(name="locked", body=LOCKING_STUDY.replace("{seconds}", "8"))
    done = subprocess.run([sys.executable, "-m", "glasstune", "run", str(path), "--no-progress"],
                          env={**__import__("os").environ, "GLASSTUNE_SQLITE_TIMEOUT": "2"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="locked", storage=default_storage())
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE]


@pytest.mark.slow
def test_a_result_that_cannot_be_saved_fails_the_command_and_is_redone(cli, write_study, tmp_path):
    """Locked for longer than every retry: exit 1 in one line, the run FAILED with its value, and the
    same command afterwards redoes the trial."""
    path = write_study(name="locked", body=LOCKING_STUDY.replace("{seconds}", "90"))
    done = subprocess.run([sys.executable, "-m", "glasstune", "run", str(path), "--no-progress"],
                          env={**__import__("os").environ, "GLASSTUNE_SQLITE_TIMEOUT": "0.5"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "trial 0's result could not be saved" in lines[0], done.stderr
    assert "kept in its MLflow run" in lines[0] and "redone when the study runs again" in lines[0]
    client = MlflowClient(default_tracking_uri())
    run = client.search_runs([client.get_experiment_by_name("locked").experiment_id],
                             "tags.`glasstune.trial_number` = '0'")[0]
    assert run.info.status == "FAILED" and "objective_value" in run.data.metrics
    subprocess.run(["pkill", "-f", "BEGIN IMMEDIATE"], check=False)
    time.sleep(1)
    again = cli("run", path, "--no-progress")
    assert again.exit_code == 0, again.stderr
    study = optuna.load_study(study_name="locked", storage=default_storage())
    assert study.trials[0].state == TrialState.FAIL and len(study.get_trials(states=(TrialState.COMPLETE,))) == 2
