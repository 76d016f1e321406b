"""How a fitted MLP is scored, by the task its table's label sets.

- binary and multi-class: balanced accuracy (the study's value), accuracy, ROC AUC (macro
  one-vs-rest over the classes for K > 2), the training balanced accuracy and the majority-class
  baseline; the memorisation gap is train minus held-out balanced accuracy;
- regression (a continuous target): Pearson r (the study's value) and R²; the memorisation gap is
  train r minus held-out r; the baseline is the R² of predicting the training mean (about 0).

A prediction that does not vary has no correlation with anything: its Pearson r is 0, not NaN,
so a network that learned nothing scores as such instead of failing its trial.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PRIMARY = {"binary": "balanced_accuracy", "multiclass": "balanced_accuracy", "regression": "pearson_r"}
"""The per-fold score the pruner sees and the study maximises, by task."""


def study_metric(task: str) -> str:
    """The name of the study's value for a task: the mean held-out primary score."""
    return f"cv_{PRIMARY[task]}"


def totals_names(task: str) -> tuple[str, ...]:
    """The totals a trial records for a task (any of them may be the objective's ``metric``)."""
    if task == "regression":
        return ("cv_pearson_r", "cv_pearson_r_std", "cv_r2", "train_pearson_r", "train_r2", "memorisation_gap",
                "baseline_r2")
    return ("cv_balanced_accuracy", "cv_balanced_accuracy_std", "cv_accuracy", "cv_roc_auc",
            "train_balanced_accuracy", "train_accuracy", "memorisation_gap", "baseline_accuracy")


def pearson_r(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Pearson's correlation coefficient; 0 when either side does not vary."""
    truth = np.asarray(truth, dtype=np.float64) - np.mean(truth)
    predicted = np.asarray(predicted, dtype=np.float64) - np.mean(predicted)
    norm = np.sqrt(np.sum(truth**2) * np.sum(predicted**2))
    if not np.isfinite(norm) or norm == 0:
        return 0.0
    return float(np.clip(np.sum(truth * predicted) / norm, -1.0, 1.0))


def roc_auc(truth: np.ndarray, probability: np.ndarray) -> float:
    """ROC AUC of class probabilities (rows, K): for K = 2 of the second class; for K > 2 the macro
    mean of one-vs-rest AUCs over the classes present with both sides. NaN when none can be scored."""
    from sklearn.metrics import roc_auc_score

    truth = np.asarray(truth)
    columns = [1] if probability.shape[1] == 2 else range(probability.shape[1])
    aucs = [roc_auc_score(truth == k, probability[:, k]) for k in columns if 0 < np.sum(truth == k) < len(truth)]
    return float(np.mean(aucs)) if aucs else float("nan")


def fold_scores(estimator: Any, X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                task: str) -> dict[str, float]:
    """Held-out and training scores of an estimator fitted on ``train``, and the baseline."""
    if task == "regression":
        return _regression_scores(estimator, X, y, train, test)
    return _classification_scores(estimator, X, y, train, test)


def _classification_scores(estimator: Any, X: np.ndarray, y: np.ndarray, train: np.ndarray,
                           test: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    predicted_test = estimator.predict(X[test])
    predicted_train = estimator.predict(X[train])
    majority = int(np.bincount(y[train]).argmax())
    scores = {
        "balanced_accuracy": balanced_accuracy_score(y[test], predicted_test),
        "accuracy": accuracy_score(y[test], predicted_test),
        "roc_auc": roc_auc(y[test], estimator.predict_proba(X[test])),
        "train_balanced_accuracy": balanced_accuracy_score(y[train], predicted_train),
        "train_accuracy": accuracy_score(y[train], predicted_train),
        "baseline_accuracy": float(np.mean(y[test] == majority)),
    }
    scores["memorisation_gap"] = scores["train_balanced_accuracy"] - scores["balanced_accuracy"]
    return {key: float(value) for key, value in scores.items()}


def _regression_scores(estimator: Any, X: np.ndarray, y: np.ndarray, train: np.ndarray,
                       test: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import r2_score

    predicted_test = estimator.predict(X[test])
    predicted_train = estimator.predict(X[train])
    scores = {
        "pearson_r": pearson_r(y[test], predicted_test),
        "r2": r2_score(y[test], predicted_test),
        "train_pearson_r": pearson_r(y[train], predicted_train),
        "train_r2": r2_score(y[train], predicted_train),
        "baseline_r2": r2_score(y[test], np.full(len(test), np.mean(y[train]))),
    }
    scores["memorisation_gap"] = scores["train_pearson_r"] - scores["pearson_r"]
    return {key: float(value) for key, value in scores.items()}


def fold_totals(folds: Any, task: str) -> dict[str, float]:
    """Means over the folds done so far (a DataFrame of ``fold_scores`` rows), and the primary
    score's spread."""
    means = folds.drop(columns=["fold", "n_train", "n_test"]).mean()
    primary = PRIMARY[task]
    totals = {f"cv_{primary}": means[primary], f"cv_{primary}_std": float(folds[primary].std(ddof=0))}
    if task == "regression":
        totals.update(cv_r2=means["r2"], train_pearson_r=means["train_pearson_r"], train_r2=means["train_r2"],
                      memorisation_gap=means["memorisation_gap"], baseline_r2=means["baseline_r2"])
    else:
        totals.update(cv_accuracy=means["accuracy"], cv_roc_auc=means["roc_auc"],
                      train_balanced_accuracy=means["train_balanced_accuracy"],
                      train_accuracy=means["train_accuracy"], memorisation_gap=means["memorisation_gap"],
                      baseline_accuracy=means["baseline_accuracy"])
    return {key: float(value) for key, value in totals.items()}


def trial_summary(totals: dict[str, float], task: str) -> dict[str, float]:
    """What the trials table shows of a trial: the CV and train scores in the task's terms, the gap."""
    primary = PRIMARY[task]
    summary = {"cv_score": totals[f"cv_{primary}"], "train_score": totals[f"train_{primary}"],
               "gap": totals["memorisation_gap"]}
    if task == "regression":
        summary["cv_r2"] = totals["cv_r2"]
    else:
        summary["cv_auc"] = totals["cv_roc_auc"]
    return summary


def training_scores(output: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    """A final model's scores on the rows it was trained on (what ``retrain`` reports beside the CV
    score): ``output`` is P(label 1), the class probabilities, or the predicted values."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, r2_score

    if task == "regression":
        return {"train_pearson_r": pearson_r(y, output), "train_r2": float(r2_score(y, output))}
    probability = output if output.ndim == 2 else np.column_stack([1 - output, output])
    predicted = probability.argmax(axis=1)
    return {"train_balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
            "train_accuracy": float(accuracy_score(y, predicted)), "train_roc_auc": roc_auc(y, probability)}
