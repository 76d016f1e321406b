"""Open an Optuna storage from a URL, with one-line errors and heartbeats where they work.

RDB storages (SQLite, PostgreSQL, MySQL) get a heartbeat: a trial whose worker died is marked FAIL
after the grace period and retried with the same parameters by ``RetryHeartbeatStaleTrialCallback``.
A journal file (``journal:///path/study.log``, Optuna's ``JournalStorage``) has no heartbeat: a trial
left RUNNING by a dead process stays RUNNING until ``glasstune doctor --repair --stale-after S`` or
``glasstune run --fail-stale`` fails it (see ``glasstune.doctor``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from glasstune.config import sqlite_path
from glasstune.errors import StoreError, one_line
from glasstune.locks import CONNECT_TIMEOUT_SECONDS, creation_lock
from glasstune.urls import redact

HEARTBEAT_SECONDS = 30
SQLITE_TIMEOUT_SECONDS = 30.0
MAX_RETRIES = 2
JOURNAL_PREFIX = "journal:///"
log = logging.getLogger(__name__)
T = TypeVar("T")
DIALECT_HINT = "use sqlite:///path/optuna.db, postgresql://user@host/database or journal:///path/study.log"


def journal_path(url: str) -> Path | None:
    """The file behind a ``journal:///`` URL (same convention as ``sqlite:///``), or None."""
    return Path(url[len(JOURNAL_PREFIX):]) if url.startswith(JOURNAL_PREFIX) else None


def open_storage(url: str, *, heartbeat: bool = True) -> Any:
    """The storage behind ``url``; RDB storages get heartbeats unless ``heartbeat`` is False
    (read-only commands), so a trial of a dead worker is failed and retried by the next worker."""
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    database = sqlite_path(url) or journal_path(url)
    if database is not None:
        try:
            database.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"Optuna storage {url}: cannot create {database.parent} ({error})") from error
    if "://" not in url:
        raise StoreError(f"Optuna storage {redact(url)!r} is not a URL; {DIALECT_HINT}")
    if journal_path(url) is not None:
        return _open_journal(url, journal_path(url))
    _check_url(url)
    options: dict[str, Any] = {}
    if heartbeat:
        interval = heartbeat_seconds()
        options = {
            "heartbeat_interval": interval,
            "grace_period": 4 * interval,
            "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=MAX_RETRIES
            ),
        }
    if database is not None:
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": sqlite_timeout()}}
    elif url.startswith("postgresql"):  # a host that drops packets must not hang for minutes
        engine_kwargs = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS}}
    else:
        engine_kwargs = {}
    try:
        with creation_lock(url, database):  # two first runs at once must not both create the tables
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **options)
    except Exception as error:
        raise StoreError(
            f"Optuna storage {redact(url)} cannot be opened: {_reason(error)}; "
            f"check the URL (--storage or $GLASSTUNE_STORAGE) and that the database is running"
        ) from error


def sqlite_timeout() -> float:
    """How long one write waits for a locked SQLite file: ``$GLASSTUNE_SQLITE_TIMEOUT`` or 30 s
    (a write that still fails is retried, see ``with_retries``)."""
    text = os.environ.get("GLASSTUNE_SQLITE_TIMEOUT", str(SQLITE_TIMEOUT_SECONDS))
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise StoreError(f"GLASSTUNE_SQLITE_TIMEOUT={text!r}: give a number of seconds above 0")
    return value


def heartbeat_seconds() -> int:
    """The heartbeat interval: ``$GLASSTUNE_HEARTBEAT_SECONDS`` or 30; a trial is stale after four."""
    text = os.environ.get("GLASSTUNE_HEARTBEAT_SECONDS", str(HEARTBEAT_SECONDS))
    if not text.strip().isdigit() or int(text) < 1:
        raise StoreError(f"GLASSTUNE_HEARTBEAT_SECONDS={text!r}: give a whole number of seconds, 1 or more")
    return int(text)


def has_heartbeat(storage: Any) -> bool:
    """Whether stale RUNNING trials of this storage can be told apart from live ones by heartbeat."""
    interval = getattr(storage, "get_heartbeat_interval", lambda: None)()
    return interval is not None


def _open_journal(url: str, path: Path) -> Any:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    check_journal(path)
    try:
        return JournalStorage(JournalFileBackend(str(path)))
    except Exception as error:
        raise StoreError(f"Optuna storage {url} cannot be opened: {_reason(error)}") from error


def check_journal(path: Path) -> Path | None:
    """A journal whose last record was cut short (its process died mid-append) gets that tail set
    aside in a backup file beside it, before anything is appended: otherwise the next record would
    be glued to it and the study could no longer be read. A damaged record before the end is
    refused with its line number. Returns the backup's path when a tail was set aside."""
    import datetime as dt
    import json

    from optuna.storages.journal import JournalFileSymlinkLock

    if not path.exists() or path.stat().st_size == 0:
        return None
    lock = JournalFileSymlinkLock(str(path))  # Optuna's own append lock: no record is half-written now
    lock.acquire()
    try:
        content = path.read_bytes()
        end = content.rfind(b"\n") + 1
        for number, line in enumerate(content[:end].splitlines(), start=1):
            try:
                json.loads(line)
            except ValueError as error:
                raise StoreError(f"Optuna journal {path}: record {number} is damaged ({line[:40]!r}...); "
                                 f"restore the file from a backup, or remove that line if it is the only "
                                 f"damage") from error
        if end == len(content):
            return None
        backup = path.with_name(f"{path.name}.damaged-{dt.datetime.now():%Y%m%d-%H%M%S}")
        backup.write_bytes(content[end:])
        with open(path, "r+b") as handle:
            handle.truncate(end)
    finally:
        lock.release()
    print(f"note: Optuna journal {path}: its last record was cut short (a process died while writing it); "
          f"set aside in {backup.name}", file=sys.stderr, flush=True)
    return backup


def _check_url(url: str) -> None:
    """A malformed database URL (a port that is no number...) said as such, not as a driver error."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 (parsed lazily: this is where a bad port shows)
    except Exception as error:
        raise StoreError(f"Optuna storage {redact(url)} is not a valid database URL ({_reason(error)}); "
                         f"e.g. postgresql://user@host:5432/database") from error


def _reason(error: BaseException) -> str:
    """The part of a driver's error a user can act on."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    if "Can't load plugin: sqlalchemy.dialects:" in first:
        dialect = first.rsplit(":", 1)[-1].replace(".", "+")
        return f"unknown database dialect {dialect!r} ({DIALECT_HINT})"
    return redact(first)[:200]  # a driver may quote the URL, password and all


def study_names(storage: Any) -> list[str]:
    import optuna

    return sorted(summary.study_name for summary in optuna.study.get_all_study_summaries(storage))


def finished_trials(study: Any) -> list[Any]:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def best_trial_info(study: Any) -> dict[str, Any] | None:
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    best = study.best_trial
    return {"number": best.number, "value": best.value, "params": best.params,
            "user_attrs": best.user_attrs}


RETRY_PAUSES = (1.0, 2.0, 4.0, 8.0, 16.0)
"""Seconds between attempts at a storage write that failed (each attempt also waits for a locked
SQLite file as long as the connect timeout), so a lock held for a minute costs no result."""


def with_retries(write: Callable[[], T], what: str, pauses: Sequence[float] = RETRY_PAUSES) -> T:
    """``write()``, tried again after each pause while the storage refuses it (locked, away); the last
    refusal is raised. Optuna's own refusals of the request itself (a finished trial...) are not retried."""
    for pause in [*pauses, None]:
        try:
            return write()
        except (ValueError, RuntimeError, TypeError):
            raise
        except Exception as error:
            if pause is None:
                raise
            log.warning("%s failed (%s); again in %.0f s", what, one_line(error), pause)
            time.sleep(pause)
    raise AssertionError("unreachable")
