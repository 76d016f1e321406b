"""Read a study back from its Optuna storage: the trials table and the best trials."""

from __future__ import annotations

from typing import Any

from glasstune.errors import GlasstuneError
from glasstune.urls import redact

SUMMARY_COLUMNS = ("cv_score", "train_score", "gap")


def load_study(name: str, storage_url: str) -> Any:
    import optuna

    from glasstune.storage import open_storage, study_names

    storage = open_storage(storage_url, heartbeat=False)
    known = study_names(storage)
    if name not in known:
        hint = f"known studies: {', '.join(known[:8])}" if known else "the storage holds no study yet"
        raise GlasstuneError(f"no study named {name!r} in {redact(storage_url)}; {hint}")
    return optuna.load_study(study_name=name, storage=storage)


def trials_frame(study: Any) -> Any:
    """One row per trial: number, state, value, CV/train scores, gap, duration, parameters."""
    import pandas as pd

    rows = []
    for trial in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"number": trial.number, "state": trial.state.name, "value": trial.value}
        for key in SUMMARY_COLUMNS:
            row[key] = trial.user_attrs.get(key)
        duration = trial.duration
        row["duration_s"] = round(duration.total_seconds(), 2) if duration is not None else None
        row.update({f"param_{k}": v for k, v in trial.params.items()})
        row["note"] = trial.user_attrs.get("prune_reason") or trial.user_attrs.get("error") or ""
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.dropna(axis=1, how="all")
    return frame


def ranked_trials(study: Any, top: int) -> list[Any]:
    """The best ``top`` complete trials, best first."""
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise GlasstuneError(f"study {study.study_name!r} has no complete trial yet; run it first")
    reverse = study.direction == StudyDirection.MAXIMIZE
    return sorted(complete, key=lambda t: t.value, reverse=reverse)[:top]
