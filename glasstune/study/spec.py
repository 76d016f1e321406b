"""The ``Study`` a study file defines: plain data, no heavy imports."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

SMOKE_SUFFIX = "-smoke"
STUDY_MODULE_PREFIX = "glasstune_study_"
"""The module a study file is loaded as is named by this prefix and its path (glasstune.study.loader)."""
STUDY_FILE = "<study file>"


def default_pruner() -> Any:
    """Prune a trial whose intermediate value is in the bottom quarter of the trials' values at the
    same step, from its first report, once 5 trials have finished. Why not the median: held-out
    scores after a few epochs are noisy, and median pruning dropped good short configurations with
    them (on the lab's T = 0.45 set it missed the grid's best in 1 of 8 seeds, 121 of 144 trials
    pruned); the bottom quarter never missed and was as fast (benchmarks/README.md)."""
    import optuna

    return optuna.pruners.PercentilePruner(75.0, n_startup_trials=5, n_warmup_steps=1)


def describe_objective(objective: Any) -> dict[str, Any]:
    """The objective's full settings as plain values: its class and every dataclass field, functions
    (a search space, a network factory) by their module and name. Recorded with the study so an
    export says exactly what was tuned, not only what the study file says today."""
    import dataclasses

    def where(thing: Any) -> str:  # a study file's module is named after its path: not part of its settings
        module = getattr(thing, "__module__", "?") or "?"
        return f"{STUDY_FILE if module.startswith(STUDY_MODULE_PREFIX) else module}:{thing.__qualname__}"

    def plain(value: Any) -> Any:
        if callable(value) and hasattr(value, "__qualname__"):
            return where(value)
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        if isinstance(value, dict):
            return {str(key): plain(item) for key, item in value.items()}
        return repr(value)

    settings: dict[str, Any] = {"class": where(type(objective))}
    if dataclasses.is_dataclass(objective):
        settings.update({item.name: plain(getattr(objective, item.name)) for item in dataclasses.fields(objective)})
    return settings


@dataclass(kw_only=True)
class Study:
    """A named study: data, objective (which holds the search space), budget and Optuna parts.

    ``n_trials`` is the total number of finished (complete or pruned) trials the study should have:
    running it again only adds the missing ones. ``sampler`` and ``pruner`` default to a TPE sampler
    seeded from ``seed`` and a pruner that stops trials in the bottom quarter at each report
    (``default_pruner``). ``trials_per_batch``: how many trials an objective that can train several
    at once (``run_batch``) gets together (default: the objective's choice for the device).
    ``warm_start``: names of sibling studies whose ``warm_start_top`` best configurations are tried
    first when this study is made (a sibling not there yet is skipped).
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
    trials_per_batch: int | None = None
    warm_start: list[str] = field(default_factory=list)
    warm_start_top: int = 3
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
            warm_start=[name + SMOKE_SUFFIX for name in self.warm_start],
        )
