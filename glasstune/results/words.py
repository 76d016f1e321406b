"""The lab's words for what a study recorded: its score, what a step counts, its data, its baseline.

Every view of a study (the trials table, the report, the dashboard, the MLflow view) labels numbers
with these, so "Objective Value" and "Step" never reach a physicist.
"""

from __future__ import annotations

import math
from typing import Any

from glasstune.data.provenance import provenance_label
from glasstune.stores.names import StudyAttr, TrialAttr

METRICS = {
    "cv_balanced_accuracy": "held-out balanced accuracy",
    "cv_accuracy": "held-out accuracy",
    "cv_roc_auc": "held-out ROC AUC",
    "val_accuracy": "validation accuracy",
}
"""A study's metric (``StudyAttr.METRIC``) in words; an unknown metric is shown by its own name."""
REPORTED = {
    "cv_balanced_accuracy": "held-out balanced accuracy",
    "val_accuracy": "best validation accuracy so far",
}
"""What the objective behind a metric reports to the pruner as its intermediate values."""
COLUMNS = {
    "number": "#", "state": "state", "value": "score", "cv_score": "held-out", "train_score": "train",
    "gap": "gap", "cv_auc": "AUC", "val_accuracy": "val", "test_accuracy": "test",
    "final_val_accuracy": "final val", "final_test_accuracy": "final test", "collapsed": "collapsed",
    "val_accuracy_std": "val std", "val_accuracy_worst": "val worst", "duration_s": "time", "note": "note",
    "epochs_done": "epochs", "folds_done": "folds",
}
"""Short headers for the trials table (a column not named here keeps its own name)."""


def metric_name(study: Any) -> str:
    return str(study.user_attrs.get(StudyAttr.METRIC) or "value")


def metric_words(study: Any) -> str:
    """"held-out balanced accuracy" for the MLP's ``cv_balanced_accuracy``."""
    metric = metric_name(study)
    return METRICS.get(metric, "objective value" if metric == "value" else metric)


def reported_words(study: Any) -> str:
    """What the study's intermediate values are, in words."""
    return REPORTED.get(metric_name(study), "intermediate value")


def step_unit(study: Any, trials: list[Any] | None = None) -> str:
    """What the study's intermediate values count: the unit its objective named (epoch, iteration,
    fold), or "step" for trials recorded before objectives named it."""
    for trial in trials if trials is not None else study.get_trials(deepcopy=False):
        unit = trial.user_attrs.get(TrialAttr.STEP_UNIT)
        if unit:
            return str(unit)
    return "step"


def data_words(study: Any) -> str:
    """The study's data set, "[SYNTHETIC]" included when it is synthetic."""
    provenance = study.user_attrs.get(StudyAttr.PROVENANCE) or {}
    return provenance_label(provenance) if provenance else "data not recorded"


def is_synthetic(study: Any) -> bool:
    return bool((study.user_attrs.get(StudyAttr.PROVENANCE) or {}).get("synthetic", False))


def baseline_words(study: Any, best_value: float | None = None) -> str | None:
    """The recorded baseline ("linear SVM 0.730 ± 0.020 on the same folds") and, given the best
    value, how the best trial compares with it (below, level within the spread, above)."""
    baseline = study.user_attrs.get(StudyAttr.BASELINE)
    if not isinstance(baseline, dict) or not _number(baseline.get("score")):
        return None
    score = float(baseline["score"])
    spread = float(baseline["spread"]) if _number(baseline.get("spread")) else 0.0
    text = f"{baseline.get('name', 'baseline')} {score:.3f}"
    text += f" ± {spread:.3f}" if spread else ""
    text += " on the same folds"
    if best_value is not None and math.isfinite(best_value):
        better = best_value - score if getattr(study.direction, "name", "MAXIMIZE") == "MAXIMIZE" \
            else score - best_value
        if better < -spread:
            text += f"; the best trial is worse by {-better:.3f}"
        elif better <= spread:
            text += f"; the best trial is level with it ({better:+.3f}, within its spread)"
        else:
            text += f"; the best trial is better by {better:.3f}"
    return text


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
