"""The trials table as a person reads it: few columns that fit 80 characters, scores at 3 decimals,
the lab's words in the headers and above the table.

``trials_frame`` keeps every column for scripts (``--format csv|json``); this view chooses and
formats what the terminal shows: by default the trial, its state, its score, the objective's other
summary values (a value that only repeats the score is left out), its time and why it stopped.
``--columns`` picks columns by their names in the csv, ``--wide`` shows all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from glasstune.errors import GlasstuneError
from glasstune.results.trials import summary_columns
from glasstune.results.words import COLUMNS, baseline_words, data_words, metric_words


@dataclass
class TableView:
    title: str
    notes: list[str]
    """Lines printed above the table: what the score is, the data set, the baseline."""
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    """Which columns hold numbers (right-aligned, never folded)."""


def trials_view(study: Any, frame: Any, *, columns: list[str] | None = None, wide: bool = False) -> TableView:
    """The columns to show, with their headers and cells as text."""
    chosen = _choose(study, frame, columns, wide)
    words = metric_words(study)
    best = study.best_trial.value if any(state == "COMPLETE" for state in frame.get("state", [])) else None
    notes = [f"score: {words} ({study.direction.name.lower()}) · data: {data_words(study)}"]
    baseline = baseline_words(study, best)
    if baseline:
        notes.append(f"baseline: {baseline}")
    headers = [COLUMNS.get(name, name.removeprefix("param_")) for name in chosen]
    rows = [[_cell(name, value, wide) for name, value in zip(chosen, row, strict=True)]
            for row in frame[chosen].itertuples(index=False)] if chosen else []
    numeric = [name not in ("state", "note") and _is_numeric(frame[name]) for name in chosen]
    return TableView(f"trials of {study.study_name}", notes, headers, rows, numeric)


def _choose(study: Any, frame: Any, columns: list[str] | None, wide: bool) -> list[str]:
    available = list(frame.columns)
    if columns:
        unknown = [name for name in columns if name not in available and f"param_{name}" not in available]
        if unknown:
            raise GlasstuneError(f"no column {', '.join(map(repr, unknown))} in the trials of {study.study_name}; "
                                 f"choose from: {', '.join(available)}")
        return [name if name in available else f"param_{name}" for name in columns]
    if wide:
        return available
    summary = [name for name in summary_columns(study) if name in available and not _repeats(frame, name)]
    return [name for name in ("number", "state", "value", *summary, "duration_s", "note") if name in available]


def _repeats(frame: Any, name: str) -> bool:
    """A summary column that equals the score wherever both are known (the MLP's cv_score)."""
    if "value" not in frame.columns or not _is_numeric(frame[name]):
        return False
    both = frame[["value", name]].dropna()
    return bool(len(both)) and all(math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
                                   for a, b in both.itertuples(index=False))


def _is_numeric(series: Any) -> bool:
    values = [value for value in series if value is not None and not (isinstance(value, float) and math.isnan(value))]
    return bool(values) and all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values)


def _cell(name: str, value: Any, wide: bool) -> str:
    value = value.item() if hasattr(value, "item") else value  # numpy scalars as Python's
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if name == "duration_s":
        return _duration(float(value))
    if name == "note" and not wide:
        return str(value).removeprefix("pruned at ")  # the state column already says it was pruned
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if name.startswith("param_"):
            return f"{value:.3g}"
        return f"{value:+.3f}" if name == "gap" else f"{value:.3f}"
    return str(value)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
