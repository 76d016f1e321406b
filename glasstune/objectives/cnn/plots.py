"""Figures for the glass/liquid CNN: curves, augmented examples, channel maps, confusion matrix.

Functions take plain arrays and return ``matplotlib.figure.Figure`` objects drawn on the Agg canvas
(no pyplot state, no display). Titles carry the data's provenance label so that figures of
synthetic data say so wherever they end up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from glasstune.figures import plain_number

CLASS_NAMES = ("liquid", "glass")


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def training_curves(
    history: Mapping[str, Sequence[float]],
    *,
    title: str,
    best_step: int | None = None,
    collapse_step: int | None = None,
    report_steps: Sequence[int] = (),
    thresholds: Mapping[int, float] | None = None,
    pruned_at: int | None = None,
    notes: Sequence[str] = (),
) -> Figure:
    """Accuracy (train/val/test, the gap shaded) with the learning rate on a second axis, and losses,
    against iterations on a log scale (0 is the untrained model).

    The best-validation iteration (the checkpoint that is scored) is starred; ``report_steps`` are
    where the pruner was told the best validation accuracy so far, ``thresholds`` its threshold there
    and ``pruned_at`` where it stopped the run; a last iteration well below the best is said in red.
    ``notes`` are extra lines under the title (the prune reason)."""
    figure = _figure(12.5, 4.8)
    accuracy_axes, loss_axes = figure.subplots(1, 2)
    steps = np.arange(len(history["val_acc"]))
    train, val = np.asarray(history["train_acc"], dtype=float), np.asarray(history["val_acc"], dtype=float)
    accuracy_axes.plot(steps, train, color="tab:red", ls="--", lw=1.2, label="train")
    accuracy_axes.fill_between(steps, val, train, where=train >= val, color="tab:red", alpha=0.10, lw=0,
                               label="memorisation gap")
    accuracy_axes.plot(steps, val, color="tab:blue", lw=1.4, label="validation")
    accuracy_axes.plot(steps, history["test_acc"], color="tab:green", lw=0.9, alpha=0.8, label="test")
    if "best_val_acc" in history:
        accuracy_axes.plot(steps, history["best_val_acc"], color="tab:blue", lw=0.8, ls=":",
                           drawstyle="steps-post", label="best validation so far")
    reported = [step for step in report_steps if 0 <= step < len(steps)]
    if reported:
        accuracy_axes.plot(reported, np.asarray(history.get("best_val_acc", val), dtype=float)[reported], "o",
                           color="tab:blue", ms=3.5, label="reports to the pruner")
    if thresholds:
        marks = sorted(step for step in thresholds if 0 <= step < len(steps))
        accuracy_axes.scatter(marks, [thresholds[step] for step in marks], marker="_", s=200, lw=2.2,
                              color="black", zorder=4, label="pruning threshold")
    if pruned_at is not None and 0 <= pruned_at < len(steps):
        accuracy_axes.scatter([pruned_at], [np.asarray(history.get("best_val_acc", val))[pruned_at]], marker="X",
                              s=80, color="firebrick", zorder=7, label=f"pruned at iteration {pruned_at}")
    lines = [_best_line(steps, val, best_step, accuracy_axes), *notes]
    accuracy_axes.axhline(0.5, color="grey", lw=0.6, ls=":")
    accuracy_axes.set_ylim(0.0, 1.02)
    accuracy_axes.set_xlabel("iteration (10 batches; log scale)")
    accuracy_axes.set_ylabel("accuracy")
    if collapse_step is not None:
        accuracy_axes.axvline(collapse_step, color="red", lw=1.0, label="collapse")
    rate_axes = accuracy_axes.twinx()
    rate_axes.plot(steps, history["lr"], color="black", lw=0.8, ls="--", drawstyle="steps-post",
                   label="learning rate")
    if np.all(np.asarray(history["lr"], dtype=float) > 0):
        rate_axes.set_yscale("log")
    rate_axes.set_ylabel("learning rate")
    handles, labels = accuracy_axes.get_legend_handles_labels()
    rate_handles, rate_labels = rate_axes.get_legend_handles_labels()
    for key, colour in (("train_loss", "tab:red"), ("val_loss", "tab:blue"), ("test_loss", "tab:green")):
        loss_axes.plot(steps, history[key], color=colour, lw=1.2, label=key.split("_")[0])
    if "batch_loss" in history:
        loss_axes.plot(steps, history["batch_loss"], color="grey", lw=0.8, label="training objective (+L2)")
    loss_axes.set_yscale("log")
    loss_axes.set_xlabel("iteration (10 batches; log scale)")
    loss_axes.set_ylabel("cross-entropy")
    loss_axes.legend(fontsize=8)
    for axes in (accuracy_axes, loss_axes):
        axes.set_xscale("symlog", linthresh=1, linscale=0.4)
        axes.set_xlim(0, max(len(steps) - 1, 1) * 1.1)
        axes.xaxis.set_major_formatter(FuncFormatter(plain_number))
        axes.grid(alpha=0.3)
    figure.suptitle(title)
    accuracy_axes.set_title("\n".join(line for line in lines if line), fontsize=8.5, loc="left",
                            color="firebrick" if any(_is_warning(line) for line in lines) else "black")
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    figure.legend(handles + rate_handles, labels + rate_labels, fontsize=7.5, loc="lower left",
                  bbox_to_anchor=(0.05, 0.0), ncol=6, frameon=False)
    return figure


DROP_TO_POINT_OUT = 0.05
"""A last validation accuracy this far (or more) below the best is pointed out (the lab's collapses)."""


def _best_line(steps: np.ndarray, val: np.ndarray, best_step: int | None, axes: object) -> str:
    """Star the best-validation iteration; say when the run ended well below it."""
    if best_step is None or not 0 <= best_step < len(val):
        return ""
    axes.scatter([steps[best_step]], [val[best_step]], marker="*", s=180, color="gold", edgecolor="black",
                 zorder=6, label=f"best validation (iteration {best_step})")
    line = f"best validation accuracy {val[best_step]:.3f} at iteration {best_step} (on the curve's images; " \
           f"this checkpoint is the one scored)"
    drop = val[best_step] - val[-1]
    if drop >= DROP_TO_POINT_OUT:
        line += f"; last iteration {len(val) - 1}: {val[-1]:.3f}, {drop:.3f} below its peak"
    return line


def _is_warning(line: str) -> bool:
    return "below its peak" in line or line.startswith("pruned")


def replicate_curves(curves: Sequence[Sequence[float]], *, title: str) -> Figure:
    """Validation accuracy of each replicate on one axis: how much seeds alone change a run."""
    figure = _figure(6.5, 4)
    axes = figure.subplots()
    for index, curve in enumerate(curves):
        axes.plot(np.arange(len(curve)), curve, lw=1.1, label=f"replicate {index}")
    axes.axhline(0.5, color="grey", lw=0.6, ls=":")
    axes.set_ylim(0.0, 1.02)
    axes.set_xlabel("iteration (10 batches)")
    axes.set_ylabel("validation accuracy")
    axes.legend(fontsize=8)
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    return figure


def augmentation_grid(
    originals: np.ndarray, augmented: np.ndarray, labels: Sequence[int], *, title: str
) -> Figure:
    """Training images (top row) above what augmentation made of them (bottom row)."""
    n = len(originals)
    figure = _figure(1.6 * n, 3.6)
    axes = np.asarray(figure.subplots(2, n, squeeze=False))
    for column in range(n):
        name = CLASS_NAMES[int(labels[column])]
        for row, images in enumerate((originals, augmented)):
            axes[row, column].imshow(images[column], interpolation="nearest")
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
        axes[0, column].set_title(name, fontsize=8)
    axes[0, 0].set_ylabel("original", fontsize=8)
    axes[1, 0].set_ylabel("augmented", fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def channel_maps(
    images: Sequence[np.ndarray], maps: Sequence[np.ndarray], names: Sequence[str], *, title: str
) -> Figure:
    """Each image beside the first convolution's channel maps (C, h, w) for it, one row each."""
    channels = max(len(m) for m in maps)
    figure = _figure(1.7 * (channels + 1), 1.9 * len(images))
    axes = np.asarray(figure.subplots(len(images), channels + 1, squeeze=False))
    for row, (image, stack, name) in enumerate(zip(images, maps, names, strict=True)):
        axes[row, 0].imshow(image, interpolation="nearest")
        axes[row, 0].set_ylabel(name, fontsize=9)
        for channel in range(channels):
            target = axes[row, channel + 1]
            if channel < len(stack):
                target.imshow(stack[channel], cmap="viridis", interpolation="nearest")
                if row == 0:
                    target.set_title(f"channel {channel + 1}", fontsize=8)
            else:
                target.axis("off")
        for target in axes[row]:
            target.set_xticks([])
            target.set_yticks([])
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def confusion_matrix(matrix: np.ndarray, *, title: str, names: Sequence[str] = CLASS_NAMES) -> Figure:
    """Counts with row-normalised rates: rows are true classes, columns predicted ones."""
    matrix = np.asarray(matrix)
    figure = _figure(4.2, 3.8)
    axes = figure.subplots()
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if rates[row, column] > 0.6 else "black"
        axes.text(column, row, f"{count}\n{rates[row, column]:.1%}", ha="center", va="center",
                  color=colour, fontsize=9)
    axes.set_xticks(range(len(names)), names)
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure
