"""A study stopped from outside, for real: SIGKILL (as OOM or power loss), SIGTERM (a scheduler's time
limit), SIGHUP (a closed terminal). Whatever the storage, the same command afterwards finishes exactly
the budget; no trial or run stays RUNNING; a killed trial is redone with its parameters and seed."""

from __future__ import annotations

import signal
import sys

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from glasstune.config import default_tracking_uri
from glasstune.stores.optuna_storage import open_storage
from tests.processes import SLOW_STUDY, start_and_wait


def _storage(kind: str, tmp_path, request) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'mlruns' / 'optuna.db'}"
    if kind == "journal":
        return f"journal:///{tmp_path / 'mlruns' / 'study.log'}"
    return request.getfixturevalue("postgres_url")


def _command(path, storage: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "glasstune", "run", str(path), "--no-progress", "--storage", storage, *extra]


def _nothing_running(study: optuna.Study) -> None:
    assert not study.get_trials(states=(TrialState.RUNNING,))
    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name(study.study_name).experiment_id
    assert not client.search_runs([experiment], "attributes.status = 'RUNNING'")
    assert client.get_run(study.user_attrs["glasstune.mlflow_parent_run_id"]).info.status == "FINISHED"


@pytest.mark.parametrize("kind", ["sqlite", "journal", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_killed_study_finishes_when_run_again(cli, write_study, tmp_path, request, kind):
    storage = _storage(kind, tmp_path, request)
    path = write_study(name="slow", body=SLOW_STUDY)
    process = start_and_wait(_command(path, storage), tmp_path / "mlruns" / "optuna.db", 1, storage_url=storage)
    process.kill()  # SIGKILL: no handler runs, as with the OOM killer or a power cut
    process.wait(timeout=30)

    again = cli("run", path, "--no-progress", "--storage", storage)
    assert again.exit_code == 0, again.stderr
    study = optuna.load_study(study_name="slow", storage=open_storage(storage, heartbeat=False))
    killed, *rest = study.trials
    assert killed.state == TrialState.FAIL and "stopped without ending it" in killed.user_attrs["error"]
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 2  # exactly the budget
    retry = next(t for t in rest if t.params == killed.params)  # redone with the same parameters...
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["seed"] == killed.user_attrs["seed"]  # ...and seed
    run = MlflowClient(default_tracking_uri()).get_run(killed.user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED" and "stopped without ending it" in run.data.tags["glasstune.error"]
    _nothing_running(study)
    assert cli("doctor", "slow", "--storage", storage).exit_code == 0


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_the_trial_as_ctrl_c_does(cli, write_study, tmp_path, name):
    storage = _storage("sqlite", tmp_path, None)
    path = write_study(name="slow", body=SLOW_STUDY)
    process = start_and_wait(_command(path, storage), tmp_path / "mlruns" / "optuna.db", 1)
    process.send_signal(getattr(signal, name))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + getattr(signal, name)
    assert [line for line in stderr.splitlines() if line.strip()] == [
        f"stopped by {name}: the study is saved and resumes with the same command"], stderr
    study = optuna.load_study(study_name="slow", storage=storage)
    trial = study.trials[0]
    assert trial.state == TrialState.FAIL and trial.user_attrs["error"] == f"interrupted ({name})"
    run = MlflowClient(default_tracking_uri()).get_run(trial.user_attrs["mlflow_run_id"])
    assert run.info.status == "KILLED" and run.data.tags["glasstune.error"] == f"interrupted ({name})"
    assert cli("run", path, "--no-progress").exit_code == 0
    _nothing_running(optuna.load_study(study_name="slow", storage=storage))


@pytest.mark.slow  # over 10 s: runs in make test after the fast suite
def test_sigterm_on_the_coordinator_reaches_every_worker(cli, write_study, tmp_path):
    path = write_study(name="slow", body=SLOW_STUDY)
    command = [sys.executable, "-m", "glasstune", "run", str(path), "--workers", "2", "--no-progress"]
    process = start_and_wait(command, tmp_path / "mlruns" / "optuna.db", 2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=90)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    storage = f"sqlite:///{tmp_path / 'mlruns' / 'optuna.db'}"
    study = optuna.load_study(study_name="slow", storage=storage)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.FAIL]  # both ended, none RUNNING
    assert cli("run", path, "--no-progress").exit_code == 0
    _nothing_running(optuna.load_study(study_name="slow", storage=storage))


EXITING_STUDY = """
import sys

from glasstune import Study
from glasstune.data.sources import SyntheticSoftness


def objective(ctx):
    x = ctx.trial.suggest_int("x", 0, 3)
    if ctx.trial.number == 0:
        sys.exit(3)
    return float(x)


STUDY = Study(name="exits", data=SyntheticSoftness(0.45, n_frames=6, n_per_class=12), objective=objective, n_trials=2)
"""


def test_sys_exit_in_a_trial_fails_that_trial_and_the_study_goes_on(cli, write_study):
    result = cli("run", write_study(name="exits", body=EXITING_STUDY), "--no-progress")
    assert result.exit_code == 0, result.stderr
    study = optuna.load_study(study_name="exits", storage=f"sqlite:///{__import__('os').getcwd()}/mlruns/optuna.db")
    assert study.trials[0].state == TrialState.FAIL
    assert study.trials[0].user_attrs["error"] == "the study's code called sys.exit(3)"
    run = MlflowClient(default_tracking_uri()).get_run(study.trials[0].user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED" and "sys.exit(3)" in run.data.tags["glasstune.error"]
    _nothing_running(study)


def test_sys_exit_while_the_study_file_loads_is_one_line(cli, write_study):
    result = cli("run", write_study(name="bye", body="import sys\nsys.exit(0)\n"), "--no-progress")
    assert result.exit_code == 2 and result.stdout == ""
    assert "calls sys.exit(0) while loading" in result.stderr and len(result.stderr.splitlines()) == 1
