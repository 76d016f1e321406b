"""Open an Optuna storage from a URL, with one-line errors and heartbeats where they work.

RDB storages (SQLite, PostgreSQL, MySQL) get a heartbeat: a trial whose worker died is marked FAIL
after the grace period and retried with the same parameters by ``RetryHeartbeatStaleTrialCallback``.
"""

from __future__ import annotations

import os
from typing import Any

from glasstune.config import sqlite_path
from glasstune.errors import StoreError
from glasstune.urls import redact

HEARTBEAT_SECONDS = 30
MAX_RETRIES = 2


def open_storage(url: str, *, heartbeat: bool = True) -> Any:
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    database = sqlite_path(url)
    if database is not None:
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"Optuna storage {url}: cannot create {database.parent} ({error})") from error
    if "://" not in url:
        raise StoreError(
            f"Optuna storage {redact(url)!r} is not a URL; use sqlite:///path/optuna.db "
            f"or postgresql://user@host/database"
        )
    options: dict[str, Any] = {}
    if heartbeat:
        interval = int(os.environ.get("GLASSTUNE_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS))
        options = {
            "heartbeat_interval": interval,
            "grace_period": 4 * interval,
            "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=MAX_RETRIES
            ),
        }
    engine_kwargs = {"connect_args": {"timeout": 30}} if database is not None else {}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **options)
    except Exception as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StoreError(
            f"Optuna storage {redact(url)} cannot be opened: {message[:200]}; "
            f"check the URL (--storage or $GLASSTUNE_STORAGE) and that the database is running"
        ) from error


def study_names(storage: Any) -> list[str]:
    import optuna

    return sorted(summary.study_name for summary in optuna.study.get_all_study_summaries(storage))
