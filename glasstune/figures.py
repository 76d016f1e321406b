"""Matplotlib figures built from plain arrays; callers log them as artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_figure(figure: Any, path: Path | str) -> None:
    """A trial's figure as a PNG file, drawn alike wherever it is drawn (the study, the writer
    process, ``retrain --out``)."""
    figure.savefig(path, dpi=110, bbox_inches="tight")


def plain_number(value: float, _position: int | None = None) -> str:
    """Tick labels as numbers (1, 10, 100) on a log axis of epochs or iterations, not powers of ten.
    A function of a module, not a lambda, so that a figure using it pickles (the MLflow writer
    process draws trials' figures)."""
    return f"{value:g}"
