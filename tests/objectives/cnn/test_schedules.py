"""Learning-rate schedules: the lab's threshold rule switches down and back up; warm-up then decay."""

from __future__ import annotations

import pytest

from glasstune.errors import GlasstuneError
from glasstune.objectives.cnn.schedules import Constant, Threshold, WarmupExponential, make_schedule


def test_threshold_switches_down_and_back_up():
    schedule = Threshold(lr_initial=1e-3, lr_final=1e-4, threshold=0.90)
    accuracy = [0.50, 0.85, 0.90, 0.97, 0.88, 0.89, 0.93, 0.51]
    rates = [schedule(step, value) for step, value in enumerate(accuracy)]
    assert rates == [1e-3, 1e-3, 1e-4, 1e-4, 1e-3, 1e-3, 1e-4, 1e-3]


def test_threshold_depends_on_accuracy_not_on_iteration():
    schedule = Threshold(1e-3, 1e-4, 0.9)
    assert {schedule(step, 0.95) for step in (0, 10, 1000)} == {1e-4}
    assert {schedule(step, 0.5) for step in (0, 10, 1000)} == {1e-3}


def test_constant_ignores_everything():
    assert {Constant(3e-4)(step, acc) for step, acc in ((0, 0.1), (50, 0.99))} == {3e-4}


def test_warmup_then_exponential_decay():
    schedule = WarmupExponential(lr=1e-3, warmup=4, decay=0.9)
    warm = [schedule(step, 0.5) for step in range(4)]
    assert warm == pytest.approx([2e-4, 4e-4, 6e-4, 8e-4])
    assert schedule(4, 0.5) == pytest.approx(1e-3)
    assert schedule(6, 0.5) == pytest.approx(1e-3 * 0.81)
    assert schedule(4 + 30, 0.99) == pytest.approx(1e-3 * 0.9**30)


def test_no_warmup_starts_at_full_rate():
    assert WarmupExponential(lr=1e-3, warmup=0, decay=0.5)(0, 0.0) == pytest.approx(1e-3)


def test_make_schedule_from_search_space_params():
    assert make_schedule({"learning_rate": 1e-3}) == Constant(1e-3)
    threshold = make_schedule({"learning_rate": 1e-3, "schedule": "threshold", "lr_final": 2e-5, "lr_threshold": 0.8})
    assert threshold == Threshold(1e-3, 2e-5, 0.8)
    warm = make_schedule({"learning_rate": 1e-2, "schedule": "warmup_exp", "warmup_iterations": 2, "lr_decay": 0.97})
    assert warm == WarmupExponential(1e-2, 2, 0.97)
    with pytest.raises(GlasstuneError, match="unknown schedule 'cosine'"):
        make_schedule({"learning_rate": 1e-3, "schedule": "cosine"})
