"""Signals that ask a study to stop are handled as Ctrl-C is: the running trial ends as interrupted,
its run KILLED, the parent run closed, and the same command resumes the study.

SLURM and other schedulers send SIGTERM at a job's time limit (then SIGKILL after a grace period);
a closed terminal or SSH session sends SIGHUP. Without a handler either would kill the process and
leave its trial RUNNING until the next run recovers it.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

from glasstune.errors import Stopped

SIGNALS = ("SIGTERM", "SIGHUP")


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise ``Stopped`` (a KeyboardInterrupt) in the main
    thread; the previous handlers come back afterwards."""
    previous: dict[int, Any] = {}

    def stop(number: int, frame: Any) -> None:
        raise Stopped(signal.Signals(number).name, number)

    for name in SIGNALS:
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
