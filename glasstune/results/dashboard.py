"""Serve optuna-dashboard over the Optuna storage, bound to 127.0.0.1 by default.

The dashboard reads Optuna's own records (trials, intermediate values, importances) live, which
complements MLflow's per-run curves and artifacts.
"""

from __future__ import annotations

from typing import Any

from glasstune.config import sqlite_path
from glasstune.errors import GlasstuneError
from glasstune.urls import redact


def dashboard_url(host: str, port: int) -> str:
    return f"http://{host}:{port}/dashboard/"


def serve_dashboard(storage_url: str, *, host: str, port: int, console: Any) -> None:
    """Blocks until Ctrl-C. A missing SQLite file is an error, not a silently created empty store."""
    database = sqlite_path(storage_url)
    if database is not None and not database.exists():
        raise GlasstuneError(f"no Optuna storage at {database}; run a study first (glasstune run ...)")
    from optuna_dashboard import run_server

    from glasstune.stores.optuna_storage import open_storage

    storage = open_storage(storage_url, heartbeat=False)
    console.print(f"optuna-dashboard on {dashboard_url(host, port)}  (storage {redact(storage_url)}; Ctrl-C to stop)")
    try:
        run_server(storage, host=host, port=port)
    except KeyboardInterrupt:
        pass
