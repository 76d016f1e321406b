"""One trial starts at a time per study, so workers together finish exactly the budget.

A worker decides to start a trial by counting the study's finished and running trials; two workers
that count at the same moment would both start one and overshoot the budget. The gate is a lock
held from that count until the new trial exists as RUNNING (for a few milliseconds): the next
worker to count sees it. The lock is PostgreSQL's advisory lock for a PostgreSQL storage (so workers
on several machines share it), and a file lock otherwise (beside an SQLite or journal file, else in
the local store). Either is freed by the system when its process dies.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from glasstune.config import STORE_DIR, sqlite_path
from glasstune.errors import StoreError, one_line
from glasstune.locks import AdvisoryLock, FileLock
from glasstune.stores.optuna_storage import journal_path
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
        try:
            return AdvisoryLock(storage_url, f"glasstune start {study_name}")
        except Exception as error:
            raise StoreError(f"Optuna storage {redact(storage_url)}: no connection for the study's start lock "
                             f"({one_line(error)}); check that the database is running") from error
    path = file_lock_path(storage_url, study_name)
    try:
        return FileLock(path)
    except OSError as error:
        raise StoreError(f"cannot make the study's start lock {path} ({error.strerror}); "
                         f"make its folder writable") from error


def file_lock_path(storage_url: str, study_name: str) -> Path:
    """The lock file of a study in a storage that is not PostgreSQL: hidden, beside its database file."""
    database = sqlite_path(storage_url) or journal_path(storage_url)
    folder = database.parent if database is not None else STORE_DIR / "locks"
    stem = database.name if database is not None else "study"
    slug = hashlib.blake2b(study_name.encode(), digest_size=8).hexdigest()
    return folder / f".{stem}.{slug}.start-lock"
