"""Locks between processes: a file lock (POSIX ``flock``) and PostgreSQL's advisory lock.

Either is released by the system when its holder dies, so a killed process never leaves one taken.
They serialise what several processes must not do at once: make a built-in data set, create a
store's tables, start a trial of a study (``glasstune.stores.start_gate``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CONNECT_TIMEOUT_SECONDS = 10


class FileLock:
    """An exclusive ``flock`` on ``path`` (created if missing); ``OSError`` if it cannot be made."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def acquire(self, blocking: bool = True) -> bool:
        import fcntl

        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        import fcntl

        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


class AdvisoryLock:
    """A PostgreSQL session advisory lock keyed by ``name``, on a connection of its own: processes on
    several machines that share the database share the lock. Raises SQLAlchemy's error if no
    connection can be made."""

    def __init__(self, url: str, name: str) -> None:
        import sqlalchemy

        digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
        self._key = int.from_bytes(digest, "big", signed=True)
        self._engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool,
                                                connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
        try:
            self._connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except Exception:
            self._engine.dispose()
            raise
        self._text = sqlalchemy.text

    def acquire(self) -> None:
        self._connection.execute(self._text("SELECT pg_advisory_lock(:key)"), {"key": self._key})

    def release(self) -> None:
        self._connection.execute(self._text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})

    def close(self) -> None:
        self._connection.close()
        self._engine.dispose()


@contextlib.contextmanager
def file_lock(path: Path, waiting: str | None = None) -> Iterator[None]:
    """Hold an exclusive lock tied to ``path`` (a hidden ``.NAME.lock`` beside it); ``waiting`` is
    printed (stderr) if another process holds it. ``OSError`` if the lock file cannot be made."""
    lock = FileLock(path.with_name(f".{path.name}.lock"))
    try:
        if not lock.acquire(blocking=False):
            if waiting:
                print(waiting, file=sys.stderr, flush=True)
            lock.acquire()
        try:
            yield
        finally:
            lock.release()
    finally:
        lock.close()


@contextlib.contextmanager
def creation_lock(url: str, database: Path | None) -> Iterator[None]:
    """One process at a time creates (or migrates) a store's tables: a file lock beside an SQLite or
    journal file, an advisory lock on PostgreSQL, nothing for other stores. Two first runs in an
    empty folder otherwise both try to create the same tables, and one fails."""
    if database is not None:
        held = contextlib.ExitStack()
        with contextlib.suppress(OSError):  # a folder we cannot write: we create nothing there either
            held.enter_context(file_lock(database))
        with held:
            yield
    elif url.startswith("postgresql"):
        lock: Any = AdvisoryLock(url, "glasstune create tables")
        try:
            lock.acquire()
            yield
        finally:
            with contextlib.suppress(Exception):
                lock.release()
            lock.close()
    else:
        yield
