"""An MLflow store that cannot be used stops a study before trial 0, fast and in one line; a store
that fails during a trial costs the trial its records, never its result in Optuna."""

from __future__ import annotations

import os
import socket
import time

import optuna
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from glasstune.config import default_storage, default_tracking_uri
from glasstune.stores.tracking import Tracker


@pytest.fixture(autouse=True)
def wide_tables(monkeypatch):
    """doctor's table one finding per line, so its text can be read back."""
    monkeypatch.setenv("COLUMNS", "300")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _studies() -> list[str]:
    return [s.study_name for s in optuna.get_all_study_summaries(default_storage())]


def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_an_unreachable_tracking_server_fails_fast_before_the_study_exists(cli, write_study, monkeypatch):
    for variable in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT",
                     "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"):
        monkeypatch.delenv(variable, raising=False)  # MLflow's own defaults: 7 retries, minutes
    uri = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    result = cli("run", write_study(), "--tracking-uri", uri, "--no-progress")
    elapsed = time.monotonic() - started
    assert result.exit_code == 2
    assert f"MLflow store {uri} is not usable: nothing answers there (connection refused)" in _one_error_line(result)
    assert elapsed < 20, f"took {elapsed:.0f} s"
    assert _studies() == []  # nothing was recorded
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "3"  # later hiccups: a few quick retries, not minutes


def test_a_read_only_tracking_store_stops_a_new_study_before_it_exists(cli, write_study, tmp_path):
    MlflowClient(default_tracking_uri()).search_experiments()  # the store exists, with its tables
    read_only = f"sqlite:///file:{tmp_path}/mlruns/mlflow.db?mode=ro&uri=true"
    result = cli("run", write_study(), "--tracking-uri", read_only, "--no-progress")
    assert result.exit_code == 2
    assert "is not writable" in _one_error_line(result) and "readonly database" in _one_error_line(result)
    assert _studies() == []


def test_an_artifact_folder_that_cannot_be_written_stops_before_trial_0(cli, write_study):
    client = MlflowClient(default_tracking_uri())
    client.create_experiment("tiny", artifact_location="file:///proc/glasstune-artifacts/tiny")
    result = cli("run", write_study(), "--no-progress")
    assert result.exit_code == 2
    assert "MLflow artifacts cannot be written to file:///proc/glasstune-artifacts/tiny/" in _one_error_line(result)
    assert "tiny" not in _studies() or not optuna.load_study(study_name="tiny", storage=default_storage()).trials
    experiment = client.get_experiment_by_name("tiny").experiment_id
    assert not client.search_runs([experiment], "tags.`glasstune.role` = 'trial'")


class _Broken:
    """An MlflowClient whose named calls fail, as a tracking server that went away would."""

    def __init__(self, client, failing: set[str]) -> None:
        self._client, self._failing = client, failing

    def __getattr__(self, name):
        if name in self._failing:
            def fail(*args, **kwargs):
                raise MlflowException("connection reset by peer (injected)")

            return fail
        return getattr(self._client, name)


def test_logging_errors_during_a_trial_keep_its_result(cli, write_study, monkeypatch):
    """Trial 1's run is deleted from the store as soon as it exists (by hand in the UI, say): every
    record sent to it afterwards is refused by the store, in the process that writes the records."""
    original = Tracker.start_trial

    def start_trial(self, experiment_id, parent_run_id, study_name, trial_number, tags, writer=None):
        run = original(self, experiment_id, parent_run_id, study_name, trial_number, tags, writer)
        if trial_number == 1:
            self.client.delete_run(run.run_id)
        return run

    monkeypatch.setattr(Tracker, "start_trial", start_trial)
    result = cli("run", write_study(n_trials=3))
    assert result.exit_code == 0, result.stderr
    assert "trial   1: " in result.stderr and "MLflow record(s) not written (MlflowException" in result.stderr
    trials = optuna.load_study(study_name="tiny", storage=default_storage()).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert trials[1].value is not None and trials[1].user_attrs["cv_score"] == pytest.approx(trials[1].value)
    client = MlflowClient(default_tracking_uri())
    run = client.get_run(trials[1].user_attrs["mlflow_run_id"])
    assert run.info.status == "RUNNING" and "cv_balanced_accuracy" not in run.data.metrics  # lost: records only
    assert client.get_run(trials[2].user_attrs["mlflow_run_id"]).info.status == "FINISHED"  # the next one is fine

    doctor = cli("doctor", "tiny")
    assert doctor.exit_code == 1 and "its run is deleted" in doctor.stdout  # found, and not invented again


def test_a_dead_writing_process_costs_only_its_trial_s_records(cli, write_study, monkeypatch):
    """The process that writes trial runs dies during trial 1 (killed, out of memory): trial 1's
    records are lost, later trials write theirs in the study's own process, every result is kept."""
    original = Tracker.start_trial

    def start_trial(self, experiment_id, parent_run_id, study_name, trial_number, tags, writer=None):
        if trial_number == 1:
            writer._process.kill()
            writer._process.wait()
        return original(self, experiment_id, parent_run_id, study_name, trial_number, tags, writer)

    monkeypatch.setattr(Tracker, "start_trial", start_trial)
    result = cli("run", write_study(n_trials=3))
    assert result.exit_code == 0, result.stderr
    assert "the MLflow writing process stopped" in result.stderr
    trials = optuna.load_study(study_name="tiny", storage=default_storage()).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3 and all(t.value is not None for t in trials)
    client = MlflowClient(default_tracking_uri())
    runs = [client.get_run(t.user_attrs["mlflow_run_id"]) for t in trials]
    # trial 0's records may still have been waiting in the dead process; trial 1's were sent to it
    assert runs[1].info.status == "RUNNING" and runs[2].info.status == "FINISHED"
    assert "cv_balanced_accuracy" in runs[2].data.metrics  # written in the study's process
    assert {a.path for a in client.list_artifacts(runs[2].info.run_id)} >= {"loss_curves.png", "folds.csv"}
    repaired = cli("doctor", "tiny", "--repair")  # runs left RUNNING get their trial's status...
    assert {client.get_run(run.info.run_id).info.status for run in runs} == {"FINISHED"}
    assert repaired.exit_code == 1 and "records lost" in repaired.stdout  # ...and the lost records are said


def test_without_a_writing_process_records_are_written_by_the_study(cli, write_study, monkeypatch, caplog):
    """Where no child process can be started, the study writes its runs itself, as complete."""
    from glasstune.stores.writer import BackgroundWriter

    def cannot_start(self):
        raise OSError("no child processes here (injected)")

    monkeypatch.setattr(BackgroundWriter, "__init__", cannot_start)
    result = cli("run", write_study(n_trials=2), "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "written in the study's process (no child processes here (injected))" in caplog.text
    client = MlflowClient(default_tracking_uri())
    for trial in optuna.load_study(study_name="tiny", storage=default_storage()).trials:
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.info.status == "FINISHED" and "cv_balanced_accuracy" in run.data.metrics
        assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"loss_curves.png", "config.json"}


def test_a_run_that_cannot_be_created_keeps_the_trial_and_its_result(cli, write_study, monkeypatch):
    original = Tracker.start_trial

    def start_trial(self, experiment_id, parent_run_id, study_name, trial_number, tags, writer=None):
        if trial_number != 1:
            return original(self, experiment_id, parent_run_id, study_name, trial_number, tags, writer)
        client, self.client = self.client, _Broken(self.client, {"create_run"})
        try:
            return original(self, experiment_id, parent_run_id, study_name, trial_number, tags, writer)
        finally:
            self.client = client

    monkeypatch.setattr(Tracker, "start_trial", start_trial)
    result = cli("run", write_study(n_trials=3), "--no-progress")
    assert result.exit_code == 0, result.stderr
    trials = optuna.load_study(study_name="tiny", storage=default_storage()).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3 and trials[1].value is not None
    assert "mlflow_run_id" not in trials[1].user_attrs
    assert "connection reset by peer (injected)" in trials[1].user_attrs["mlflow_error"]
    doctor = cli("doctor", "tiny")
    assert doctor.exit_code == 1 and "COMPLETE trial has no MLflow run" in doctor.stdout


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="file permissions do not bind root")
def test_read_only_files_stop_before_trial_0(cli, write_study, tmp_path):
    """The literal case, where permissions bind: a read-only database file, then a read-only artifact folder."""
    path = write_study(n_trials=2)
    assert cli("run", path, "--no-progress").exit_code == 0
    database = tmp_path / "mlruns" / "mlflow.db"
    database.chmod(0o444)
    try:
        locked = cli("run", path, "--n-trials", "3", "--no-progress")
    finally:
        database.chmod(0o644)
    assert locked.exit_code == 2 and "is not writable" in _one_error_line(locked)
    folders = [tmp_path / "mlruns" / "artifacts", *(tmp_path / "mlruns" / "artifacts").rglob("*")]
    folders = [folder for folder in folders if folder.is_dir()]
    for folder in folders:
        folder.chmod(0o555)
    try:
        blocked = cli("run", path, "--n-trials", "3", "--no-progress")
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert blocked.exit_code == 2 and "MLflow artifacts cannot be written" in _one_error_line(blocked)
    assert len(optuna.load_study(study_name="tiny", storage=default_storage()).trials) == 2


def test_a_start_lock_that_cannot_be_made_stops_in_one_line_and_closes_the_parent_run(cli, write_study):
    from glasstune.stores.start_gate import file_lock_path

    file_lock_path(default_storage(), "tiny").mkdir(parents=True)  # a folder where the lock file goes
    result = cli("run", write_study(), "--no-progress")
    assert result.exit_code != 0
    assert "start lock" in _one_error_line(result)
    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name("tiny")
    parents = client.search_runs([experiment.experiment_id], "tags.`glasstune.role` = 'study'")
    assert [run.info.status for run in parents] == ["FAILED"]
    assert optuna.load_study(study_name="tiny", storage=default_storage()).trials == []
