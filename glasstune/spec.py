"""The ``Study`` a study file defines: plain data, no heavy imports."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

SMOKE_SUFFIX = "-smoke"


@dataclass(kw_only=True)
class Study:
    """A named study: data, objective (which holds the search space), budget and Optuna parts.

    ``n_trials`` is the total number of finished (complete or pruned) trials the study should have:
    running it again only adds the missing ones. ``sampler`` and ``pruner`` default to a TPE sampler
    seeded from ``seed`` and a pruner that stops trials in the bottom quarter at each report
    (``glasstune.study.default_pruner``).
    """

    name: str
    data: Any
    objective: Any
    n_trials: int = 20
    timeout: float | None = None
    seed: int = 0
    direction: str = "maximize"
    sampler: Any = None
    pruner: Any = None
    description: str = ""
    smoke_trials: int = 3
    source_file: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        """``data`` may name a built-in data set (``"ka-softness-T0.45"``): resolve it to its source."""
        if isinstance(self.data, str):
            from glasstune.data.catalog import builtin

            self.data = builtin(self.data)

    def smoke_variant(self) -> Study:
        """The same pipeline on a tiny budget, under another name so the real study is untouched."""
        shrink = getattr(self.data, "smoke", None)
        return replace(
            self,
            name=self.name + SMOKE_SUFFIX,
            data=shrink() if callable(shrink) else self.data,
            objective=self.objective.smoke(),
            n_trials=self.smoke_trials,
            timeout=None,
        )
