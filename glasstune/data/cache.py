"""The data cache: make a built-in data set once, even when several processes ask at the same time.

Writers put a file in place by writing a temporary name and renaming it (atomic on one file
system), so a reader never sees half a file. That alone would let N workers of a SLURM array all
simulate the same set; ``ensure_cached`` also takes an exclusive lock on a hidden ``.NAME.lock``
beside the file, so the first process makes it and the others wait, then load what it wrote.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from glasstune import locks
from glasstune.errors import DataError


def file_tag(value: float) -> str:
    """A number for a cache file name, without dots: the provenance sidecar is named after the part
    before the first dot, so ``T0.45`` and ``T0.5`` would share one sidecar."""
    return f"{value:g}".replace(".", "p").replace("-", "m")


@contextlib.contextmanager
def file_lock(path: Path, waiting: str | None = None) -> Iterator[None]:
    """``glasstune.locks.file_lock`` on the data cache: a folder we cannot write is the user's to fix."""
    held = contextlib.ExitStack()
    try:
        held.enter_context(locks.file_lock(path, waiting))
    except OSError as error:
        raise DataError(f"{path.parent}: cannot write to the data cache ({error.strerror}); "
                        f"set GLASSTUNE_DATA_DIR to a writable folder") from error
    with held:
        yield


def ensure_cached(path: Path, make: Callable[[Path], object], *, name: str = "",
                  announce: str | None = None) -> Path:
    """``path`` if it exists; else ``make(path)`` once, under the lock, and return ``path``.

    ``announce`` is printed (stderr) before making, so a first use that takes minutes says why.
    Leftover temporary files of a killed writer (``.NAME.*.partial*``) are removed first: while
    we hold the lock nobody else is writing them.
    """
    if path.exists():
        return path
    label = name or path.name
    with file_lock(path, waiting=f"{label}: another process is making it; waiting for it"):
        if path.exists():  # made while we waited
            return path
        for leftover in path.parent.glob(f".{path.stem}.*.partial*"):
            with contextlib.suppress(OSError):
                leftover.unlink()
        if announce:
            print(announce, file=sys.stderr, flush=True)
        make(path)
        if not path.exists():
            raise DataError(f"{label}: making it did not write {path}")
    return path
