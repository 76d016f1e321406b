"""Seeds that make a trial reproducible: derived from the study's seed and the trial's number only."""

from __future__ import annotations

from typing import Any

from glasstune.objectives.context import derive_seed


def trial_seed(study_seed: int, trial_number: int) -> int:
    """A per-trial seed that depends only on the study seed and the trial number."""
    return derive_seed(study_seed, trial_number)


def original_trial_number(trial: Any) -> int:
    """A retried trial (its worker died) counts as the trial it retries: same seed, same checkpoints."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
    original = RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)
    return trial.number if original is None else int(original)
