"""Phop, the lab's rearrangement indicator, and the labels drawn from it.

For particle i and a window of W frames centred on frame t, with halves A = [t - W/2, t] and
B = [t, t + W/2] (both include t):

    Phop(i, t) = sqrt( <(r_i - <r_i>_B)^2>_A * <(r_i - <r_i>_A)^2>_B )

where <.>_A is the mean over the frames of half A. (JAX MD's ``quantity.phop`` multiplies other
averages; this is the formula of the lab's code and papers.) Running sums over frames give every
window position for every particle at once, in O(frames * particles).

Labels, per analysis frame t (``select_labels``):

* ``"thresholds"`` (the lab's rule, the default): 1 when Phop(i, t) > 0.2; 0 when Phop(i, t') < 0.05
  for every t' within a quiet interval centred on t (the particle stays put for a long time).
* ``"quantiles"`` (only when asked for): 1 for the top ``quantile`` of Phop(i, t); 0 for the
  ``quantile`` of particles whose largest Phop over the quiet interval is lowest. A relative rule:
  at T <= 0.6 its "rearranging" rows are mostly cage rattling (Phop < 0.2), and in hot liquids
  its "quiet" rows move a lot; every table made with it says so in its provenance.

There is no silent fallback from one rule to the other: where the lab's thresholds leave a class
(nearly) empty, featurising fails and says how many rows each class found.

Each frame contributes equally many rows of each class (at most ``max_per_class_per_frame``,
chosen at random), so every frame (a CV group) is balanced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from glasstune.errors import DataError

HOP_THRESHOLD = 0.2
QUIET_THRESHOLD = 0.05


def phop(positions: np.ndarray, window: int) -> np.ndarray:
    """Phop for every frame and particle; NaN where the window does not fit in the trajectory.

    ``positions``: unwrapped, shape (frames, particles, dims). ``window``: W in frames (even;
    an odd W is rounded down), each half holds W/2 + 1 frames.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3:
        raise DataError(f"positions must be (frames, particles, dims), got {positions.shape}")
    half = int(window) // 2
    if half < 1:
        raise DataError(f"Phop window of {window} frame(s) is too short; use at least 2")
    frames = positions.shape[0]
    result = np.full(positions.shape[:2], np.nan)
    if frames < 2 * half + 1:
        return result
    centred = positions - positions[:1]  # small numbers: the running sums stay exact
    first = np.concatenate([np.zeros_like(centred[:1]), np.cumsum(centred, axis=0)])
    squares = np.einsum("fnd,fnd->fn", centred, centred)
    second = np.concatenate([np.zeros_like(squares[:1]), np.cumsum(squares, axis=0)])
    count = half + 1
    centres = np.arange(half, frames - half)
    a_lo, a_hi = centres - half, centres + 1  # half A = frames a_lo .. a_hi - 1
    b_lo, b_hi = centres, centres + half + 1
    mean_a = (first[a_hi] - first[a_lo]) / count
    mean_b = (first[b_hi] - first[b_lo]) / count
    square_a = (second[a_hi] - second[a_lo]) / count
    square_b = (second[b_hi] - second[b_lo]) / count
    # <(r - m)^2> = <r^2> - 2 <r>.m + m^2 over a half
    spread_a = square_a - 2 * np.einsum("tnd,tnd->tn", mean_a, mean_b) + np.einsum(
        "tnd,tnd->tn", mean_b, mean_b)
    spread_b = square_b - 2 * np.einsum("tnd,tnd->tn", mean_b, mean_a) + np.einsum(
        "tnd,tnd->tn", mean_a, mean_a)
    result[centres] = np.sqrt(np.clip(spread_a, 0, None) * np.clip(spread_b, 0, None))
    return result


def interval_max(values: np.ndarray, frames: int) -> np.ndarray:
    """Largest value over a centred interval of ``frames`` + 1 frames, per particle; NaN where
    the interval leaves the known range (so such particles are never called quiet)."""
    half = int(frames) // 2
    result = np.full_like(values, np.nan)
    if len(values) < 2 * half + 1:
        return result
    if half == 0:
        return values.copy()
    windows = np.lib.stride_tricks.sliding_window_view(values, 2 * half + 1, axis=0)
    result[half:len(values) - half] = windows.max(axis=-1)  # NaN inside propagates: not quiet
    return result


RULES = ("thresholds", "quantiles")


@dataclass(frozen=True)
class LabelRule:
    """How rearranging (1) and quiet (0) particles are chosen; times are in LJ units.

    Defaults are the lab's: a Phop window of 10 tau, Phop > 0.2 rearranging, Phop < 0.05 over a
    10 tau interval quiet. ``min_per_class``: fewer rows of a class than this is an error.
    """

    window: float = 10.0
    quiet_interval: float = 10.0
    hop_threshold: float = HOP_THRESHOLD
    quiet_threshold: float = QUIET_THRESHOLD
    rule: str = "thresholds"
    quantile: float = 0.1
    min_per_class: int = 20
    max_per_class_per_frame: int = 25
    sample_every: float = 2.0

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise DataError(f"unknown label rule {self.rule!r}; use {' or '.join(RULES)}")
        if not 0 < self.quantile < 0.5:
            raise DataError(f"label quantile must be in (0, 0.5), got {self.quantile}")

    def describe(self) -> str:
        """The rule in one line, for provenance and plot captions."""
        if self.rule == "quantiles":
            return (f"quantile labels: top {self.quantile:.0%} Phop vs quietest {self.quantile:.0%} "
                    f"(window {self.window:g} tau)")
        return (f"lab labels: Phop > {self.hop_threshold:g} vs < {self.quiet_threshold:g} over "
                f"{self.quiet_interval:g} tau (window {self.window:g} tau)")


@dataclass
class Selection:
    """Chosen rows: parallel arrays of frame, particle and label, and how they were chosen."""

    frames: np.ndarray
    particles: np.ndarray
    labels: np.ndarray
    rule: str
    hop_threshold: float
    quiet_threshold: float


def select_labels(hop: np.ndarray, quiet: np.ndarray, candidates: np.ndarray,
                  frames: np.ndarray, rule: LabelRule, rng: np.random.Generator) -> Selection:
    """Balanced rows per analysis frame. ``hop`` and ``quiet`` are (frames, particles): Phop at t
    and its maximum over the quiet interval; ``candidates`` masks the particles to classify."""
    return _select(hop, quiet, candidates, frames, rule, rng, quantiles=rule.rule == "quantiles")


def _select(hop, quiet, candidates, frames, rule, rng, *, quantiles: bool) -> Selection:
    picked_frames, picked_particles, picked_labels = [], [], []
    hop_cuts, quiet_cuts = [], []
    index = np.flatnonzero(candidates)
    for frame in frames:
        hop_now, quiet_now = hop[frame, index], quiet[frame, index]
        if quantiles:
            hop_cut = float(np.quantile(hop_now, 1 - rule.quantile))
            quiet_cut = float(np.quantile(quiet_now, rule.quantile))
            active = hop_now > hop_cut
            still = (quiet_now <= quiet_cut) & ~active
        else:
            hop_cut, quiet_cut = rule.hop_threshold, rule.quiet_threshold
            active = hop_now > hop_cut
            still = quiet_now < quiet_cut  # NaN (unknown) compares False
        hop_cuts.append(hop_cut)
        quiet_cuts.append(quiet_cut)
        take = min(int(active.sum()), int(still.sum()), rule.max_per_class_per_frame)
        if take == 0:
            continue
        ones = rng.choice(index[active], take, replace=False)
        zeros = rng.choice(index[still], take, replace=False)
        picked_particles.append(np.r_[ones, zeros])
        picked_labels.append(np.r_[np.ones(take, np.int8), np.zeros(take, np.int8)])
        picked_frames.append(np.full(2 * take, frame))
    if picked_frames:
        frames_out = np.concatenate(picked_frames)
        particles_out = np.concatenate(picked_particles)
        labels_out = np.concatenate(picked_labels)
    else:
        frames_out = particles_out = np.empty(0, np.int64)
        labels_out = np.empty(0, np.int8)
    return Selection(frames_out, particles_out, labels_out,
                     "quantiles" if quantiles else "thresholds",
                     float(np.mean(hop_cuts)) if hop_cuts else rule.hop_threshold,
                     float(np.mean(quiet_cuts)) if quiet_cuts else rule.quiet_threshold)


def hop_counts(hop: np.ndarray, quiet: np.ndarray, candidates: np.ndarray, frames: np.ndarray,
               rule: LabelRule) -> dict[str, float | int]:
    """How much rearranging the trajectory holds, by the lab's thresholds whatever the rule.

    ``hop_events`` counts distinct rearrangements over the whole trajectory: the times a candidate's
    Phop rises above the threshold after it was below half the threshold (one hop stays above it for
    several frames and is seen in several analysis frames; the hysteresis keeps a Phop hovering
    near the threshold from counting as many hops). The others count (particle, analysis frame) pairs.
    """
    index = np.flatnonzero(candidates)
    at_frames = hop[np.ix_(frames, index)]
    rising = _rises(np.nan_to_num(hop[:, index], nan=0.0), rule.hop_threshold, rule.hop_threshold / 2)
    pairs = at_frames.size
    return {
        "particle_frames": int(pairs),
        "above_hop_threshold": int(np.count_nonzero(at_frames > rule.hop_threshold)),
        "quiet_throughout_interval": int(np.count_nonzero(quiet[np.ix_(frames, index)] < rule.quiet_threshold)),
        "hop_events": rising,
        "fraction_above_hop_threshold": float(np.mean(at_frames > rule.hop_threshold)) if pairs else 0.0,
    }


def _rises(values: np.ndarray, high: float, low: float) -> int:
    """Count, per column, the crossings above ``high`` that follow a visit below ``low`` (or the start)."""
    state = np.zeros(values.shape[1], dtype=bool)  # currently counted as "in a hop"
    rises = 0
    for row in values:
        started = ~state & (row > high)
        rises += int(np.count_nonzero(started))
        state = (state | started) & ~(row < low)
    return rises
