"""The CNN trial's curves figure: memorisation, the best iteration, the pruner's reports and
threshold, read from the Figure object; and a real pruned trial that draws them."""

from __future__ import annotations

import pickle

import numpy as np
import optuna
import pytest

from glasstune.data.image_sets import SyntheticImages
from glasstune.objectives.cnn.objective import CNNObjective
from glasstune.objectives.cnn.plots import training_curves
from glasstune.objectives.context import TrialContext
from tests.recording import RecordingSink


def _history(n: int) -> dict[str, list[float]]:
    val = list(np.linspace(0.5, 0.95, n))
    val[-1] = 0.55  # the run fell back late
    return {"train_acc": list(np.linspace(0.5, 1.0, n)), "val_acc": val, "test_acc": val,
            "train_loss": list(np.geomspace(0.7, 0.01, n)), "val_loss": list(np.geomspace(0.7, 0.3, n)),
            "test_loss": list(np.geomspace(0.7, 0.3, n)), "lr": [1e-3] * n,
            "best_val_acc": list(np.maximum.accumulate(val)), "batch_loss": list(np.geomspace(0.8, 0.02, n))}


def test_curves_against_log_iterations_with_reports_threshold_and_a_late_fall():
    figure = training_curves(_history(41), title="trial 2 · glass-liquid [SYNTHETIC]", best_step=39,
                             report_steps=[5, 10, 15, 20, 25, 30, 35, 40], thresholds={35: 0.97},
                             pruned_at=35, notes=["pruned at iteration 35: ..."])
    accuracy, loss = figure.axes[0], figure.axes[1]
    assert accuracy.get_xscale() == "symlog" and loss.get_yscale() == "log"
    assert accuracy.get_xlabel() == "iteration (10 batches; log scale)"
    labels = figure.legends[0].texts
    shown = {text.get_text() for text in labels}
    assert {"train", "validation", "memorisation gap", "reports to the pruner", "pruning threshold",
            "pruned at iteration 35", "best validation (iteration 39)"} <= shown
    reports = next(line for line in accuracy.get_lines() if line.get_label() == "reports to the pruner")
    assert list(reports.get_xdata()) == [5, 10, 15, 20, 25, 30, 35, 40]
    note = accuracy.get_title(loc="left")
    assert "best validation accuracy 0.939 at iteration 39" in note and "0.389 below its peak" in note
    assert "pruned at iteration 35" in note
    pickle.loads(pickle.dumps(figure))


def slow(trial):
    return {"batch_size": 8, "learning_rate": 1e-5, "dropout": 0.5, "l2_beta": 0.01, "schedule": "constant",
            "augment": False}


def test_a_pruned_cnn_trial_draws_the_pruners_threshold(tmp_path, monkeypatch):
    import glasstune.objectives.cnn.plots as plots

    drawn = []
    original = plots.training_curves
    monkeypatch.setattr(plots, "training_curves", lambda *a, **k: drawn.append(k) or original(*a, **k))
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.PercentilePruner(75.0, n_startup_trials=2))
    for value in (0.99, 1.0):  # two complete trials that were nearly perfect at iteration 2
        trial = study.ask()
        trial.report(value, 2)
        study.tell(trial, value)
    data = SyntheticImages(n_per_class=12, size=24, particles_across=6).load()
    objective = CNNObjective(slow, iterations=2, eval_examples=16, report_every=2, checkpoint_every=10, threads=1)
    ctx = TrialContext(trial=study.ask(), data=data, seed=0, workdir=tmp_path, checkpoint_dir=tmp_path / "ckpt",
                       sink=RecordingSink())
    with pytest.raises(optuna.TrialPruned) as pruned:
        objective(ctx)
    reason = str(pruned.value)
    threshold = np.percentile([0.99, 1.0], 25)
    assert reason.startswith("pruned at iteration 2: best validation accuracy so far 0.")
    assert reason.endswith(f"< {threshold:.3f} (bottom 25 % of 2 complete trials at iteration 2)")
    marks = drawn[-1]
    assert marks["report_steps"] == [2] and marks["pruned_at"] == 2 and marks["notes"] == [reason]
    assert marks["thresholds"] == {2: pytest.approx(threshold)}
