"""The bar a tuned MLP must clear: the lab's earlier method, a linear SVM on standardised features.

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


def linear_svm() -> Any:
    """The lab's earlier method: a linear SVM with C = 0.01 on standardised features."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return make_pipeline(StandardScaler(), LinearSVC(C=SVM_C, dual="auto", max_iter=10_000))


def svm_baseline(X: np.ndarray, y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """Held-out balanced accuracy (mean and fold std) and ROC AUC of the SVM on ``folds``, in the
    form the study runner records: ``{"name", "score", "spread", ...}``."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    balanced, auc = [], []
    for train, test in folds:
        svm = linear_svm()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning on nearly separable folds
            svm.fit(X[train], y[train])
        balanced.append(balanced_accuracy_score(y[test], svm.predict(X[test])))
        if len(np.unique(y[test])) == 2:
            auc.append(roc_auc_score(y[test], svm.decision_function(X[test])))
    result = {"name": NAME, "score": float(np.mean(balanced)), "spread": float(np.std(balanced)),
              "folds": len(balanced)}
    if auc:
        result["roc_auc"] = float(np.mean(auc))
    return result
