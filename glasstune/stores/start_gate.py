"""One trial starts at a time per study, so workers together finish exactly the budget.

A worker decides to start a trial by counting the study's finished and running trials; two workers
that count at the same moment would both start one and overshoot the budget. The gate is a lock
held from that count until the new trial exists as RUNNING (for a few milliseconds): the next
worker to count sees it. The lock is PostgreSQL's advisory lock for a PostgreSQL storage (so workers
on several machines share it), and a file lock otherwise (beside an SQLite or journal file, else in
the local store). Either is freed by the system when its process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import Any

from glasstune.config import STORE_DIR, sqlite_path
from glasstune.errors import StoreError, one_line
from glasstune.stores.optuna_storage import CONNECT_TIMEOUT_SECONDS, journal_path
from glasstune.urls import redact


class StartGate:
    """``admit()`` counts under the lock and keeps it if a trial may start; ``release()`` once the
    trial is RUNNING (or nothing started)."""

    def __init__(self, study: Any, budget: int, storage_url: str) -> None:
        self.study, self.budget = study, budget
        self._lock = _lock_for(storage_url, study.study_name)
        self._held = False

    def admit(self) -> bool:
        """True, with the lock held, if finished + running trials leave room for one more."""
        from optuna.trial import TrialState

        self._lock.acquire()
        self._held = True
        counted = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                TrialState.RUNNING))
        if len(counted) < self.budget:
            return True
        self.release()
        return False

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()

    def close(self) -> None:
        self.release()
        self._lock.close()


def _lock_for(storage_url: str, study_name: str) -> Any:
    if storage_url.startswith("postgresql"):
        return _AdvisoryLock(storage_url, study_name)
    return _FileLock(file_lock_path(storage_url, study_name))


def file_lock_path(storage_url: str, study_name: str) -> Path:
    """The lock file of a study in a storage that is not PostgreSQL: hidden, beside its database file."""
    database = sqlite_path(storage_url) or journal_path(storage_url)
    folder = database.parent if database is not None else STORE_DIR / "locks"
    stem = database.name if database is not None else "study"
    slug = hashlib.blake2b(study_name.encode(), digest_size=8).hexdigest()
    return folder / f".{stem}.{slug}.start-lock"


class _FileLock:
    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise StoreError(f"cannot make the study's start lock {path} ({error.strerror}); "
                             f"make its folder writable") from error

    def acquire(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


class _AdvisoryLock:
    """A session advisory lock on a connection of its own, keyed by the study's name."""

    def __init__(self, url: str, study_name: str) -> None:
        import sqlalchemy

        digest = hashlib.blake2b(f"glasstune start {study_name}".encode(), digest_size=8).digest()
        self._key = int.from_bytes(digest, "big", signed=True)
        self._engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool,
                                                connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
        try:
            self._connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except sqlalchemy.exc.SQLAlchemyError as error:
            raise StoreError(f"Optuna storage {redact(url)}: no connection for the study's start lock "
                             f"({one_line(error)}); check that the database is running") from error
        self._text = sqlalchemy.text

    def acquire(self) -> None:
        self._connection.execute(self._text("SELECT pg_advisory_lock(:key)"), {"key": self._key})

    def release(self) -> None:
        self._connection.execute(self._text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})

    def close(self) -> None:
        self._connection.close()
        self._engine.dispose()
