"""The lab's glass/liquid CNN: two unpadded convolutions, no pooling, one hidden layer.

Kept exactly as the lab defined it so that a tuned configuration means the same network:
conv 10x10 (6 ch) -> ReLU -> conv 5x5 (16 ch) -> ReLU -> flatten -> FC 80 -> ReLU -> dropout -> 2.
Weights from a normal truncated at two sigma (sigma 0.1, TensorFlow's ``truncated_normal``),
biases 0.1. The image size comes from the data, so the flattened width does too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


def conv_output_size(
    image_size: tuple[int, int], kernels: tuple[int, ...] = (10, 5), channels: int = 16
) -> int:
    """Width of the flattened layer: 16 * (H - 13) * (W - 13) for the lab's kernels."""
    height, width = image_size
    for kernel in kernels:
        height, width = height - kernel + 1, width - kernel + 1
    if height < 1 or width < 1:
        raise ValueError(f"images of {image_size} are too small for kernels {kernels}")
    return channels * height * width


class GlassCNN(nn.Module):
    """The lab's network for (N, 3, H, W) float images; returns (N, 2) logits (0 liquid, 1 glass)."""

    def __init__(
        self,
        image_size: tuple[int, int],
        *,
        dropout: float = 0.5,
        channels: int = 3,
        hidden: int = 80,
        n_classes: int = 2,
    ) -> None:
        super().__init__()
        self.image_size = tuple(image_size)
        self.conv1 = nn.Conv2d(channels, 6, kernel_size=10, stride=1, padding=0)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5, stride=1, padding=0)
        self.fc = nn.Linear(conv_output_size(self.image_size), hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in (self.conv1, self.conv2, self.fc, self.out):
            nn.init.trunc_normal_(module.weight, mean=0.0, std=0.1, a=-0.2, b=0.2)
            nn.init.constant_(module.bias, 0.1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The first convolution's channel maps after ReLU (what the lab visualised)."""
        return torch.relu(self.conv1(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv2(self.features(x)))
        x = torch.relu(self.fc(torch.flatten(x, 1)))
        return self.out(self.dropout(x))


def lab_network(image_size: tuple[int, int], params: Mapping[str, Any]) -> nn.Module:
    """The default network factory: ``factory(image_size, params) -> nn.Module``."""
    return GlassCNN(image_size, dropout=float(params.get("dropout", 0.5)))


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """sum(w^2) / 2 over weight matrices and kernels (tensors of 2+ dims), never over biases."""
    weights = [p for p in model.parameters() if p.ndim >= 2]
    return sum((w.float().pow(2).sum() for w in weights), torch.zeros((), device=weights[0].device)) / 2
