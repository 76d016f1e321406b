"""Checkpoints that a retried or continued trial resumes from, written so a kill never corrupts one.

``latest.pt`` holds everything to continue bit for bit (weights, optimizer, RNG states, iteration,
history, best-so-far, collapse state) and the configuration it belongs to; ``best.pt`` holds the
best-validation weights. A checkpoint whose configuration fingerprint differs is never resumed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

LATEST = "latest.pt"
BEST = "best.pt"
FORMAT = 1


def fingerprint(config: dict[str, Any]) -> str:
    """A stable hash of a JSON-able configuration (key order does not matter)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write to a temporary name, then rename over the old file (atomic on one file system)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    torch.save({"format": FORMAT, **payload}, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: Path, device: str = "cpu") -> dict[str, Any] | None:
    """The checkpoint's payload, or None when there is none (or an unreadable, partial one)."""
    import torch

    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception:  # a file cut short by a kill, or not a checkpoint at all: start afresh
        return None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        return None
    return payload
