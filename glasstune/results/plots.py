"""Figures of a study's results: the memorisation scatter, the transfer matrix's heatmaps, the lab's curves plot."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def memorisation_scatter(train: Sequence[float], cv: Sequence[float], numbers: Sequence[int],
                         states: Sequence[str], title: str, *, best: int | None = None,
                         score: str = "held-out balanced accuracy") -> Figure:
    """Training against held-out score, one point per trial. A trial on the diagonal scores on rows
    it never saw as on those it trained on; memorising trials sit below it (the lab's 1.0 vs 0.6),
    and the vertical distance down to a point is its memorisation gap."""
    figure, axis = plt.subplots(figsize=(5.8, 5.6))
    low = min(0.4, *(value - 0.03 for value in (*train, *cv) if np.isfinite(value)))
    axis.fill_between([low, 1.02], [low, low], [low, 1.02], color="tab:red", alpha=0.06, lw=0)
    axis.text(0.97, low + 0.02, "memorising\n(training > held-out)", ha="right", va="bottom", fontsize=8,
              color="firebrick")
    axis.plot([low, 1.02], [low, 1.02], ls="--", color="grey", lw=1)
    axis.text(low + 0.06, low + 0.09, "no gap", rotation=45, rotation_mode="anchor", fontsize=8, color="grey")
    for state, marker, colour in (("COMPLETE", "o", "tab:blue"), ("PRUNED", "x", "tab:orange")):
        chosen = [i for i, s in enumerate(states) if s == state]
        if chosen:
            label = state.lower() + (" (scores when stopped)" if state == "PRUNED" else "")
            axis.scatter([train[i] for i in chosen], [cv[i] for i in chosen], marker=marker, color=colour,
                         label=label)
    for x, y, n in zip(train, cv, numbers, strict=True):
        axis.annotate(str(n), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if best is not None and best in numbers:
        i = list(numbers).index(best)
        axis.scatter([train[i]], [cv[i]], marker="*", s=260, color="gold", edgecolor="black", zorder=5,
                     label=f"best: trial {best} (gap {train[i] - cv[i]:+.3f})")
    axis.set_xlim(low, 1.02)
    axis.set_ylim(low, 1.02)
    axis.set_aspect("equal")
    axis.set_xlabel(f"training {score.removeprefix('held-out ')}")
    axis.set_ylabel(score)
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    return figure


def heatmaps(matrices: dict[str, np.ndarray], temperatures: Sequence[float], title: str) -> Figure:
    """One panel per metric: rows = trained at, columns = evaluated at, values written in the cells."""
    lines = title.count("\n")
    figure, axes = plt.subplots(1, len(matrices), figsize=(4.6 * len(matrices), 4.4 + 0.3 * lines), squeeze=False,
                                layout="constrained")  # room for a title of several lines and the colour bars
    labels = [f"{t:g}" for t in temperatures]
    for axis, (name, values) in zip(axes[0], matrices.items(), strict=True):
        image = axis.imshow(values, vmin=0.4, vmax=1.0, cmap="viridis")
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                axis.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=8,
                          color="white" if values[i, j] < 0.75 else "black")
        axis.set_xticks(range(len(labels)), labels)
        axis.set_yticks(range(len(labels)), labels)
        axis.set_xlabel("evaluated at T")
        axis.set_ylabel("trained at T")
        axis.set_title(name.replace("_", " "), fontsize=10)
        figure.colorbar(image, ax=axis, shrink=0.8)
    figure.suptitle(title, fontsize=9)
    return figure


def transfer_curves(temperatures: Sequence[float], mean: np.ndarray, std: np.ndarray, *,
                    baseline: np.ndarray, chance: np.ndarray, metric: str, title: str,
                    notes: Sequence[str] = ()) -> Figure:
    """The lab's picture: score vs evaluation temperature, one curve per trained network.

    Temperatures sit at equal spacing (a categorical axis), so 0.45, 0.5 and 0.6 are as readable as
    1.0, 1.2 and 2.0. ``notes`` (e.g. each temperature's MLP against the SVM) go under the plot."""
    figure, axis = plt.subplots(figsize=(7.4, 5.2 + 0.16 * len(notes)))
    x = np.arange(len(temperatures), dtype=float)
    colours = plt.cm.plasma(np.linspace(0, 0.85, len(x)))  # no pale middle colour
    for i, t in enumerate(temperatures):
        axis.errorbar(x, mean[i], yerr=np.nan_to_num(std[i]), marker="o", ms=4, capsize=3, lw=1.4,
                      color=colours[i], label=f"trained at T = {t:g}")
        axis.plot([x[i]], [mean[i, i]], marker="*", ms=12, color=colours[i], zorder=5)
    axis.plot(x, baseline, ls="--", marker="s", ms=4, color="black", label="linear SVM (C = 0.01), own T")
    axis.plot(x, chance, ls=":", color="grey", lw=1.5, label="chance (majority class)" if metric == "accuracy"
              else "chance")
    axis.set_xticks(x, [f"{t:g}" for t in temperatures])
    axis.set_xlabel("evaluated at temperature T (LJ units; equally spaced)")
    axis.set_ylabel(f"held-out {metric.replace('_', ' ')}")
    axis.set_title(title, fontsize=8)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, ncol=2)
    if notes:
        figure.text(0.01, 0.01, "\n".join(notes), fontsize=7, va="bottom", family="monospace")
        figure.tight_layout(rect=(0, 0.022 * len(notes), 1, 1))
    else:
        figure.tight_layout()
    return figure
