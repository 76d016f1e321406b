"""glasstune doctor on real SQLite (and journal) stores: a recorded study is damaged on purpose through
MLflow's and Optuna's own APIs, doctor must find each problem, --repair must fix what is safe
without deleting anything, and a second doctor must find the study clean."""

from __future__ import annotations

import datetime as dt
import time

import optuna
import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState

from glasstune.config import default_storage, default_tracking_uri
from glasstune.stores.doctor import examine
from glasstune.stores.optuna_storage import open_storage
from glasstune.stores.tracking import Tracker
from tests.recorded_study import copy_recorded_study, make_recorded_study, snapshot

SPACE = {"width": IntDistribution(4, 12), "learning_rate_init": FloatDistribution(1e-3, 1e-1, log=True)}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_recorded_study(tmp_path_factory.mktemp("recorded"), n_trials=3)


@pytest.fixture(autouse=True)
def wide_tables(monkeypatch):
    """One finding per line in the printed table, so a test can read it line by line."""
    monkeypatch.setenv("COLUMNS", "300")


@pytest.fixture
def recorded(template, tmp_path):
    copy_recorded_study(template, tmp_path)
    return optuna.load_study(study_name="tiny", storage=default_storage())


def _client() -> MlflowClient:
    return MlflowClient(default_tracking_uri())


def _run_ids(study) -> list[str]:
    return [t.user_attrs["mlflow_run_id"] for t in study.trials]


def _all_runs(client, study_name="tiny"):
    experiment = client.get_experiment_by_name(study_name)
    return client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL)


def _dead_worker_trial(study, storage_url: str, *, heartbeat: bool):
    """What a worker killed with SIGKILL mid-trial leaves: a RUNNING trial (with its last heartbeat
    where the storage keeps them) that names a RUNNING MLflow run, and a parent run still RUNNING."""
    storage = open_storage(storage_url, heartbeat=heartbeat)
    live = optuna.load_study(study_name=study.study_name, storage=storage)
    trial = live.ask(SPACE)
    if heartbeat:
        storage.record_heartbeat(trial._trial_id)
    tracker = Tracker.open(default_tracking_uri())
    parent = live.user_attrs["glasstune.mlflow_parent_run_id"]
    run = tracker.start_trial(live.user_attrs["glasstune.mlflow_experiment_id"], parent, study.study_name,
                              trial.number, tags={})
    trial.set_user_attr("mlflow_run_id", run.run_id)
    tracker.client.update_run(parent, status="RUNNING")
    return trial.number, trial.params, run.run_id


def test_a_clean_study_is_clean(cli, recorded):
    result = cli("doctor", "tiny")
    assert result.exit_code == 0, result.stderr
    assert "tiny: 3 trial(s), 4 MLflow run(s), 0 problem(s) found" in result.stdout
    assert result.stderr == ""


def test_damage_is_found_repaired_without_deleting_and_then_clean(cli, recorded):
    client = _client()
    first, second, third = _run_ids(recorded)
    parent = recorded.user_attrs["glasstune.mlflow_parent_run_id"]
    experiment = recorded.user_attrs["glasstune.mlflow_experiment_id"]
    client.update_run(first, status="RUNNING")                  # a run left RUNNING after its trial ended
    client.update_run(second, status="FAILED")                  # a COMPLETE trial whose run says FAILED
    client.set_tag(third, "glasstune.trial_number", "7")        # a run that names another trial
    client.update_run(parent, status="RUNNING")                 # a parent RUNNING with nothing running
    orphan = client.create_run(experiment, run_name="trial-099", tags={
        "mlflow.parentRunId": parent, "glasstune.role": "trial", "glasstune.study": "tiny",
        "glasstune.trial_number": "99"}).info.run_id           # a run no trial claims, still RUNNING
    duplicate = client.create_run(experiment, run_name="trial-001", tags={
        "mlflow.parentRunId": parent, "glasstune.role": "trial", "glasstune.study": "tiny",
        "glasstune.trial_number": "1"}).info.run_id            # a second run for trial 1
    client.set_terminated(duplicate, status="FINISHED")
    other = client.create_run(experiment, tags={"mlflow.parentRunId": parent, "glasstune.role": "continuation",
                                                "glasstune.trial_number": "0"}).info.run_id
    client.set_terminated(other, status="FINISHED")           # another feature's run: not doctor's business

    before = snapshot()
    report = cli("doctor", "tiny")
    assert report.exit_code == 1
    assert report.stderr.strip() == ("error: 6 problem(s) remain in study tiny; "
                                     "glasstune doctor tiny --repair fixes what is safe")
    for kind, run_id in (("run still running", first), ("status mismatch", second), ("run tags", third),
                         ("parent run", parent), ("orphan run", orphan), ("duplicate run", duplicate)):
        assert any(kind in line and run_id in line for line in report.stdout.splitlines()), (kind, report.stdout)
    assert other not in report.stdout
    assert snapshot() == before  # looking changes nothing

    repaired = cli("doctor", "tiny", "--repair")
    assert repaired.exit_code == 0, repaired.stdout + repaired.stderr
    assert "6 problem(s) found, 6 repaired" in repaired.stdout
    assert repaired.stdout.count("done: ") == 6
    runs = {run.info.run_id: run for run in _all_runs(client)}
    assert len(runs) == 7 and all(run.info.lifecycle_stage == "active" for run in runs.values())  # none deleted
    assert runs[first].info.status == "FINISHED" and "run still running" in runs[first].data.tags["glasstune.doctor"]
    assert runs[second].info.status == "FINISHED" and runs[second].data.tags["glasstune.state"] == "COMPLETE"
    assert runs[third].data.tags["glasstune.trial_number"] == "2"
    assert runs[parent].info.status == "KILLED"
    assert runs[orphan].info.status == "KILLED" and runs[orphan].data.tags["glasstune.orphan"] == "true"
    assert runs[duplicate].info.status == "FINISHED" and runs[duplicate].data.tags["glasstune.orphan"] == "true"
    assert "glasstune.orphan" not in runs[other].data.tags
    assert [t.state for t in optuna.load_study(study_name="tiny", storage=default_storage()).trials] == [
        TrialState.COMPLETE] * 3

    again = cli("doctor", "tiny")
    assert again.exit_code == 0, again.stdout + again.stderr
    assert "0 problem(s) found" in again.stdout
    assert "2 run(s) already tagged glasstune.orphan=true" in again.stdout


def test_what_cannot_be_repaired_is_left_and_said(cli, recorded):
    client = _client()
    deleted = _run_ids(recorded)[0]
    client.delete_run(deleted)  # a trial's run deleted by hand
    recorded.add_trial(optuna.trial.create_trial(  # a trial whose run was never made
        params={"width": 5}, distributions={"width": SPACE["width"]}, value=0.5))

    result = cli("doctor", "tiny", "--repair")
    assert result.exit_code == 1
    assert "not done: nothing is safe to do" in result.stdout
    assert "run missing" in result.stdout and "its run is deleted" in result.stdout
    assert "no run" in result.stdout and "COMPLETE trial has no MLflow run" in result.stdout
    assert result.stderr.strip() == "error: 2 problem(s) remain in study tiny"
    assert client.get_run(deleted).info.lifecycle_stage == "deleted"  # not restored, not purged


def test_a_running_trial_without_heartbeats_is_judged_only_by_age(recorded):
    """Without heartbeats (a journal storage) only the age given by --stale-after can call a trial stale."""
    number, _, run_id = _dead_worker_trial(recorded, default_storage(), heartbeat=False)
    study = optuna.load_study(study_name="tiny", storage=default_storage())
    tracker = Tracker.open(default_tracking_uri())
    unjudged = examine(study, tracker, heartbeat=False)
    assert unjudged.findings == [] and unjudged.running_unjudged == 1
    started = study.trials[number].datetime_start
    young = examine(study, tracker, heartbeat=False, stale_after=3600, now=started)
    assert young.findings == [] and young.running_unjudged == 1
    old = examine(study, tracker, heartbeat=False, stale_after=60, now=started + dt.timedelta(seconds=61))
    parent = study.user_attrs["glasstune.mlflow_parent_run_id"]
    assert [(f.kind, f.trial, f.run_id) for f in old.findings] == [("stale trial", number, run_id),
                                                                   ("parent run", None, parent)]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_killed_worker_is_failed_by_heartbeat_retried_and_its_runs_closed(cli, recorded, monkeypatch):
    monkeypatch.setenv("GLASSTUNE_HEARTBEAT_SECONDS", "1")
    number, params, run_id = _dead_worker_trial(recorded, default_storage(), heartbeat=True)
    fresh = cli("doctor", "tiny")
    assert fresh.exit_code == 0, fresh.stdout + fresh.stderr  # a live heartbeat: nothing wrong yet
    time.sleep(5.5)  # past the grace period (four heartbeats), which SQLite's clock reads to the second

    found = cli("doctor", "tiny")
    assert found.exit_code == 1
    assert any("stale trial" in line and f"{number}" in line for line in found.stdout.splitlines())
    repaired = cli("doctor", "tiny", "--repair")
    assert repaired.exit_code == 0, repaired.stdout + repaired.stderr
    trials = optuna.load_study(study_name="tiny", storage=default_storage()).trials
    assert trials[number].state == TrialState.FAIL
    retry = [t for t in trials if t.state == TrialState.WAITING]
    assert len(retry) == 1 and retry[0].params == params  # Optuna's retry: same parameters
    run = _client().get_run(run_id)
    assert run.info.status == "FAILED" and "no heartbeat" in run.data.tags["glasstune.error"]
    parent = recorded.user_attrs["glasstune.mlflow_parent_run_id"]
    assert _client().get_run(parent).info.status == "KILLED"
    assert cli("doctor", "tiny").exit_code == 0


def test_journal_storage_stale_trials_by_doctor_and_by_fail_stale(cli, write_study, tmp_path):
    journal = f"journal:///{tmp_path}/studies.log"
    path = write_study(n_trials=1)
    assert cli("run", path, "--storage", journal, "--no-progress").exit_code == 0
    study = optuna.load_study(study_name="tiny", storage=open_storage(journal))

    number, params, run_id = _dead_worker_trial(study, journal, heartbeat=False)
    unsure = cli("doctor", "tiny", "--storage", journal)
    assert unsure.exit_code == 0 and "RUNNING on a storage without heartbeats" in unsure.stdout
    time.sleep(0.3)
    repaired = cli("doctor", "tiny", "--storage", journal, "--repair", "--stale-after", "0.2")
    assert repaired.exit_code == 0, repaired.stdout + repaired.stderr
    assert "stale trial" in repaired.stdout
    assert _client().get_run(run_id).info.status == "FAILED"

    second, _, second_run = _dead_worker_trial(study, journal, heartbeat=False)
    resumed = cli("run", path, "--storage", journal, "--n-trials", "3", "--fail-stale", "--no-progress")
    assert resumed.exit_code == 0, resumed.stderr
    assert f"--fail-stale: trial(s) {second} marked FAIL" in resumed.stdout
    trials = optuna.load_study(study_name="tiny", storage=open_storage(journal)).trials
    assert trials[number].state == trials[second].state == TrialState.FAIL
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == number and t.state == TrialState.COMPLETE]
    assert len(retried) == 1 and params.items() <= retried[0].params.items()  # retried with the same parameters
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 3
    assert _client().get_run(second_run).info.status == "FAILED"
    clean = cli("doctor", "tiny", "--storage", journal)
    assert clean.exit_code == 0 and "0 problem(s) found" in clean.stdout, clean.stdout
