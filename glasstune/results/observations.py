"""What a transfer matrix shows, in words: the lab's three expectations checked one by one.

Phrased as observations with their numbers and spreads, never as conclusions: with few frames or
synthetic data a "peak" can be noise, and the text says how large the differences are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glasstune.data.provenance import provenance_label


def observations(result: Any, metric: str = "balanced_accuracy") -> str:
    mean, std = result.matrix(metric), result.matrix(metric, "std")
    temps = result.temperatures
    seeds = int(result.scores["replicate"].nunique())
    lines = [f"Temperature transfer on {provenance_label(result.provenance)}",
             f"metric: held-out {metric.replace('_', ' ')}, mean over {seeds} replicate(s)"
             + (" (std in brackets)" if seeds > 1 else " (one replicate: no spread measured)"),
             ""]
    if result.provenance.get("synthetic"):
        lines += ["These data are SYNTHETIC (a statistical stand-in): the numbers test the pipeline, "
                  "not the physics.", ""]
    lines += _diagonal(mean, std, temps) + [""] + _slopes(mean, temps) + [""] + _ordering(mean, std, temps)
    lines += [""] + _baseline(result, mean, metric)
    return "\n".join(lines) + "\n"


def _cell(mean: Any, std: Any, row: float, column: float) -> str:
    spread = std.loc[row, column]
    return f"{mean.loc[row, column]:.3f}" + (f" ({spread:.3f})" if np.isfinite(spread) and spread > 0 else "")


def _diagonal(mean: Any, std: Any, temps: list[float]) -> list[str]:
    """Does each network do best on the temperature it was trained at?"""
    lines = ["Own temperature vs others:"]
    peaks = 0
    for t in temps:
        row = mean.loc[t]
        best = float(row.idxmax())
        peaks += best == t
        where = "its own temperature" if best == t else f"T = {best:g}, not its own"
        lines.append(f"  network trained at T = {t:g}: highest score at {where} "
                     f"(own {_cell(mean, std, t, t)}, best {row.max():.3f})")
    column_best = sum(float(mean[t].idxmax()) == t for t in temps)
    lines.append(f"  {peaks} of {len(temps)} curves peak at their training temperature; at {column_best} of "
                 f"{len(temps)} evaluation temperatures the network trained there scores highest.")
    return lines


def _slopes(mean: Any, temps: list[float]) -> list[str]:
    """Do scores fall as the evaluation temperature rises?"""
    lines = ["Scores vs evaluation temperature:"]
    falling = 0
    for t in temps:
        row = mean.loc[t].to_numpy(dtype=float)
        slope = np.polyfit(np.asarray(temps, dtype=float), row, 1)[0] if len(temps) > 1 else 0.0
        falling += slope < 0
        lines.append(f"  trained at T = {t:g}: {row[0]:.3f} at T = {temps[0]:g} -> {row[-1]:.3f} at "
                     f"T = {temps[-1]:g} (linear slope {slope:+.3f} per unit T)")
    lines.append(f"  {falling} of {len(temps)} curves fall with evaluation temperature.")
    return lines


def _ordering(mean: Any, std: Any, temps: list[float]) -> list[str]:
    """At the lowest temperature, are the curves stacked coldest-trained on top?"""
    lowest = temps[0]
    column = mean[lowest].sort_values(ascending=False)
    order = [float(t) for t in column.index]
    stacked = order == sorted(order)
    shown = ", ".join(f"T = {t:g} ({column[t]:.3f})" for t in order)
    spread = float(np.nanmax(std[lowest].to_numpy())) if np.isfinite(std[lowest].to_numpy()).any() else np.nan
    lines = [f"Order of the curves at the lowest temperature T = {lowest:g}, best first: {shown}.",
             "  That is the order of training temperature (coldest on top)." if stacked
             else "  That is not the order of training temperature (coldest on top)."]
    if np.isfinite(spread) and spread > 0:
        gaps = np.abs(np.diff(column.to_numpy()))
        lines.append(f"  Neighbouring curves differ by {gaps.min():.3f}-{gaps.max():.3f}; the largest replicate "
                     f"std there is {spread:.3f}." if len(gaps) else "")
    return [line for line in lines if line]


def _baseline(result: Any, mean: Any, metric: str) -> list[str]:
    summary = result.baseline_summary()
    lines = ["Against the linear SVM (C = 0.01, standardised) and chance, same held-out frames:"]
    for t in result.temperatures:
        svm = summary.loc[t, f"svm_{metric}_mean"]
        chance = summary.loc[t, f"chance_{metric}_mean"]
        lines.append(f"  T = {t:g}: MLP {mean.loc[t, t]:.3f}, SVM {svm:.3f}, chance {chance:.3f}")
    return lines
