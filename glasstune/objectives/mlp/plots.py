"""Figures of one MLP trial."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def loss_curves(curves: Sequence[Sequence[float]], title: str) -> Figure:
    """Training loss per epoch, one line per cross-validation fold, on a log scale."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for fold, curve in enumerate(curves):
        axis.plot(range(1, len(curve) + 1), curve, lw=1.2, label=f"fold {fold + 1}")
    axis.set_xlabel("epoch")
    axis.set_ylabel("training loss (log loss + L2)")
    axis.set_yscale("log")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return figure
