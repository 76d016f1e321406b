"""What a transfer matrix shows, in words: the lab's three expectations checked one by one.

Phrased as observations with their numbers and spreads, never as conclusions: with few frames or
synthetic data a "peak" can be noise, and the text says how large the differences are.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def observations(result: Any, metric: str = "balanced_accuracy") -> str:
    from glasstune.results.transfer_outputs import caveat_line

    mean, std = result.matrix(metric), result.matrix(metric, "std")
    temps = result.temperatures
    seeds = result.replicates
    lines = [f"Temperature transfer on {caveat_line(result)}",
             f"metric: {metric.replace('_', ' ')} on held-out frames no study tuned on, mean over {seeds} "
             "replicate(s)" + (" (std in brackets)" if seeds > 1 else " (one replicate: no spread measured)"),
             ""]
    if result.provenance.get("synthetic"):
        lines += ["These data are SYNTHETIC (a statistical stand-in): the numbers test the pipeline, "
                  "not the physics.", ""]
    lines += _networks(result) + [""]
    lines += _diagonal(mean, std, temps) + [""] + _slopes(mean, temps) + [""] + _ordering(mean, std, temps)
    lines += [""] + _baseline(result, metric)
    return "\n".join(lines) + "\n"


def _networks(result: Any) -> list[str]:
    """Where each network's configuration and data came from, and the replicates left out."""
    lines = ["Networks:"]
    collapsed = result.collapsed()
    for network in result.networks:
        t = network.temperature
        line = (f"  T = {t:g}: {network.config_from}, {network.backend} backend, trained on "
                f"{len(network.tuning)} rows of {network.provenance.get('name')}, scored on "
                f"{len(network.heldout)} held-out rows")
        if network.selection_saw_heldout:
            line += " (its study chose the configuration on every frame: own-temperature score optimistic)"
        lines.append(line)
        if collapsed[t]:
            lines.append(f"    {collapsed[t]} of {result.replicates} replicate(s) collapsed (one class for every "
                         "row of its own temperature): left out of the means")
    return lines


def _cell(mean: Any, std: Any, row: float, column: float) -> str:
    spread = std.loc[row, column]
    return f"{mean.loc[row, column]:.3f}" + (f" ({spread:.3f})" if np.isfinite(spread) and spread > 0 else "")


def _diagonal(mean: Any, std: Any, temps: list[float]) -> list[str]:
    """Does each network do best on the temperature it was trained at?"""
    lines = ["Own temperature vs others:"]
    peaks = 0
    for t in temps:
        row = mean.loc[t]
        if row.isna().all():
            lines.append(f"  network trained at T = {t:g}: every replicate collapsed, no score")
            continue
        best = float(row.idxmax())
        peaks += best == t
        where = "its own temperature" if best == t else f"T = {best:g}, not its own"
        lines.append(f"  network trained at T = {t:g}: highest score at {where} "
                     f"(own {_cell(mean, std, t, t)}, best {row.max():.3f})")
    column_best = sum(not mean[t].isna().all() and float(mean[t].idxmax()) == t for t in temps)
    lines.append(f"  {peaks} of {len(temps)} curves peak at their training temperature; at {column_best} of "
                 f"{len(temps)} evaluation temperatures the network trained there scores highest.")
    return lines


def _slopes(mean: Any, temps: list[float]) -> list[str]:
    """Do scores fall as the evaluation temperature rises?"""
    lines = ["Scores vs evaluation temperature:"]
    falling = 0
    log_t = np.log10(np.asarray(temps, dtype=float))
    for t in temps:
        row = mean.loc[t].to_numpy(dtype=float)
        if not np.isfinite(row).all():
            lines.append(f"  trained at T = {t:g}: no score (every replicate collapsed)")
            continue
        slope = np.polyfit(log_t, row, 1)[0] if len(temps) > 1 else 0.0
        falling += slope < 0
        lines.append(f"  trained at T = {t:g}: {row[0]:.3f} at T = {temps[0]:g} -> {row[-1]:.3f} at "
                     f"T = {temps[-1]:g} (slope {slope:+.3f} per decade of T)")
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


def _baseline(result: Any, metric: str) -> list[str]:
    from glasstune.results.transfer_outputs import baseline_notes

    summary = result.baseline_summary()
    lines = ["Against the linear SVM (C = 0.01, standardised) and chance, same training and held-out frames:"]
    lines += [f"  {note} (chance {summary.loc[t, f'chance_{metric}']:.3f})"
              for note, t in zip(baseline_notes(result, metric), result.temperatures, strict=True)]
    return lines
