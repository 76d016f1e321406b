"""Metrics reach MLflow at 4 significant digits, where the rest is noise a person has to read past;
whole numbers (iterations, counts) stay exact. On a real SQLite store."""

from __future__ import annotations

import numpy as np
from mlflow.tracking import MlflowClient

from glasstune.stores.tracking import Tracker


def test_a_trials_metrics_are_logged_readable_and_whole_numbers_exact(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracker = Tracker.open(uri)
    experiment = tracker.experiment_id("rounding")
    run = tracker.start_trial(experiment, tracker.study_run(experiment, "rounding", None, tags={}), "rounding", 0,
                              tags={})
    float32_score = float(np.float32(0.334))  # 0.33399999141693115
    run.log_metrics([("cv_balanced_accuracy", float32_score, None), ("loss", 1.2345678e-05, 3),
                     ("resumed_from", 12345.0, None), ("gap", 0.29062500000000003, None)])
    run.end("COMPLETE")
    metrics = MlflowClient(uri).get_run(run.run_id).data.metrics
    assert metrics == {"cv_balanced_accuracy": 0.334, "loss": 1.235e-05, "resumed_from": 12345.0, "gap": 0.2906}
