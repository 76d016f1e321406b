"""The image set on the training device: one uint8 tensor, indexed per batch, normalised on the fly.

Keeping the whole set on the device as uint8 (a quarter of float32's bytes) means a batch is one
gather on the device: no DataLoader, no per-sample Python, no host-to-device copy per batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from glasstune.data.image_sets import ImageSet
from glasstune.errors import DataError

SPLIT = (0.70, 0.15, 0.15)


@dataclass(frozen=True)
class Split:
    """Indices of the train, validation and test images (numpy, sorted within each part)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def stratified_split(
    labels: np.ndarray, fractions: tuple[float, float, float] = SPLIT, seed: int = 0
) -> Split:
    """70/15/15 (by default) within each class, so every part keeps the class balance."""
    if not np.isclose(sum(fractions), 1.0):
        raise DataError(f"split fractions {fractions} must add up to 1")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_val = max(1, int(round(fractions[1] * len(members))))
        n_test = max(1, int(round(fractions[2] * len(members))))
        n_train = len(members) - n_val - n_test
        if n_train < 1:
            raise DataError(f"class {label} has {len(members)} images: too few to split 70/15/15")
        parts[0].append(members[:n_train])
        parts[1].append(members[n_train:n_train + n_val])
        parts[2].append(members[n_train + n_val:])
    train, val, test = (np.sort(np.concatenate(part)) for part in parts)
    return Split(train, val, test)


class DeviceImages:
    """Images as an (N, 3, H, W) uint8 tensor on ``device`` (channels-last in memory) and labels."""

    def __init__(self, data: ImageSet, device: str, train_index: np.ndarray) -> None:
        self.device = torch.device(device)
        pixels = torch.from_numpy(np.ascontiguousarray(data.images))
        # (N, H, W, C) storage seen as (N, C, H, W): channels-last without a copy
        self.images = pixels.to(self.device).permute(0, 3, 1, 2)
        self.labels = torch.from_numpy(data.labels).to(self.device)
        sample = data.images[train_index[:: max(1, len(train_index) // 100)]]
        scaled = sample.reshape(-1, 3).astype(np.float32) / 255.0
        std = np.maximum(scaled.std(axis=0), 1e-3)
        self.mean = torch.tensor(scaled.mean(axis=0), device=self.device).view(1, 3, 1, 1)
        self.scale = torch.tensor(1.0 / (255.0 * std), device=self.device).view(1, 3, 1, 1)
        self.offset = -self.mean / torch.tensor(std, device=self.device).view(1, 3, 1, 1)

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 -> float32 standardised per channel (training-set statistics), channels-last
        (rotated views have transposed strides, which send convolutions down slow paths)."""
        scaled = torch.addcmul(self.offset, pixels.float(), self.scale)
        return scaled.contiguous(memory_format=torch.channels_last)

    def index(self, indices: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(indices, dtype=torch.long, device=self.device)
