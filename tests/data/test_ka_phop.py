"""Phop against hand-worked cases and the formula written out; label selection."""

from __future__ import annotations

import numpy as np
import pytest

from glasstune.data.ka.featurize import featurize
from glasstune.data.ka.phop import LabelRule, interval_max, phop, select_labels
from glasstune.data.ka.trajectory import Trajectory
from glasstune.errors import DataError


def jumper(frames: int = 41, jump_at: int = 20, size: float = 1.0) -> np.ndarray:
    """One particle that sits at 0 and moves by ``size`` along x at frame ``jump_at``."""
    positions = np.zeros((frames, 1, 3))
    positions[jump_at:, 0, 0] = size
    return positions


def reference(positions: np.ndarray, window: int) -> np.ndarray:
    """SCIENCE.md's formula, one window at a time."""
    half = window // 2
    out = np.full(positions.shape[:2], np.nan)
    for t in range(half, len(positions) - half):
        a, b = positions[t - half: t + 1], positions[t: t + half + 1]
        mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
        spread_a = ((a - mean_b) ** 2).sum(axis=-1).mean(axis=0)
        spread_b = ((b - mean_a) ** 2).sum(axis=-1).mean(axis=0)
        out[t] = np.sqrt(spread_a * spread_b)
    return out


def test_single_jump_by_hand():
    values = phop(jumper(), window=10)[:, 0]
    # centred on the jump: half A = 5 frames at 0 and one at 1, half B = 6 frames at 1
    #   <(x - 1)^2>_A = 5/6, <(x - 1/6)^2>_B = 25/36  ->  Phop = sqrt(125/216)
    assert values[20] == pytest.approx(np.sqrt(125 / 216))
    assert np.nanargmax(values) in (19, 20)
    assert values[20] > 0.2
    far = np.r_[5:14, 26:36]
    np.testing.assert_allclose(values[far], 0.0, atol=1e-12)
    assert np.isnan(values[:5]).all() and np.isnan(values[-5:]).all()


def test_still_and_rattling_particles_stay_low():
    rng = np.random.default_rng(0)
    still = np.zeros((30, 1, 3)) + 3.7
    assert np.nanmax(phop(still, 8)) == pytest.approx(0.0, abs=1e-12)
    rattle = 5.0 + 0.05 * rng.standard_normal((200, 10, 3))  # cage rattling, amplitude 0.05
    assert np.nanmax(phop(rattle, 20)) < 0.05


def test_matches_the_formula_on_random_walks_far_from_the_origin():
    rng = np.random.default_rng(1)
    walk = 1000.0 + np.cumsum(0.1 * rng.standard_normal((60, 7, 3)), axis=0)
    for window in (4, 10, 11):
        np.testing.assert_allclose(phop(walk, window), reference(walk, window), rtol=1e-8,
                                   equal_nan=True)


def test_hop_size_scales_as_square():
    assert phop(jumper(size=2.0), 10)[20, 0] == pytest.approx(4 * phop(jumper(), 10)[20, 0])


def test_short_inputs():
    assert np.isnan(phop(np.zeros((5, 2, 3)), 10)).all()
    with pytest.raises(DataError):
        phop(np.zeros((5, 2, 3)), 1)


def test_interval_max_is_centred_and_unknown_at_edges():
    values = np.zeros((11, 2))
    values[5, 0] = 1.0
    values[0, 1] = np.nan
    result = interval_max(values, 4)
    assert np.isnan(result[:2]).all() and np.isnan(result[-2:]).all()
    # the spike at frame 5 is seen by every interval of five frames that covers it
    assert result[2:9, 0].tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    assert np.isnan(result[2, 1]) and result[3, 1] == 0.0  # NaN inside the interval: unknown


def test_thresholds_give_balanced_frames():
    rng = np.random.default_rng(2)
    hop = rng.uniform(0.0, 0.04, (10, 100))
    hop[:, :10] = 0.5  # ten rearranging particles in every frame
    quiet = hop.copy()
    chosen = select_labels(hop, quiet, np.ones(100, bool), np.arange(10),
                           LabelRule(min_per_class=50), rng)
    assert chosen.rule == "thresholds"
    assert chosen.labels.sum() == 100 and (chosen.labels == 0).sum() == 100
    assert np.all(chosen.particles[chosen.labels == 1] < 10)
    assert np.all(hop[chosen.frames, chosen.particles][chosen.labels == 0] < 0.05)
    for frame in range(10):
        in_frame = chosen.labels[chosen.frames == frame]
        assert in_frame.sum() * 2 == len(in_frame)


def test_quantile_labels_only_when_asked():
    rng = np.random.default_rng(3)
    hop = rng.uniform(0.3, 1.0, (6, 200))  # a hot liquid: everyone above 0.2, nobody quiet
    lab = select_labels(hop, hop, np.ones(200, bool), np.arange(6), LabelRule(), rng)
    assert lab.rule == "thresholds" and len(lab.labels) == 0  # no silent fallback to another rule
    asked = select_labels(hop, hop, np.ones(200, bool), np.arange(6), LabelRule(rule="quantiles"), rng)
    assert asked.rule == "quantiles"
    assert (asked.labels == 1).sum() == (asked.labels == 0).sum() == 6 * 20
    assert hop[asked.frames, asked.particles][asked.labels == 1].min() > \
        hop[asked.frames, asked.particles][asked.labels == 0].max()
    with pytest.raises(DataError, match="thresholds or quantiles"):
        LabelRule(rule="auto")


def hoppers_and_rattlers(seed: int = 0) -> Trajectory:
    """60 tau at 0.1 tau per frame: 40 particles rattle by 0.05 sigma and hop by 1 sigma once (at
    times spread over the run), 40 rattle by 0.05 and never hop, 40 rattle by 0.2 (Phop about
    3 * 0.2^2 = 0.12: neither rearranging nor quiet by the lab's rule) and never hop."""
    rng = np.random.default_rng(seed)
    frames, n = 601, 120
    home = rng.random((n, 3)) * 9.0
    amplitude = np.r_[np.full(80, 0.05), np.full(40, 0.2)]
    positions = home + amplitude[None, :, None] * rng.standard_normal((frames, n, 3))
    for particle, when in enumerate(np.linspace(150, 450, 40).astype(int)):
        positions[when:, particle, 0] += 1.0
    return Trajectory(positions, np.full(3, 9.0), np.zeros(n, np.int8), frame_time=0.1, temperature=0.5)


def test_the_labs_rule_on_a_hand_made_trajectory():
    table, provenance = featurize(hoppers_and_rattlers())
    hoppers, still, big_rattlers = set(range(40)), set(range(40, 80)), set(range(80, 120))
    rearranging = table[table["label"] == 1]
    quiet = table[table["label"] == 0]
    assert set(rearranging["particle"]) <= hoppers and (rearranging["phop"] > 0.2).all()
    assert set(quiet["particle"]) <= still | hoppers and (quiet["phop"] < 0.05).all()
    assert not set(table["particle"]) & big_rattlers  # too restless to be quiet, no hop: in neither class
    for row in rearranging.itertuples():  # labelled where its hop is, within half a window (5 tau)
        hop_frame = np.linspace(150, 450, 40).astype(int)[row.particle]
        assert abs(row.frame - hop_frame) <= 50
    assert provenance["label_rule"] == "thresholds" and provenance["phop_window"] == 10.0
    assert provenance["quiet_interval"] == 10.0 and provenance["hop_counts"]["hop_events"] == 40
    # the relative rule calls the restless rattlers "rearranging": what the lab's rule avoids
    relative, _ = featurize(hoppers_and_rattlers(), rule=LabelRule(rule="quantiles"))
    assert set(relative.loc[relative["label"] == 1, "particle"]) & big_rattlers


def test_candidates_limit_the_rows():
    rng = np.random.default_rng(4)
    hop = rng.uniform(0, 1, (3, 50))
    mask = np.zeros(50, bool)
    mask[::2] = True
    chosen = select_labels(hop, hop, mask, np.arange(3), LabelRule(rule="quantiles"), rng)
    assert np.all(chosen.particles % 2 == 0)
