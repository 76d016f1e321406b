"""Looking inside a trained network: first-layer channel maps and the confusion matrix."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def first_conv_maps(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    """Output of the first ``Conv2d`` for normalised (N, C, H, W) images: (N, channels, h, w).

    Found with a forward hook, so it works for any network a study plugs in, not only the lab's.
    """
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if conv is None:
        raise ValueError("the network has no Conv2d layer to visualise")
    captured: list[torch.Tensor] = []
    handle = conv.register_forward_hook(lambda _m, _i, output: captured.append(output.detach()))
    was_training = model.training
    model.eval()
    try:
        model(images)
    finally:
        handle.remove()
        model.train(was_training)
    return captured[0].float().cpu().numpy()


def confusion(labels: np.ndarray, predicted: np.ndarray, n_classes: int = 2) -> np.ndarray:
    """Counts: rows are true classes, columns predicted ones."""
    pairs = np.asarray(labels, dtype=np.int64) * n_classes + np.asarray(predicted, dtype=np.int64)
    return np.bincount(pairs, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def accuracy_interval(accuracy: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of an accuracy measured on ``n`` images: what a test set of that
    size can resolve (60 images that are all right still allow a true accuracy of 0.94)."""
    if n <= 0 or not np.isfinite(accuracy):
        return float("nan"), float("nan")
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
