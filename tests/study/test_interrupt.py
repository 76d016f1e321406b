"""Ctrl-C on a real ``glasstune run`` process: the running trial ends FAIL with its reason, its MLflow
run ends KILLED (not RUNNING), the process exits 130 with one line, and the same command resumes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from glasstune.config import default_storage, default_tracking_uri

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


def _running_trials_with_runs(database) -> list[int]:
    """Read the Optuna SQLite file directly, read-only: the test must not create tables while the
    process under test is creating them."""
    if not database.exists():
        return []
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            rows = connection.execute(
                "SELECT t.number FROM trials t JOIN trial_user_attributes a ON a.trial_id = t.trial_id "
                "WHERE t.state = 'RUNNING' AND a.key = 'mlflow_run_id'").fetchall()
    except sqlite3.Error:
        return []
    return [number for (number,) in rows]


def _start_and_wait(command: list[str], database, expected: int) -> subprocess.Popen:
    environment = {**os.environ, "GLASSTUNE_TEST_SLOW": "1"}
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(_running_trials_with_runs(database)) < expected:
        if process.poll() is not None:
            pytest.fail(f"glasstune run ended early ({process.returncode}): {process.communicate()}")
        time.sleep(0.3)
    assert len(_running_trials_with_runs(database)) == expected, "no trial started in 120 s"
    return process


def _check_interrupted(numbers: list[int]) -> None:
    study = optuna.load_study(study_name="slow", storage=default_storage())
    client = MlflowClient(default_tracking_uri())
    for number in numbers:
        trial = study.trials[number]
        assert trial.state == TrialState.FAIL
        assert trial.user_attrs["error"] == "interrupted (Ctrl-C)" and trial.user_attrs["interrupted"] is True
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.info.status == "KILLED"
        assert run.data.tags["glasstune.state"] == "FAIL"
        assert run.data.tags["glasstune.error"] == "interrupted (Ctrl-C)"
        assert run.data.tags["glasstune.interrupted"] == "true"
    assert client.get_run(study.user_attrs["glasstune.mlflow_parent_run_id"]).info.status == "KILLED"
    assert not study.get_trials(states=(TrialState.RUNNING,))


def _resume_completes(cli, path, numbers: list[int]) -> None:
    resumed = cli("run", path, "--no-progress")  # not slow now: GLASSTUNE_TEST_SLOW is not set here
    assert resumed.exit_code == 0, resumed.stderr
    study = optuna.load_study(study_name="slow", storage=default_storage())
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 2
    assert all(study.trials[number].state == TrialState.FAIL for number in numbers)  # history kept
    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name("slow").experiment_id
    assert not client.search_runs([experiment], "attributes.status = 'RUNNING'")
    assert client.get_run(study.user_attrs["glasstune.mlflow_parent_run_id"]).info.status == "FINISHED"
    assert cli("doctor", "slow").exit_code == 0


def test_ctrl_c_ends_the_trial_cleanly_and_the_study_resumes(cli, write_study, tmp_path):
    path = write_study(name="slow", body=SLOW_STUDY)
    database = tmp_path / "mlruns" / "optuna.db"
    process = _start_and_wait([sys.executable, "-m", "glasstune", "run", str(path), "--no-progress"], database, 1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines == ["interrupted: the study is saved and resumes with the same command"], stderr
    _check_interrupted([0])
    _resume_completes(cli, path, [0])


def test_ctrl_c_on_the_coordinator_reaches_every_worker(cli, write_study, tmp_path):
    path = write_study(name="slow", body=SLOW_STUDY)
    database = tmp_path / "mlruns" / "optuna.db"
    command = [sys.executable, "-m", "glasstune", "run", str(path), "--workers", "2", "--no-progress"]
    process = _start_and_wait(command, database, 2)
    process.send_signal(signal.SIGINT)  # the coordinator only, as `kill -INT` would
    _, stderr = process.communicate(timeout=90)
    assert process.returncode == 130
    assert [line for line in stderr.splitlines() if line.strip()] == [
        "interrupted: the study is saved and resumes with the same command"], stderr
    for index in (1, 2):
        log = (tmp_path / "mlruns" / "logs" / "slow" / f"worker-{index}.log").read_text()
        assert "interrupted: the study is saved" in log, log
    _check_interrupted([0, 1])
    _resume_completes(cli, path, [0, 1])
