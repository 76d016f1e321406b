"""Trials whose process died are found and redone without a doctor.

Every trial records its owner: host, boot, process id and the process's start time. A re-run on the
same machine sees at once that an owner is gone (killed, out of memory, power loss: the process no
longer exists, or another process now has its id, or the machine rebooted) and fails the trial; its
parameters are retried as a new trial with the same seed, and its run is closed FAILED. Trials of
other machines are judged by the storage's heartbeat, as Optuna does (RDB storages); a journal file
has no heartbeat, so only same-machine owners are judged there (``--fail-stale`` or ``doctor``
handles the rest). While a trial runs, a thread records its heartbeat.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any


def recover(study: Any, storage: Any, tracker: Any) -> list[int]:
    """Fail and retry the trials whose process died (this machine: at once; elsewhere: after the
    heartbeat's grace period), closing their runs FAILED. Returns the failed trial numbers."""
    from glasstune.stores.doctor import fail_stale_trials

    return fail_stale_trials(study, storage, tracker, everything_running=False)


@contextlib.contextmanager
def heartbeat(storage: Any, trial_ids: list[int]) -> Iterator[None]:
    """Record the trials' heartbeats every interval while the block runs (RDB storages only), so
    that other machines can tell these trials are alive."""
    interval = getattr(storage, "get_heartbeat_interval", lambda: None)()
    if not interval:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            for trial_id in trial_ids:
                with contextlib.suppress(Exception):  # a missed beat is retried at the next interval
                    storage.record_heartbeat(trial_id)
            stop.wait(interval)

    thread = threading.Thread(target=beat, name="glasstune-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
