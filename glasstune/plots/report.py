"""The memorisation scatter: training score against cross-validated score, one point per trial."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def memorisation_scatter(train: Sequence[float], cv: Sequence[float], numbers: Sequence[int],
                         states: Sequence[str], title: str) -> Figure:
    """Points far below the diagonal learned their training rows by heart (the lab's 1.0 vs 0.6)."""
    figure, axis = plt.subplots(figsize=(5.2, 5))
    for state, marker, colour in (("COMPLETE", "o", "tab:blue"), ("PRUNED", "x", "tab:orange")):
        chosen = [i for i, s in enumerate(states) if s == state]
        if chosen:
            axis.scatter([train[i] for i in chosen], [cv[i] for i in chosen], marker=marker, color=colour,
                         label=state.lower())
    for x, y, n in zip(train, cv, numbers, strict=True):
        axis.annotate(str(n), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    axis.plot([0.4, 1.0], [0.4, 1.0], ls="--", color="grey", lw=1, label="no gap")
    axis.set_xlim(0.4, 1.02)
    axis.set_ylim(0.4, 1.02)
    axis.set_xlabel("training balanced accuracy")
    axis.set_ylabel("cross-validated balanced accuracy")
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure
