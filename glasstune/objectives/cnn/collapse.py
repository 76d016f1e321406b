"""Collapse: a run that had learned (validation accuracy above a threshold) and fell back to chance.

The lab saw constant-1e-3 runs reach 99% and then drop to 50% for good late in training. Such a run's
best checkpoint may still score well, so the score alone hides it: the run is flagged, its curve
kept, and a study may choose to prune it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class CollapseDetector:
    """Fed one validation accuracy per evaluation; ``update`` is True once, when collapse is seen.

    Armed once accuracy reaches ``threshold``; fires after ``patience`` consecutive evaluations at
    or below ``chance + margin``. Single dips are common with small validation sets, hence patience.
    """

    threshold: float = 0.90
    chance: float = 0.5
    margin: float = 0.05
    patience: int = 2
    armed: bool = False
    below: int = 0
    collapsed: bool = False
    collapse_step: int | None = None
    peak: float = 0.0

    def update(self, step: int, val_accuracy: float) -> bool:
        self.peak = max(self.peak, val_accuracy)
        if self.collapsed:
            return False
        if val_accuracy >= self.threshold:
            self.armed = True
        if not self.armed:
            return False
        self.below = self.below + 1 if val_accuracy <= self.chance + self.margin else 0
        if self.below >= self.patience:
            self.collapsed = True
            self.collapse_step = step
            return True
        return False

    @property
    def reason(self) -> str:
        return (
            f"collapsed at iteration {self.collapse_step}: validation accuracy fell from "
            f"{self.peak:.3f} to chance ({self.chance:.2f}) for {self.patience} evaluations"
        )

    def state(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict) -> CollapseDetector:
        return cls(**state)
