"""Serve MLflow's UI over the study store, bound to 127.0.0.1 by default."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from glasstune.config import sqlite_path
from glasstune.errors import GlasstuneError
from glasstune.urls import redact


def mlflow_ui_command(tracking_uri: str, host: str, port: int) -> list[str]:
    """The server's command line; the store's URI (which may hold a password) is not on it: every
    user of the machine can read a command line (``ps``). It goes in the environment (``server_env``)."""
    command = [sys.executable, "-m", "mlflow", "server", "--host", host, "--port", str(port), "--workers", "1"]
    database = sqlite_path(tracking_uri)
    if database is not None:
        if not database.exists():
            raise GlasstuneError(f"no MLflow store at {database}; run a study first (glasstune run ...)")
        command += ["--default-artifact-root", (database.parent.resolve() / "artifacts").as_uri()]
    return command


def runs_url(host: str, port: int, experiment_id: str | None) -> str:
    """The table of training runs (the experiment's default page shows GenAI traces instead)."""
    base = f"http://{host}:{port}/"
    return f"{base}#/experiments/{experiment_id}/runs" if experiment_id else base


def serve_mlflow(tracking_uri: str, *, host: str, port: int, study: str | None, console: Any) -> None:
    experiment_id = None
    if study:
        from glasstune.stores.tracking import Tracker

        experiment_id = Tracker.open(tracking_uri).find_experiment(study)
        if experiment_id is None:
            raise GlasstuneError(f"no MLflow experiment named {study!r} in {redact(tracking_uri)}")
    command = mlflow_ui_command(tracking_uri, host, port)
    console.print(f"MLflow UI on {runs_url(host, port, experiment_id)}  (Ctrl-C to stop)")
    run_server_group(command, {**os.environ, "MLFLOW_BACKEND_STORE_URI": tracking_uri})


def run_server_group(command: list[str], env: dict[str, str] | None = None) -> None:
    """Run a server until it ends or this process is stopped (Ctrl-C or SIGTERM); then stop the
    server and every process it started. MLflow's server starts uvicorn and job consumers of its own,
    which outlived a plain SIGTERM to ``glasstune ui`` and kept the port."""
    server = subprocess.Popen(command, start_new_session=True, env=env)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop_group(server)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop_group(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group; after the server ends (10 s at most), SIGKILL to
    whatever of the group is left."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait()
