"""A team's set-up, for real: an MLflow tracking server (PostgreSQL backend store, artifacts proxied
to a local folder) on 127.0.0.1, three workers sharing a PostgreSQL Optuna storage, and the server
restarted mid-study. Every trial ends with exactly one run, with its metrics, its files and the
status of its trial (docs/scaling.md describes this set-up)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.conftest import TINY_STUDY


@pytest.fixture
def second_database(postgres_url):
    """Another fresh database on the same server, for MLflow's tables (Optuna's and MLflow's would
    share a table name in one database)."""
    import psycopg

    name = f"glasstune_mlflow_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True)
    admin.execute(f"CREATE DATABASE {name}")
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(backend: str, artifacts, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--artifacts-destination", str(artifacts)],
        env={**os.environ, "MLFLOW_BACKEND_STORE_URI": backend}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    os.killpg(server.pid, signal.SIGKILL)
    pytest.fail("the MLflow server did not start in 180 s")


def _stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


@pytest.mark.slow
@pytest.mark.postgres
def test_three_workers_and_a_tracking_server_that_restarts(write_study, tmp_path, postgres_url, second_database):
    port = _free_port()
    tracking = f"http://127.0.0.1:{port}"
    artifacts = tmp_path / "server-artifacts"
    server = _start_server(second_database, artifacts, port)
    body = TINY_STUDY.format(name="team", n_trials=9, pruner="optuna.pruners.NopPruner()")
    path = write_study(name="team", body=body.replace('"max_iter": trial.suggest_int("max_iter", 5, 15)',
                                                      '"max_iter": trial.suggest_int("max_iter", 150, 200)'))
    study_run = subprocess.Popen(
        [sys.executable, "-m", "glasstune", "run", str(path), "--workers", "3", "--no-progress"],
        env={**os.environ, "GLASSTUNE_STORAGE": postgres_url, "MLFLOW_TRACKING_URI": tracking},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        finished = 0
        while time.monotonic() < deadline and finished < 2:
            time.sleep(1)
            try:
                study = optuna.load_study(study_name="team", storage=postgres_url)
                finished = len(study.get_trials(states=(TrialState.COMPLETE,)))
            except Exception:
                pass
        assert finished >= 2 and study_run.poll() is None, "the study ended before the restart"
        _stop_server(server)  # mid-study: workers are training, their records wait for the server
        time.sleep(3)
        server = _start_server(second_database, artifacts, port)
        _, stderr = study_run.communicate(timeout=600)
        assert study_run.returncode == 0, stderr
        study = optuna.load_study(study_name="team", storage=postgres_url)
        trials = study.get_trials(states=(TrialState.COMPLETE,))
        assert len(trials) == 9 and not study.get_trials(states=(TrialState.RUNNING, TrialState.FAIL))
        client = MlflowClient(tracking)
        experiment = client.get_experiment_by_name("team").experiment_id
        runs = client.search_runs([experiment], "tags.`glasstune.role` = 'trial'", max_results=100)
        by_trial = {}
        for run in runs:
            by_trial.setdefault(int(run.data.tags["glasstune.trial_number"]), []).append(run)
        assert sorted(by_trial) == sorted(t.number for t in trials)
        for number, found in by_trial.items():
            assert len(found) == 1, (number, [r.info.run_id for r in found])
            run = found[0]
            assert run.info.status == "FINISHED" and run.data.tags["glasstune.state"] == "COMPLETE"
            assert "cv_balanced_accuracy" in run.data.metrics and "glasstune.records_lost" not in run.data.tags
            assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"folds.csv", "loss_curves.png"}
    finally:
        if study_run.poll() is None:
            study_run.kill()
        _stop_server(server)
