"""Read a study back from its Optuna storage: the trials table and the best trials."""

from __future__ import annotations

from typing import Any

from glasstune.errors import GlasstuneError
from glasstune.stores.names import StudyAttr, TrialAttr
from glasstune.urls import redact

RUNNER_ATTRS = {TrialAttr.SEED, TrialAttr.WORKER, TrialAttr.GPU, TrialAttr.INTERRUPTED}


def load_study(name: str, storage_url: str) -> Any:
    import optuna

    from glasstune.stores.optuna_storage import open_storage, study_names

    storage = open_storage(storage_url, heartbeat=False)
    known = study_names(storage)
    if name not in known:
        hint = f"known studies: {', '.join(known[:8])}" if known else "the storage holds no study yet"
        raise GlasstuneError(f"no study named {name!r} in {redact(storage_url)}; {hint}")
    return optuna.load_study(study_name=name, storage=storage)


def trials_frame(study: Any) -> Any:
    """One row per trial: number, state, value, the objective's summary values (the MLP's CV and
    train scores and gap, the CNN's validation and test accuracies...), duration, parameters."""
    import pandas as pd

    rows = []
    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        row: dict[str, Any] = {"number": trial.number, "state": trial.state.name, "value": trial.value}
        for key in summary_columns(study, trials):
            row[key] = trial.user_attrs.get(key)
        duration = trial.duration
        row["duration_s"] = round(duration.total_seconds(), 2) if duration is not None else None
        row.update({f"param_{k}": v for k, v in trial.params.items()})
        warm = trial.user_attrs.get(TrialAttr.WARM_START)
        row["note"] = (trial.user_attrs.get(TrialAttr.PRUNE_REASON) or trial.user_attrs.get(TrialAttr.ERROR)
                       or (f"warm start: {warm}" if warm else ""))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.dropna(axis=1, how="all")
    return frame


def summary_columns(study: Any, trials: list[Any] | None = None) -> list[str]:
    """The trial attributes the study's objective declared as its summary (recorded when the study
    was created); for a study recorded before that, every numeric attribute its trials have."""
    recorded = study.user_attrs.get(StudyAttr.SUMMARY_COLUMNS)
    if recorded:
        return list(recorded)
    found: dict[str, None] = {}
    for trial in trials if trials is not None else study.get_trials(deepcopy=False):
        for key, value in trial.user_attrs.items():
            if key not in RUNNER_ATTRS and isinstance(value, (int, float)) and not isinstance(value, bool):
                found[key] = None
    return list(found)


def ranked_trials(study: Any, top: int) -> list[Any]:
    """The best ``top`` complete trials, best first."""
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise GlasstuneError(f"study {study.study_name!r} has no complete trial yet; run it first")
    reverse = study.direction == StudyDirection.MAXIMIZE
    return sorted(complete, key=lambda t: t.value, reverse=reverse)[:top]
