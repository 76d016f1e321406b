"""Which process runs a trial, recorded so that a dead one is recognised on the same machine.

A trial's owner is its host, the machine's boot id, the process id and the process's start time.
On the same host the owner is gone when the machine rebooted since, when no process has that id,
or when the process with that id started at another time (the id was reused). Other hosts cannot
be judged here: the storage's heartbeat is for them.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Any


def owner() -> dict[str, Any]:
    """Who runs a trial: enough to tell later, on the same machine, whether that process still lives."""
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": os.getpid(), "start": _start_ticks(os.getpid())}


def owner_is_gone(recorded: Any) -> bool:
    """True when the recorded owner is a process of this machine that no longer runs; False when it
    runs, or when it belongs to another machine (that is the heartbeat's to judge)."""
    if not isinstance(recorded, dict) or recorded.get("host") != socket.gethostname():
        return False
    if recorded.get("boot") and _boot_id() and recorded["boot"] != _boot_id():
        return True  # the machine rebooted (power loss): nothing of before runs
    pid = recorded.get("pid")
    if not isinstance(pid, int):
        return False
    now = _start_ticks(pid)
    if now is None:
        return not _exists(pid)
    return recorded.get("start") is not None and now != recorded["start"]  # the id was given to another process


def _boot_id() -> str | None:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return None


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), or None where unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text.rsplit(")", 1)[1].split()[19])  # field 22; the name before ")" may hold spaces


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
