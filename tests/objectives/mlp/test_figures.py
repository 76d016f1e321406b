"""The MLP trial's figure shows memorisation and why a trial stopped: read from the Figure object
before it is saved (axes, scales, lines, marks), for a drawn curve and for real trials."""

from __future__ import annotations

import pickle

import numpy as np
import optuna
import pytest

from glasstune.data.sources import SyntheticSoftness
from glasstune.objectives.context import TrialContext
from glasstune.objectives.mlp.objective import CrossValidatedMLP
from glasstune.objectives.mlp.plots import training_curves
from tests.recording import RecordingSink

HELD_OUT, TRAINING = "held-out balanced accuracy", "training balanced accuracy"


def _labels(axes) -> list[str]:
    return axes.get_legend_handles_labels()[1]


def test_scores_and_losses_share_log_epochs_with_the_best_epoch_and_a_late_drop_marked():
    epochs = [10, 18, 32, 56, 100, 178, 316, 562, 1000, 1778, 3162]
    held = [0.60, 0.63, 0.66, 0.69, 0.71, 0.73, 0.740, 0.73, 0.71, 0.69, 0.681]
    train = [0.65, 0.72, 0.80, 0.88, 0.93, 0.97, 0.99, 1.0, 1.0, 1.0, 1.0]
    losses = [np.geomspace(0.7, 1e-4, 3162) for _ in range(3)]
    figure = training_curves(losses, epochs, held, train, title="trial 7 · ka-softness-T0.45 (openmm)")
    scores, loss = figure.axes[:2]
    assert scores.get_ylabel() == "balanced accuracy" and loss.get_ylabel().startswith("training loss")
    assert loss.get_xscale() == "log" and scores.get_xscale() == "log" and loss.get_yscale() == "log"
    assert loss.get_xlabel() == "epoch (log scale)"
    labels = _labels(scores)
    assert {TRAINING, "memorisation gap", "best epoch (316)"} <= set(labels)
    assert any(label.startswith(HELD_OUT) and "report epochs" in label for label in labels)
    held_line = next(line for line in scores.get_lines() if line.get_label().startswith(HELD_OUT))
    assert list(held_line.get_xdata()) == epochs and held_line.get_marker() == "o"  # every report epoch marked
    assert len(loss.get_lines()) == 3
    note = scores.get_title(loc="left")
    assert "best held-out balanced accuracy 0.740 at epoch 316" in note
    assert "scored 0.681 at its last epoch (3162), 0.059 below its peak" in note
    assert figure._suptitle.get_text() == "trial 7 · ka-softness-T0.45 (openmm)"
    pickle.loads(pickle.dumps(figure))  # the MLflow writer process draws it from a pickle


def test_a_pruned_trials_figure_draws_the_pruners_threshold_and_where_it_stopped():
    figure = training_curves([np.geomspace(0.7, 0.3, 18)], [10, 18], [0.58, 0.519], [0.62, 0.70], title="t",
                             thresholds={10: 0.55, 18: 0.603}, pruned_at=18, notes=["pruned at epoch 18: ..."])
    scores = figure.axes[0]
    labels = _labels(scores)
    assert "pruning threshold" in labels and "pruned at epoch 18" in labels
    threshold = scores.collections[[c.get_label() for c in scores.collections].index("pruning threshold")]
    assert threshold.get_offsets().tolist() == [[10, 0.55], [18, 0.603]]
    assert "pruned at epoch 18" in scores.get_title(loc="left")


@pytest.fixture
def table():
    return SyntheticSoftness(0.45, n_frames=6, n_per_class=12).load()


def space(trial):
    return {"hidden_layer_sizes": (8,), "max_iter": trial.suggest_int("max_iter", 20, 20), "solver": "adam",
            "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-4, 1e-2, log=True)}


def test_a_pruned_torch_trial_keeps_its_figure_scores_and_reason(tmp_path, table, monkeypatch):
    drawn = {}
    import glasstune.objectives.mlp.plots as plots

    original = plots.training_curves
    monkeypatch.setattr(plots, "training_curves", lambda *a, **k: drawn.setdefault("figure", original(*a, **k)))
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0),
                                pruner=optuna.pruners.ThresholdPruner(lower=0.99))
    sink = RecordingSink()
    ctx = TrialContext(trial=study.ask(), data=table, seed=1, workdir=tmp_path, checkpoint_dir=tmp_path, sink=sink)
    with pytest.raises(optuna.TrialPruned, match=r"^pruned at epoch 10: held-out 0\.\d{3} < 0\.990"):
        CrossValidatedMLP(space, n_folds=3, backend="torch")(ctx)
    assert sink.artifact_names == {"config.json", "why_stopped.txt", "loss_curves.png"}
    scores = {key: values[-1][1] for key, values in sink.metrics.items()}
    held_out, training = scores["cv_balanced_accuracy"], scores["train_balanced_accuracy"]
    assert scores["memorisation_gap"] == pytest.approx(training - held_out)  # the scores when it stopped
    attrs = ctx.trial.user_attrs
    assert attrs["gap"] == pytest.approx(training - held_out) and attrs["cv_score"] == held_out
    title = drawn["figure"].axes[0].get_title(loc="left")
    assert "pruned at epoch 10" in title and "lower bound" in title
