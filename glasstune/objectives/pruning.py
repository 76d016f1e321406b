"""Why the pruner stopped a trial, in numbers: the value it compared, the threshold, the rule.

Optuna's pruners answer yes or no. A physicist reading "pruned at step 18" wants to know what the
step counts, which value was compared with what, and against how many trials; the trial's figure
wants the threshold to draw it. ``explain`` recomputes the decision from the study's pruner and the
other trials' intermediate values at the same step (for the percentile and median pruners exactly as
Optuna does; for the threshold pruner from its bounds; other pruners are named, without a threshold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PruneDecision:
    """A pruned trial's last report and what it was compared with."""

    step: int
    unit: str
    value: float
    """The value reported at ``step``."""
    compared: float
    """The value the pruner judged: the trial's best so far for the percentile and median pruners."""
    threshold: float | None
    reason: str
    thresholds: dict[int, float] = field(default_factory=dict)
    """The pruner's threshold at each step this trial reported where the pruner judged (percentile
    pruners), for the trial's figure."""
    pruner: str = ""

    def text(self) -> str:
        """The short artifact a pruned run keeps (``why_stopped.txt``)."""
        lines = [self.reason, f"pruner: {self.pruner}", f"{self.unit}: {self.step}", f"reported: {self.value:.4f}"]
        if self.compared != self.value and not math.isnan(self.compared):
            lines.append(f"judged (best so far): {self.compared:.4f}")
        if self.threshold is not None:
            lines.append(f"threshold: {self.threshold:.4f}")
        return "\n".join(lines) + "\n"


def explain(trial: Any, value: float, step: int, *, unit: str = "step", label: str = "intermediate value",
            where: str | None = None) -> PruneDecision:
    """The decision the study's pruner just took for ``trial`` at ``step``, in words and numbers.

    ``label`` names the reported value ("held-out"), ``unit`` what a step counts ("epoch"), ``where``
    the position in the objective's words when a step is not simply ``unit step``."""
    import optuna

    study = trial.study
    pruner = study.pruner
    position = where or f"{unit} {step}"
    frozen = [t for t in study.get_trials(deepcopy=False) if t.number == trial.number]
    reported = dict(frozen[0].intermediate_values) if frozen else {step: value}
    name = describe_pruner(pruner)
    if isinstance(pruner, optuna.pruners.PercentilePruner):
        return _percentile(study, pruner, reported, value, step, unit, label, position, name)
    if isinstance(pruner, optuna.pruners.ThresholdPruner):
        return _bounds(pruner, value, step, unit, label, position, name)
    reason = f"pruned at {position} by {type(pruner).__name__}: {label} {_number(value)}"
    return PruneDecision(step, unit, value, value, None, reason, pruner=name)


def describe_pruner(pruner: Any) -> str:
    """``PercentilePruner(percentile=75, n_startup_trials=5, ...)`` from the pruner's own settings."""
    settings = {key.lstrip("_"): item for key, item in vars(pruner).items()
                if isinstance(item, (int, float, str, bool)) or item is None}
    return f"{type(pruner).__name__}({', '.join(f'{key}={item!r}' for key, item in settings.items())})"


def _percentile(study: Any, pruner: Any, reported: dict[int, float], value: float, step: int, unit: str,
                label: str, position: str, name: str) -> PruneDecision:
    """Optuna's percentile rule: prune when the trial's best value so far is below (maximising) the
    given percentile of the complete trials' values at this step."""
    import numpy as np
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    maximise = study.direction == StudyDirection.MAXIMIZE
    percentile = float(getattr(pruner, "_percentile", 50.0))
    level = 100.0 - percentile if maximise else percentile
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    warmup = int(getattr(pruner, "_n_warmup_steps", 0))

    def at(when: int) -> list[float]:
        return [t.intermediate_values[when] for t in complete if when in t.intermediate_values]

    thresholds = {when: float(np.nanpercentile(np.asarray(at(when), dtype=float), level))
                  for when in sorted(reported) if when >= warmup and at(when)}
    values = np.asarray(list(reported.values()), dtype=float)
    compared = float(np.nanmax(values) if maximise else np.nanmin(values)) if not np.all(np.isnan(values)) \
        else math.nan
    threshold = thresholds.get(step)
    if math.isnan(compared) or threshold is None:
        reason = f"pruned at {position}: {label} is not a number"
        return PruneDecision(step, unit, value, compared, threshold, reason, thresholds, name)
    share = 100.0 - percentile
    rule = "below the median" if share == 50.0 else f"{'bottom' if maximise else 'top'} {share:g} %"
    if share == 50.0 and not maximise:
        rule = "above the median"
    shown_value, shown_threshold = _pair(compared, threshold)
    judged = f"{label} {shown_value}" if compared == value else \
        f"{label} {_number(value)} (best so far {shown_value})"
    reason = (f"pruned at {position}: {judged} {'<' if maximise else '>'} {shown_threshold} "
              f"({rule} of {len(at(step))} complete trials at {unit} {step})")
    return PruneDecision(step, unit, value, compared, threshold, reason, thresholds, name)


def _bounds(pruner: Any, value: float, step: int, unit: str, label: str, position: str,
            name: str) -> PruneDecision:
    lower, upper = getattr(pruner, "_lower", None), getattr(pruner, "_upper", None)
    if math.isnan(value):
        reason = f"pruned at {position}: {label} is not a number"
        return PruneDecision(step, unit, value, value, None, reason, pruner=name)
    if lower is not None and value < lower:
        shown, bound = _pair(value, float(lower))
        reason = f"pruned at {position}: {label} {shown} < {bound} (the pruner's lower bound)"
        return PruneDecision(step, unit, value, value, float(lower), reason, pruner=name)
    bound_value = float(upper) if upper is not None else math.nan
    shown, bound = _pair(value, bound_value)
    reason = f"pruned at {position}: {label} {shown} > {bound} (the pruner's upper bound)"
    return PruneDecision(step, unit, value, value, upper, reason, pruner=name)


def _number(value: float) -> str:
    return f"{value:.3f}"


def _pair(first: float, second: float) -> tuple[str, str]:
    """Both numbers at 3 decimals, or as many more (up to 6) as it takes for them to differ on paper."""
    for digits in range(3, 7):
        a, b = f"{first:.{digits}f}", f"{second:.{digits}f}"
        if a != b:
            return a, b
    return a, b
