"""The bar a tuned MLP must clear: the lab's earlier method, a linear SVM on standardised features
(a linear ridge regression for a continuous target).

Scored once per study on the study's own folds (the same rows, the same frame-grouped splits), in
the study's own metric, so "tuned MLP 0.731, linear SVM 0.781" compares like with like.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

SVM_C = 0.01
NAME = f"linear SVM (C = {SVM_C:g}, standardised)"
REGRESSION_NAME = "linear ridge regression (alpha = 1, standardised)"


def linear_svm() -> Any:
    """The lab's earlier method: a linear SVM with C = 0.01 on standardised features."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return make_pipeline(StandardScaler(), LinearSVC(C=SVM_C, dual="auto", max_iter=10_000))


def linear_regression() -> Any:
    """The linear baseline for a continuous target (e.g. dynamic propensity): ridge on standardised features."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), Ridge(alpha=1.0))


def svm_baseline(X: np.ndarray, y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]],
                 task: str = "binary") -> dict[str, Any]:
    """The linear baseline on ``folds`` in the study's metric (held-out balanced accuracy; Pearson r
    for a regression), mean and fold std, in the form the study runner records:
    ``{"name", "score", "spread", ...}`` (plus the ROC AUC for two classes)."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    from glasstune.objectives.mlp.scoring import pearson_r

    scores, auc = [], []
    for train, test in folds:
        model = linear_regression() if task == "regression" else linear_svm()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning on nearly separable folds
            model.fit(X[train], y[train])
        if task == "regression":
            scores.append(pearson_r(y[test], model.predict(X[test])))
            continue
        scores.append(balanced_accuracy_score(y[test], model.predict(X[test])))
        if task == "binary" and len(np.unique(y[test])) == 2:
            auc.append(roc_auc_score(y[test], model.decision_function(X[test])))
    result = {"name": REGRESSION_NAME if task == "regression" else NAME, "score": float(np.mean(scores)),
              "spread": float(np.std(scores)), "folds": len(scores)}
    if auc:
        result["roc_auc"] = float(np.mean(auc))
    return result
