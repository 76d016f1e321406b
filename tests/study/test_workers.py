"""Several workers on one study, on the real PostgreSQL server at 127.0.0.1:5432 (a fresh database
per test), and a worker killed mid-trial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient

from glasstune.config import default_tracking_uri

pytestmark = pytest.mark.postgres

SLOW_STUDY = """
import time
from glasstune import Study
from glasstune.data.sources import SyntheticSoftness


class Slow:
    def __call__(self, ctx):
        x = ctx.trial.suggest_float("x", 0.0, 1.0)
        for step in range(60):
            time.sleep(0.1)
        return x

    def smoke(self):
        return self


STUDY = Study(name="slow", data=SyntheticSoftness(0.45, n_frames=6, n_per_class=12), objective=Slow(), n_trials=2)
"""


def _runs(name: str) -> list:
    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name(name)
    return client.search_runs([experiment.experiment_id], "tags.`glasstune.role` = 'trial'")


def test_three_workers_one_study(cli, write_study, postgres_url, tmp_path):
    secret_url = postgres_url.replace("postgres@", "postgres:hunter2@")  # trust auth ignores the password
    result = cli("run", write_study(n_trials=6), "--workers", "3", "--storage", secret_url, "--no-progress")
    assert result.exit_code == 0, result.stderr
    trials = optuna.load_study(study_name="tiny", storage=postgres_url).trials
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 6
    assert len({t.number for t in trials}) == len(trials)
    assert {t.user_attrs["worker"] for t in trials} == {1, 2, 3}
    runs = _runs("tiny")
    assert sorted(r.info.run_id for r in runs) == sorted(t.user_attrs["mlflow_run_id"] for t in trials)
    assert all(r.info.status == "FINISHED" for r in runs)
    parent = MlflowClient(default_tracking_uri()).get_run(runs[0].data.tags["mlflow.parentRunId"])
    assert parent.data.tags["glasstune.optuna_storage"] == secret_url.replace("hunter2", "***")
    logs = "".join(path.read_text() for path in (tmp_path / "mlruns" / "logs" / "tiny").glob("*.log"))
    assert "hunter2" not in result.stdout + result.stderr + logs
    doctor = cli("doctor", "tiny", "--storage", postgres_url)
    assert doctor.exit_code == 0 and "0 problem(s) found" in doctor.stdout, doctor.stdout + doctor.stderr


@pytest.mark.slow
def test_killed_worker_trial_is_failed_retried_and_closed_in_mlflow(cli, write_study, postgres_url, monkeypatch):
    monkeypatch.setenv("GLASSTUNE_HEARTBEAT_SECONDS", "1")
    path = write_study(name="slow", body=SLOW_STUDY)
    optuna.storages.RDBStorage(postgres_url)  # the schema first: polling below must not race the worker making it
    worker = subprocess.Popen([sys.executable, "-m", "glasstune", "run", str(path), "--storage", postgres_url,
                               "--no-progress"], env=os.environ.copy(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    running = []
    while time.monotonic() < deadline and not running:
        time.sleep(0.5)
        try:
            study = optuna.load_study(study_name="slow", storage=postgres_url)
            # a trial with its run and its parameter: killed before suggest_float, a retry has nothing to repeat
            running = [t for t in study.trials
                       if t.state.name == "RUNNING" and "mlflow_run_id" in t.user_attrs and t.params]
        except KeyError:
            continue
    assert running, "the worker never started a trial"
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    killed = running[0]
    time.sleep(6)  # past the grace period of 4 heartbeats

    monkeypatch.setenv("GLASSTUNE_HEARTBEAT_SECONDS", "1")
    result = cli("run", path, "--storage", postgres_url, "--no-progress")
    assert result.exit_code == 0, result.stderr
    trials = optuna.load_study(study_name="slow", storage=postgres_url).trials
    assert trials[killed.number].state.name == "FAIL"
    retry = [t for t in trials if t.number != killed.number and t.params == killed.params]
    assert retry and retry[0].state.name == "COMPLETE"
    assert retry[0].user_attrs["seed"] == killed.user_attrs["seed"]  # a retry is the same trial again
    assert len([t for t in trials if t.state.name == "COMPLETE"]) == 2
    client = MlflowClient(default_tracking_uri())
    assert client.get_run(killed.user_attrs["mlflow_run_id"]).info.status == "FAILED"
    assert not [r for r in _runs("slow") if r.info.status == "RUNNING"]
    assert cli("doctor", "slow", "--storage", postgres_url).exit_code == 0  # the stores agree again
