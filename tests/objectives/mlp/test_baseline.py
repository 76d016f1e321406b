"""Every MLP study is scored against the lab's linear SVM on its own folds, and says so."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from mlflow.tracking import MlflowClient

from glasstune.config import default_storage, default_tracking_uri
from glasstune.data.sources import SyntheticSoftness
from glasstune.objectives.mlp import CrossValidatedMLP
from glasstune.objectives.mlp.baseline import NAME, linear_svm
from glasstune.objectives.mlp.objective import fold_splits


def test_the_baseline_is_the_svm_on_the_studys_own_folds():
    from sklearn.metrics import balanced_accuracy_score

    table = SyntheticSoftness(0.45, n_frames=6, n_per_class=12).load()
    objective = CrossValidatedMLP(n_folds=3, cv_seed=4)
    baseline = objective.baseline(table)
    by_hand = []
    for train, test in fold_splits(table, 3, 4):
        svm = linear_svm().fit(table.X[train], table.y[train])
        by_hand.append(balanced_accuracy_score(table.y[test], svm.predict(table.X[test])))
    assert baseline["name"] == NAME == "linear SVM (C = 0.01, standardised)"
    assert baseline["score"] == pytest.approx(np.mean(by_hand))
    assert baseline["spread"] == pytest.approx(np.std(by_hand))
    assert baseline["folds"] == 3 and 0.5 <= baseline["roc_auc"] <= 1.0


def test_an_mlp_studys_run_summary_shows_the_svm_beside_the_best_trial(cli, write_study):
    result = cli("run", write_study(name="tiny", n_trials=2), "--no-progress")
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())
    study = optuna.load_study(study_name="tiny", storage=default_storage())
    baseline = study.user_attrs["glasstune.baseline"]
    assert baseline["name"] == NAME
    assert f"Baseline: {NAME} scores {baseline['score']:.4f} on the same folds;" in text
    assert text.index("Best: trial") < text.index("Baseline:")
    parent = MlflowClient(default_tracking_uri()).get_run(study.user_attrs["glasstune.mlflow_parent_run_id"])
    assert parent.data.metrics["baseline_score"] == pytest.approx(baseline["score"])
    assert parent.data.metrics["baseline_spread"] == pytest.approx(baseline["spread"])
