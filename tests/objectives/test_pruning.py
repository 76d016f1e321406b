"""A pruned trial says what it was compared with: a real study, a real pruner, the other trials'
intermediate values at the same step, and the threshold recomputed by hand."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from glasstune.objectives.context import TrialContext
from tests.recording import RecordingSink

STEPS = (10, 18, 32)


def _study(pruner, direction="maximize", complete=((0.60, 0.62, 0.64), (0.58, 0.61, 0.66), (0.62, 0.64, 0.67),
                                                   (0.59, 0.60, 0.63), (0.65, 0.66, 0.70))):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction=direction, pruner=pruner)
    for values in complete:
        trial = study.ask()
        for step, value in zip(STEPS, values, strict=True):
            trial.report(value, step)
        study.tell(trial, values[-1])
    return study


def _context(study, tmp_path, data=None):
    sink = RecordingSink()
    return TrialContext(trial=study.ask(), data=data, seed=0, workdir=tmp_path, checkpoint_dir=tmp_path,
                        sink=sink), sink


def test_a_pruned_trial_says_the_threshold_and_how_many_trials_set_it(tmp_path):
    study = _study(optuna.pruners.PercentilePruner(75.0, n_startup_trials=3, n_warmup_steps=1))
    ctx, sink = _context(study, tmp_path)
    ctx.report(0.60, 10, unit="epoch", label="held-out")  # above the bottom quarter at epoch 10: goes on
    with pytest.raises(optuna.TrialPruned) as stopped:
        ctx.report(0.5187, 18, unit="epoch", label="held-out")
    threshold = np.percentile([0.62, 0.61, 0.64, 0.60, 0.66], 25)  # the complete trials at epoch 18
    expected = (f"pruned at epoch 18: held-out 0.519 (best so far 0.600) < {threshold:.3f} "
                f"(bottom 25 % of 5 complete trials at epoch 18)")
    assert str(stopped.value) == expected
    assert ctx.pruned.threshold == pytest.approx(threshold) and ctx.pruned.compared == 0.60  # Optuna judges the best
    assert ctx.pruned.thresholds == pytest.approx({10: np.percentile([0.60, 0.58, 0.62, 0.59, 0.65], 25),
                                                   18: threshold})
    assert study.trials[-1].user_attrs["prune_reason"] == expected
    assert study.trials[-1].user_attrs["step_unit"] == "epoch"
    why = (tmp_path / "why_stopped.txt").read_text()
    assert why.startswith(expected) and "PercentilePruner(percentile=75.0" in why and "threshold: " in why
    assert sink.artifact_names == {"why_stopped.txt"}


def test_the_median_pruner_and_a_minimised_score_are_said_the_right_way_round(tmp_path):
    losses = ((0.9, 0.7, 0.5), (0.8, 0.6, 0.4), (0.85, 0.65, 0.45))
    study = _study(optuna.pruners.MedianPruner(n_startup_trials=2), direction="minimize", complete=losses)
    ctx, _ = _context(study, tmp_path)
    with pytest.raises(optuna.TrialPruned, match=r"pruned at iteration 10: loss 0\.950 > 0\.850 "
                                                 r"\(above the median of 3 complete trials at iteration 10\)"):
        ctx.report(0.95, 10, unit="iteration", label="loss")


def test_a_threshold_pruner_names_its_bound_and_numbers_differ_on_paper(tmp_path):
    study = _study(optuna.pruners.ThresholdPruner(lower=0.6))
    ctx, _ = _context(study, tmp_path)
    with pytest.raises(optuna.TrialPruned, match=r"^pruned at fold 1: held-out 0\.5996 < 0\.6000 \(the pruner's "
                                                 r"lower bound\)$"):
        ctx.report(0.5996, 1, unit="fold", label="held-out")  # 0.600 < 0.600 would read as a lie


def test_the_trial_records_its_step_unit_and_data_set_once(tmp_path):
    from glasstune.data.sources import SyntheticSoftness

    table = SyntheticSoftness(0.45, n_frames=6, n_per_class=12).load()
    study = _study(optuna.pruners.NopPruner())
    ctx, _ = _context(study, tmp_path, data=table)
    ctx.report(0.6, 1, unit="epoch")
    ctx.report(0.7, 2, unit="epoch")
    attrs = study.trials[-1].user_attrs
    assert attrs["step_unit"] == "epoch" and attrs["data"] == "ka-softness-synthetic/T0.45 [SYNTHETIC]"
    assert ctx.pruned is None and not (tmp_path / "why_stopped.txt").exists()
