"""The report's figures of a whole study in the lab's words: the score by trial number and the
intermediate values against epochs (or iterations), the best trial marked on both.

Functions take plain values and return a Figure on the Agg canvas; the caller names the score, the
step unit and the data set (which every title carries).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from glasstune.figures import plain_number


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def score_by_trial(numbers: Sequence[int], values: Sequence[float], states: Sequence[str], *, best: int | None,
                   score: str, title: str, maximise: bool = True,
                   baseline: tuple[str, float, float] | None = None) -> Figure:
    """Each finished trial's score against its number (complete: dots; pruned: crosses at the value
    they were stopped with), the best score so far as a step line, the best trial starred, and the
    baseline (name, score, spread) as a band."""
    figure = _figure(8, 4.6)
    axis = figure.subplots()
    numbers_array, values_array = np.asarray(numbers), np.asarray(values, dtype=float)
    complete = np.asarray([state == "COMPLETE" for state in states])
    pruned = np.asarray([state == "PRUNED" for state in states])
    if baseline is not None:
        name, level, spread = baseline
        axis.axhspan(level - spread, level + spread, color="grey", alpha=0.15, lw=0)
        axis.axhline(level, color="grey", lw=1.2, ls="--", label=f"baseline: {name} ({level:.3f})")
    if complete.any():
        running = (np.maximum if maximise else np.minimum).accumulate(values_array[complete])
        axis.step(numbers_array[complete], running, where="post", color="tab:blue", lw=1.2, alpha=0.7,
                  label="best so far")
        axis.scatter(numbers_array[complete], values_array[complete], color="tab:blue", s=28, label="complete")
    if pruned.any():
        axis.scatter(numbers_array[pruned], values_array[pruned], marker="x", color="tab:orange", s=36,
                     label="pruned (score when stopped)")
    if best is not None and best in list(numbers):
        i = list(numbers).index(best)
        axis.scatter([best], [values_array[i]], marker="*", s=280, color="gold", edgecolor="black", zorder=5,
                     label=f"best: trial {best} ({values_array[i]:.3f})")
        axis.annotate(f"trial {best}", (best, values_array[i]), xytext=(6, 8), textcoords="offset points",
                      fontsize=8)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("trial number")
    return _finished(figure, axis, score, title)


def intermediate_curves(curves: Mapping[int, tuple[Sequence[int], Sequence[float]]], states: Mapping[int, str], *,
                        best: int | None, score: str, unit: str, title: str) -> Figure:
    """Each trial's reported values against its steps (epochs, iterations) on a log axis when they
    span more than a decade: complete trials in blue, pruned ones in orange ending in a cross where
    they were stopped, the best trial thick."""
    figure = _figure(8, 4.8)
    axis = figure.subplots()
    labelled: set[str] = set()
    all_steps: list[int] = []
    for number, (steps, values) in sorted(curves.items()):
        if not len(steps):
            continue
        all_steps.extend(steps)
        state = states.get(number, "")
        colour = "tab:orange" if state == "PRUNED" else "tab:blue"
        label = {"PRUNED": "pruned", "COMPLETE": "complete"}.get(state, state.lower())
        axis.plot(steps, values, color=colour, lw=0.9, alpha=0.55, marker=".", ms=3,
                  label=None if label in labelled else label)
        labelled.add(label)
        if state == "PRUNED":
            axis.scatter([steps[-1]], [values[-1]], marker="x", color="firebrick", s=30, zorder=4,
                         label=None if "stopped" in labelled else "where the pruner stopped a trial")
            labelled.add("stopped")
    if best is not None and best in curves and len(curves[best][0]):
        steps, values = curves[best]
        axis.plot(steps, values, color="black", lw=2.2, marker="o", ms=4, zorder=5, label=f"best: trial {best}")
    positive = [step for step in all_steps if step > 0]
    if positive and max(positive) / min(positive) > 10:
        axis.set_xscale("log")
        axis.xaxis.set_major_formatter(FuncFormatter(plain_number))
        axis.set_xlabel(f"{unit} (log scale)")
    else:
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel(unit)
    return _finished(figure, axis, score, title)


def _finished(figure: Figure, axis: Any, score: str, title: str) -> Figure:
    """The score's label, the title, a light grid and the legend outside the axes."""
    axis.set_ylabel(score)
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    figure.tight_layout()
    return figure
