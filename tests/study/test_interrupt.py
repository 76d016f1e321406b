"""Ctrl-C on a real ``glasstune run`` process: the running trial ends FAIL with its reason, its MLflow
run ends KILLED (not RUNNING), the process exits 130 with one line, and the same command resumes."""

from __future__ import annotations

import signal
import sys

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from glasstune.config import default_storage, default_tracking_uri
from tests.processes import SLOW_STUDY, start_and_wait


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


@pytest.mark.slow  # over 10 s: runs in make test after the fast suite
def test_ctrl_c_ends_the_trial_cleanly_and_the_study_resumes(cli, write_study, tmp_path):
    path = write_study(name="slow", body=SLOW_STUDY)
    database = tmp_path / "mlruns" / "optuna.db"
    process = start_and_wait([sys.executable, "-m", "glasstune", "run", str(path), "--no-progress"], database, 1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines == ["interrupted: the study is saved and resumes with the same command"], stderr
    _check_interrupted([0])
    _resume_completes(cli, path, [0])


@pytest.mark.slow  # over 10 s: runs in make test after the fast suite
def test_ctrl_c_on_the_coordinator_reaches_every_worker(cli, write_study, tmp_path):
    path = write_study(name="slow", body=SLOW_STUDY)
    database = tmp_path / "mlruns" / "optuna.db"
    command = [sys.executable, "-m", "glasstune", "run", str(path), "--workers", "2", "--no-progress"]
    process = start_and_wait(command, database, 2)
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
