"""Matplotlib figures built from plain arrays; callers log them as artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_figure(figure: Any, path: Path | str) -> None:
    """A trial's figure as a PNG file, drawn alike wherever it is drawn (the study, the writer
    process, ``retrain --out``)."""
    figure.savefig(path, dpi=110, bbox_inches="tight")
