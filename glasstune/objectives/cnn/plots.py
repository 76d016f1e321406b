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
) -> Figure:
    """Accuracy (train/val/test) with the learning rate on a second axis, and losses, per iteration."""
    figure = _figure(11, 4.2)
    accuracy_axes, loss_axes = figure.subplots(1, 2)
    steps = np.arange(len(history["val_acc"]))
    for key, colour in (("train_acc", "tab:blue"), ("val_acc", "tab:orange"), ("test_acc", "tab:green")):
        accuracy_axes.plot(steps, history[key], color=colour, lw=1.2, label=key.split("_")[0])
    accuracy_axes.axhline(0.5, color="grey", lw=0.6, ls=":")
    accuracy_axes.set_ylim(0.0, 1.02)
    accuracy_axes.set_xlabel("iteration (10 batches)")
    accuracy_axes.set_ylabel("accuracy")
    if best_step is not None and best_step >= 0:
        accuracy_axes.axvline(best_step, color="tab:orange", lw=0.8, ls="--", label="best val")
    if collapse_step is not None:
        accuracy_axes.axvline(collapse_step, color="red", lw=1.0, label="collapse")
    rate_axes = accuracy_axes.twinx()
    rate_axes.plot(steps, history["lr"], color="black", lw=0.8, ls="--", drawstyle="steps-post",
                   label="learning rate")
    if np.all(np.asarray(history["lr"], dtype=float) > 0):
        rate_axes.set_yscale("log")
    rate_axes.set_ylabel("learning rate")
    lines = accuracy_axes.get_legend_handles_labels()
    rate_lines = rate_axes.get_legend_handles_labels()
    accuracy_axes.legend(lines[0] + rate_lines[0], lines[1] + rate_lines[1], fontsize=8, loc="lower right")
    for key, colour in (("train_loss", "tab:blue"), ("val_loss", "tab:orange"), ("test_loss", "tab:green")):
        loss_axes.plot(steps, history[key], color=colour, lw=1.2, label=key.split("_")[0])
    if "batch_loss" in history:
        loss_axes.plot(steps, history["batch_loss"], color="grey", lw=0.8, label="training objective (+L2)")
    loss_axes.set_yscale("log")
    loss_axes.set_xlabel("iteration (10 batches)")
    loss_axes.set_ylabel("cross-entropy")
    loss_axes.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


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
