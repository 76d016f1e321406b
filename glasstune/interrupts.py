"""Stopping a study from outside: Ctrl-C, SIGTERM (a scheduler's time limit), SIGHUP (a closed
terminal). Each is handled as Ctrl-C is: the running trial ends as interrupted, its run KILLED, the
parent run closed, and the same command resumes the study. Without a handler SIGTERM and SIGHUP
would kill the process and leave its trial RUNNING until the next run recovers it.

A stop that arrives while glasstune writes to a store is held until the write is done
(``deferred_signals``): an exception raised in the middle of a database commit could leave the
storage's session unusable for the writes that record the interruption itself.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from glasstune.errors import INTERRUPTED

SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
_held: list[tuple[str, int]] = []
_depth = 0


class Stopped(KeyboardInterrupt):
    """A signal that asks glasstune to stop (SIGTERM from a scheduler at its time limit, SIGHUP when
    the terminal goes): handled as Ctrl-C is, the trial ended and the study left to resume."""

    def __init__(self, signal_name: str, signal_number: int) -> None:
        super().__init__(signal_name)
        self.signal_name, self.signal_number = signal_name, signal_number


def interrupted_reason(error: BaseException) -> str:
    """What an interrupted trial records: ``interrupted (Ctrl-C)``, ``interrupted (SIGTERM)``..."""
    return f"interrupted ({error.signal_name})" if isinstance(error, Stopped) else INTERRUPTED




def _stop(number: int) -> KeyboardInterrupt:
    name = signal.Signals(number).name
    return KeyboardInterrupt() if name == "SIGINT" else Stopped(name, number)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold a stop that arrives inside the block until the block is done (main thread only)."""
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _held:
            name, number = _held.pop()
            _held.clear()
            raise _stop(number)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While the block runs, SIGINT raises KeyboardInterrupt and SIGTERM and SIGHUP raise ``Stopped``
    in the main thread, except inside ``deferred_signals``; the previous handlers come back afterwards."""
    previous: dict[int, Any] = {}

    def stop(number: int, frame: Any) -> None:
        if _depth:
            _held.append((signal.Signals(number).name, number))
            return
        raise _stop(number)

    for name in SIGNALS:
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
