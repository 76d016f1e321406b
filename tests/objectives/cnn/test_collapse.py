"""Collapse detection on synthetic validation curves like the lab's 'spikes' to 50%."""

from __future__ import annotations

from glasstune.objectives.cnn.collapse import CollapseDetector

LEARNED_THEN_COLLAPSED = [0.50, 0.62, 0.81, 0.93, 0.97, 0.99, 0.50, 0.49, 0.51, 0.50]


def find_collapse(curve, *, chance=0.5, patience=2):
    """The step at which a detector fed ``curve`` fires, or None."""
    detector = CollapseDetector(threshold=0.9, chance=chance, margin=0.05, patience=patience)
    return next((step for step, value in enumerate(curve) if detector.update(step, value)), None)


def test_learned_then_back_to_chance_is_flagged_once():
    detector = CollapseDetector(threshold=0.9, chance=0.5, margin=0.05, patience=2)
    fired = [detector.update(step, value) for step, value in enumerate(LEARNED_THEN_COLLAPSED)]
    assert fired == [False] * 7 + [True, False, False]
    assert detector.collapsed and detector.collapse_step == 7
    assert "iteration 7" in detector.reason and "0.990" in detector.reason


def test_never_learned_is_not_a_collapse():
    assert find_collapse([0.5, 0.52, 0.49, 0.55, 0.51, 0.5, 0.5]) is None


def test_single_dip_is_not_a_collapse_with_patience():
    assert find_collapse([0.6, 0.95, 0.5, 0.96, 0.97, 0.5, 0.97]) is None
    assert find_collapse([0.6, 0.95, 0.5, 0.96], patience=1) == 2


def test_partial_drop_above_chance_is_not_a_collapse():
    assert find_collapse([0.7, 0.95, 0.70, 0.68, 0.72, 0.70]) is None


def test_chance_follows_the_class_balance():
    curve = [0.7, 0.95, 0.70, 0.70, 0.70]
    assert find_collapse(curve, chance=0.7) == 3  # majority class is 70%: 0.70 is chance there


def test_state_round_trip_for_checkpoints():
    detector = CollapseDetector()
    for step, value in enumerate(LEARNED_THEN_COLLAPSED[:7]):
        detector.update(step, value)
    restored = CollapseDetector.from_state(detector.state())
    assert [restored.update(7 + i, v) for i, v in enumerate(LEARNED_THEN_COLLAPSED[7:])] == [True, False, False]
