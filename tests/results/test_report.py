"""The study report: figures, notes for studies too small to draw, the page logged to the parent run.

The studies are real Optuna studies in the test's storage with a quick objective that records what
the MLP objective records (intermediate values, ``train_score``, ``cv_score``), so no network trains.
"""

from __future__ import annotations

import optuna
from mlflow.tracking import MlflowClient

from glasstune.config import default_storage, default_tracking_uri
from glasstune.results.report import report
from glasstune.stores.optuna_storage import open_storage
from glasstune.stores.tracking import Tracker

FIGURES = ("optimization_history", "param_importances", "parallel_coordinate", "contour",
           "intermediate_values", "memorisation")


def _objective(trial: optuna.Trial) -> float:
    width = trial.suggest_int("width", 4, 64)
    rate = trial.suggest_float("learning_rate_init", 1e-4, 1e-1, log=True)
    trial.suggest_categorical("solver", ["adam", "sgd"])
    cv = 0.55 + 0.2 * (rate > 1e-2) + width / 1000
    for step in (1, 2, 3):
        trial.report(cv - 0.05 * (3 - step), step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    trial.set_user_attr("train_score", min(1.0, cv + width / 100))
    trial.set_user_attr("cv_score", cv)
    return cv


def _study(name: str, n_trials: int, with_parent: bool = False) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(default_storage(), heartbeat=False)
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=1),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3))
    study.optimize(_objective, n_trials=n_trials)
    study.set_user_attr("glasstune.provenance", {"name": "ka-softness-synthetic/T0.45", "synthetic": True})
    if with_parent:
        tracker = Tracker.open(default_tracking_uri())
        parent = tracker.study_run(tracker.experiment_id(name), name, None, tags={})
        study.set_user_attr("glasstune.mlflow_parent_run_id", parent)
    return study


def test_report_draws_every_figure_and_logs_to_the_parent_run(tmp_path):
    study = _study("full", 12, with_parent=True)
    assert {t.state.name for t in study.trials} == {"COMPLETE", "PRUNED"}
    page = report(study, tmp_path / "rep", default_tracking_uri())
    text = page.read_text()
    for name in FIGURES:
        assert (tmp_path / "rep" / f"{name}.png").stat().st_size > 5_000, name
    assert text.count("data:image/png;base64,") == len(FIGURES) and "Not shown" not in text
    assert "[SYNTHETIC]" in text and "Contour of" in text
    parent = study.user_attrs["glasstune.mlflow_parent_run_id"]
    logged = {a.path for a in MlflowClient(default_tracking_uri()).list_artifacts(parent, "report")}
    assert {"report/report.html", "report/memorisation.png", "report/contour.png"} <= logged


def test_report_of_a_tiny_study_says_what_is_missing(cli, tmp_path):
    _study("tiny", 1)
    result = cli("report", "tiny", "--out", "small")
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "small" / "report.html").read_text()
    assert text.count("data:image/png;base64,") == 3  # history, intermediate values, memorisation
    assert text.count("Not shown") == 3 and "needs at least 3 complete trial(s); the study has 1" in text
    assert not (tmp_path / "small" / "contour.png").exists()
    unknown = cli("report", "nope")
    assert unknown.exit_code == 2 and "no study named 'nope'" in unknown.stderr
