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


def _recorded(values: list[tuple[str, float, dict[int, float]]], *, baseline: dict | None = None) -> optuna.Study:
    """A study whose trials report given values at given epochs (complete or pruned), as the MLP's do."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name="lab", storage=open_storage(default_storage(), heartbeat=False),
                                direction="maximize")
    study.set_user_attr("glasstune.metric", "cv_balanced_accuracy")
    study.set_user_attr("glasstune.provenance", {"name": "ka-softness-T0.45", "engine": "openmm"})
    if baseline:
        study.set_user_attr("glasstune.baseline", baseline)
    for state, value, reports in values:
        trial = study.ask()
        trial.set_user_attr("step_unit", "epoch")
        for step, reported in reports.items():
            trial.report(reported, step)
        trial.set_user_attr("cv_score", value)
        trial.set_user_attr("train_score", min(1.0, value + 0.3))
        trial.set_user_attr("gap", min(1.0, value + 0.3) - value)
        if state == "PRUNED":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, value)
    return study


def test_the_summary_says_best_gap_baseline_pruning_and_whether_the_score_still_rises():
    from glasstune.results.report import summary_lines

    plateau = _recorded([("COMPLETE", 0.70, {10: 0.6, 316: 0.74, 3162: 0.70}), ("PRUNED", 0.52, {10: 0.52}),
                         ("COMPLETE", 0.74, {10: 0.65, 316: 0.74}), ("PRUNED", 0.55, {10: 0.6, 18: 0.55}),
                         ("PRUNED", 0.50, {10: 0.50}), ("COMPLETE", 0.71, {10: 0.6, 316: 0.71}),
                         ("COMPLETE", 0.72, {10: 0.6, 316: 0.72}), ("COMPLETE", 0.73, {10: 0.6, 316: 0.73})],
                        baseline={"name": "linear SVM (C = 0.01)", "score": 0.73, "spread": 0.02})
    assert summary_lines(plateau) == [
        "Best: trial 2, held-out balanced accuracy 0.740 (training 1.000, memorisation gap +0.260).",
        "Baseline: linear SVM (C = 0.01) 0.730 ± 0.020 on the same folds; the best trial is level with it "
        "(+0.010, within its spread).",
        "Trials: 5 complete, 3 pruned.",
        "Pruned: 3 of 8 finished trials, at epoch 10 (2), epoch 18 (1).",
        "Plateaued: no better score in the 5 finished trials since trial 2 (from 0.700 to 0.740).",
        "1 complete trial(s) ended 0.01 or more below their own peak: trial 0 peaked at 0.740 at epoch 316 and "
        "scored 0.700 at epoch 3162 (0.040 lower); fewer epochs may score higher.",
    ]


def test_a_best_score_that_improved_near_the_budgets_end_is_still_rising(tmp_path):
    from glasstune.results.report import report, summary_lines

    rising = _recorded([("COMPLETE", 0.60 + 0.01 * i, {10: 0.5, 100: 0.60 + 0.01 * i}) for i in range(6)])
    lines = summary_lines(rising)
    assert lines[-1] == ("Still rising: the best score last improved at trial 5 (from 0.640 to 0.650), 0 finished "
                         "trial(s) before the budget's end; more trials may help.")
    page = report(rising, tmp_path / "rising").read_text()
    assert "<li>Still rising: the best score last improved at trial 5" in page
    assert page.index("Still rising") < page.index("<img")  # the words come before the figures


def test_figures_speak_the_labs_words_mark_the_best_trial_and_carry_the_data_set(tmp_path):
    import optuna.visualization.matplotlib as vis
    from matplotlib.figure import Figure

    from glasstune.results.plots import memorisation_scatter
    from glasstune.results.report import _rename_objective
    from glasstune.results.study_plots import intermediate_curves, score_by_trial

    history = score_by_trial([0, 1, 2, 3], [0.6, 0.55, 0.7, 0.65], ["COMPLETE", "PRUNED", "COMPLETE", "COMPLETE"],
                             best=2, score="held-out balanced accuracy", title="study lab",
                             baseline=("linear SVM", 0.62, 0.02))
    axis = history.axes[0]
    assert axis.get_xlabel() == "trial number" and axis.get_ylabel() == "held-out balanced accuracy"
    assert all(float(tick).is_integer() for tick in axis.get_xticks())
    assert "best: trial 2 (0.700)" in axis.get_legend_handles_labels()[1]
    assert "baseline: linear SVM (0.620)" in axis.get_legend_handles_labels()[1]

    curves = intermediate_curves({0: ([10, 100, 1000], [0.6, 0.7, 0.65]), 1: ([10], [0.5])},
                                 {0: "COMPLETE", 1: "PRUNED"}, best=0, score="held-out balanced accuracy",
                                 unit="epoch", title="study lab")
    axis = curves.axes[0]
    assert axis.get_xscale() == "log" and axis.get_xlabel() == "epoch (log scale)"
    assert {"complete", "pruned", "best: trial 0", "where the pruner stopped a trial"} <= set(
        axis.get_legend_handles_labels()[1])

    scatter = memorisation_scatter([0.95, 0.7], [0.65, 0.68], [0, 1], ["COMPLETE", "COMPLETE"], "study lab", best=1)
    axis = scatter.axes[0]
    texts = [text.get_text() for text in axis.texts]
    assert "no gap" in texts and any(text.startswith("memorising") for text in texts)
    assert axis.get_xlabel() == "training balanced accuracy" and axis.get_ylabel() == "held-out balanced accuracy"
    assert "best: trial 1 (gap +0.020)" in axis.get_legend_handles_labels()[1]

    study = _recorded([("COMPLETE", 0.6 + 0.01 * i, {10: 0.6}) for i in range(4)])
    for i, trial in enumerate(study.trials):  # parameters for Optuna's own figure
        study.add_trial(optuna.trial.create_trial(params={"width": 10 + i}, distributions={
            "width": optuna.distributions.IntDistribution(1, 100)}, value=trial.value))
    figure = vis.plot_parallel_coordinate(study).figure
    _rename_objective(figure, "held-out balanced accuracy")
    assert isinstance(figure, Figure)
    shown = [label.get_text() for axes in figure.axes for label in axes.get_xticklabels()]
    assert "held-out balanced accuracy" in shown and "Objective Value" not in shown
