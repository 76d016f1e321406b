"""The figure of one MLP trial: does it learn, and is it memorising?

Held-out and training score (balanced accuracy; Pearson r for a continuous target) at the report
epochs over the training loss of each fold, against epochs on a log scale (a trial of 3,162 epochs
does most of its learning in the first hundred). The space between the two scores is the
memorisation gap; the best epoch is marked, a
last epoch that scores below the peak is said in red, and a pruned trial shows the pruner's
threshold and where it stopped. Functions take plain arrays and return a Figure on the Agg canvas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from glasstune.figures import plain_number

DROP_TO_POINT_OUT = 0.01
"""A last score this far (or more) below the trial's peak is pointed out on the figure."""


def training_curves(losses: Sequence[Sequence[float]], epochs: Sequence[int], held_out: Sequence[float],
                    training: Sequence[float], *, title: str, thresholds: Mapping[int, float] | None = None,
                    pruned_at: int | None = None, notes: Sequence[str] = (), score: str = "balanced accuracy",
                    chance: float = 0.5) -> Figure:
    """Scores at ``epochs`` (mean over folds) above the training loss per fold, both against log epochs.

    ``thresholds`` (epoch -> value) is the pruner's threshold where it judged the trial, ``pruned_at``
    the epoch it stopped at; ``notes`` are extra lines under the title (the prune reason). ``score``
    names the score (balanced accuracy; Pearson r for a continuous target), ``chance`` its value for a
    model that has learned nothing (1/K for K balanced classes, 0 for r)."""
    held_label, train_label = f"held-out {score}", f"training {score}"
    figure = Figure(figsize=(9.6, 6.6), layout="tight")  # laid out when drawn: in the writer's process
    FigureCanvasAgg(figure)
    score_axes, loss_axes = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    epochs_array = np.asarray(epochs, dtype=float)
    held = np.asarray(held_out, dtype=float)
    train = np.asarray(training, dtype=float)
    lines = list(notes)
    if train.size and np.any(np.isfinite(train)):
        score_axes.plot(epochs_array, train, color="tab:red", ls="--", marker="s", ms=3.5, lw=1.3, label=train_label)
        gap = np.isfinite(train) & np.isfinite(held)
        score_axes.fill_between(epochs_array, held, train, where=gap & (train >= held), color="tab:red",
                                alpha=0.10, lw=0, label="memorisation gap")
    if held.size:
        score_axes.plot(epochs_array, held, color="tab:blue", marker="o", ms=4.5, lw=1.6,
                        label=f"{held_label} (dots: the report epochs)")
        lines.insert(0, _peak_line(epochs_array, held, score_axes, held_label))
    if thresholds:
        steps = sorted(thresholds)
        score_axes.scatter(steps, [thresholds[s] for s in steps], marker="_", s=260, lw=2.2, color="black",
                           zorder=4, label="pruning threshold")
    if pruned_at is not None and held.size:
        score_axes.scatter([pruned_at], [held[-1]], marker="X", s=90, color="firebrick", zorder=7,
                           label=f"pruned at epoch {pruned_at}")
    score_axes.axhline(chance, color="grey", lw=0.8, ls=":", label="chance")
    finite = np.concatenate([held[np.isfinite(held)], train[np.isfinite(train)], [chance]])
    score_axes.set_ylim(min(chance - 0.1, float(finite.min()) - 0.03), 1.02)
    score_axes.set_ylabel(score)
    score_axes.grid(alpha=0.3)
    score_axes.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    for fold, curve in enumerate(losses):
        loss_axes.plot(np.arange(1, len(curve) + 1), curve, lw=1.0, label=f"fold {fold + 1}")
    loss_axes.set_yscale("log")
    loss_axes.set_xscale("log")
    loss_axes.xaxis.set_major_formatter(FuncFormatter(plain_number))
    loss_axes.set_xlabel("epoch (log scale)")
    loss_axes.set_ylabel("training loss\n(log loss + L2)")
    loss_axes.grid(alpha=0.3)
    if len(losses) > 1:
        loss_axes.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    figure.suptitle(title, fontsize=10)
    score_axes.set_title("\n".join(line for line in lines if line), fontsize=8.5, loc="left",
                         color="firebrick" if any(_is_warning(line) for line in lines) else "black")
    return figure


def _peak_line(epochs: np.ndarray, held: np.ndarray, axes: object, label: str) -> str:
    """Mark the best epoch; a last epoch below the peak is said, since the trial is scored there."""
    if not np.any(np.isfinite(held)):
        return ""
    best = int(np.nanargmax(held))
    if len(held) < 2:
        return f"{label} {held[best]:.3f} at epoch {int(epochs[best])}"
    axes.scatter([epochs[best]], [held[best]], marker="*", s=200, color="gold", edgecolor="black", zorder=6,
                 label=f"best epoch ({int(epochs[best])})")
    axes.axvline(epochs[best], color="goldenrod", lw=0.8, ls=":")
    line = f"best {label} {held[best]:.3f} at epoch {int(epochs[best])}"
    drop = held[best] - held[-1]
    if best != len(held) - 1 and drop >= DROP_TO_POINT_OUT:
        axes.annotate(f"last epoch: {held[-1]:.3f}", (epochs[-1], held[-1]), xytext=(-8, -16),
                      textcoords="offset points", ha="right", fontsize=8, color="firebrick")
        return f"{line}; scored {held[-1]:.3f} at its last epoch ({int(epochs[-1])}), {drop:.3f} below its peak"
    return line


def _is_warning(line: str) -> bool:
    return "below its peak" in line or line.startswith("pruned")
