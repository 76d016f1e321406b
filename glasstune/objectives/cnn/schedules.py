"""Learning-rate schedules, evaluated once per iteration from (iteration, validation accuracy).

Pure and stateless: the rate for an iteration depends only on its inputs, so a resumed run gets the
same rates without saving schedule state. The lab's threshold schedule exists because constant
1e-3 runs collapsed late in training: it lowers the rate once validation accuracy passes a
threshold and raises it again if accuracy falls back below.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from glasstune.errors import GlasstuneError

SCHEDULES = ("constant", "threshold", "warmup_exp")


class Schedule(Protocol):
    def __call__(self, iteration: int, val_accuracy: float) -> float: ...


@dataclass(frozen=True)
class Constant:
    lr: float

    def __call__(self, iteration: int, val_accuracy: float) -> float:
        return self.lr


@dataclass(frozen=True)
class Threshold:
    """lr_initial while validation accuracy < threshold, else lr_final (and back again)."""

    lr_initial: float
    lr_final: float = 1e-4
    threshold: float = 0.90

    def __call__(self, iteration: int, val_accuracy: float) -> float:
        return self.lr_final if val_accuracy >= self.threshold else self.lr_initial


@dataclass(frozen=True)
class WarmupExponential:
    """Linear warm-up to ``lr`` over ``warmup`` iterations, then ``lr * decay**(iteration - warmup)``."""

    lr: float
    warmup: int = 5
    decay: float = 0.99

    def __call__(self, iteration: int, val_accuracy: float) -> float:
        if iteration < self.warmup:
            return self.lr * (iteration + 1) / (self.warmup + 1)
        return self.lr * math.pow(self.decay, iteration - self.warmup)


def make_schedule(params: Mapping[str, Any]) -> Schedule:
    """The schedule a parameter dict names (keys as in ``default_search_space``)."""
    kind = params.get("schedule", "constant")
    lr = float(params["learning_rate"])
    if kind == "constant":
        return Constant(lr)
    if kind == "threshold":
        return Threshold(
            lr, float(params.get("lr_final", 1e-4)), float(params.get("lr_threshold", 0.90))
        )
    if kind == "warmup_exp":
        return WarmupExponential(
            lr, int(params.get("warmup_iterations", 5)), float(params.get("lr_decay", 0.99))
        )
    raise GlasstuneError(f"unknown schedule {kind!r}; use one of {', '.join(SCHEDULES)}")
