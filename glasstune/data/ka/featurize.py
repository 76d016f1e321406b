"""Trajectory -> feature table: Phop labels, balanced rows per frame, 100 structure functions each.

Analysis frames are spaced ``sample_every`` apart (default 2 LJ times, half the Phop window), so a
rearrangement is seen in at most a few of them, and only frames where the whole quiet interval lies
inside the trajectory are used. Features are computed for the chosen rows only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from glasstune.data.ka.phop import LabelRule, hop_counts, interval_max, phop, select_labels
from glasstune.data.ka.simulation import Progress
from glasstune.data.ka.structure import structure_functions
from glasstune.data.ka.trajectory import Trajectory
from glasstune.data.schema import FEATURE_COLUMNS, LABEL_COLUMN
from glasstune.errors import DataError

FEATURIZER = "glasstune.ka.featurize"
FEATURIZER_VERSION = 2
"""2: the lab's labels by default (10 tau window, thresholds, no silent quantile fallback), hop counts."""


def featurize(
    trajectory: Trajectory,
    *,
    temperature: float | None = None,
    rule: LabelRule | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The feature table (temperature, frame, particle, species, G_A.., G_B.., phop, label) of the
    A particles chosen by ``rule``, and its provenance (the trajectory's plus the labelling)."""
    rule = rule or LabelRule()
    source = trajectory.provenance.get("source", "trajectory")
    temperature = temperature if temperature is not None else trajectory.temperature
    if temperature is None:
        raise DataError(f"{source}: the temperature is unknown; give it (--temperature T)")
    if not trajectory.frame_time:
        raise DataError(f"{source}: the time between frames is unknown; save 'frame_time' "
                        f"(LJ units) in the NPZ")
    window = max(int(round(rule.window / trajectory.frame_time)), 2)
    quiet_frames = int(round(rule.quiet_interval / trajectory.frame_time))
    spacing = max(int(round(rule.sample_every / trajectory.frame_time)), 1)
    hop = phop(trajectory.positions, window)
    quiet = interval_max(hop, quiet_frames)
    usable = np.flatnonzero(np.all(np.isfinite(quiet), axis=1))
    if not len(usable):
        needed = (2 * (window // 2) + 2 * (quiet_frames // 2)) * trajectory.frame_time
        have = (trajectory.n_frames - 1) * trajectory.frame_time
        raise DataError(
            f"{source}: the trajectory spans {have:g} LJ time units; Phop window {rule.window:g} "
            f"plus quiet interval {rule.quiet_interval:g} need at least {needed:g}"
        )
    frames = usable[::spacing]
    candidates = trajectory.species == 0
    rng = np.random.default_rng(seed)
    chosen = select_labels(hop, quiet, candidates, frames, rule, rng)
    counts = hop_counts(hop, quiet, candidates, frames, rule)
    per_class = int(chosen.labels.sum())
    if per_class < rule.min_per_class:
        span = (trajectory.n_frames - 1) * trajectory.frame_time
        raise DataError(
            f"{source}: at T = {temperature:g}, {rule.describe()} give {per_class} balanced row(s) per "
            f"class in {len(frames)} analysis frames of {span:g} tau ({counts['above_hop_threshold']} "
            f"(particle, frame) pairs above {rule.hop_threshold:g}, {counts['quiet_throughout_interval']} "
            f"quiet throughout); need {rule.min_per_class}: simulate longer, or ask for the relative "
            f"'quantiles' rule (flagged as such everywhere)"
        )
    blocks = []
    used = np.unique(chosen.frames)
    for count, frame in enumerate(used):
        rows = chosen.frames == frame
        particles = chosen.particles[rows]
        features = structure_functions(trajectory.wrapped(frame), trajectory.species,
                                       trajectory.box, particles)
        block = pd.DataFrame(features, columns=list(FEATURE_COLUMNS))
        block.insert(0, "species", trajectory.species[particles].astype(np.int8))
        block.insert(0, "particle", particles.astype(np.int64))
        block.insert(0, "frame", np.int64(frame))
        block.insert(0, "temperature", float(temperature))
        block["phop"] = hop[frame, particles].astype(np.float32)
        block[LABEL_COLUMN] = chosen.labels[rows]
        blocks.append(block)
        if progress is not None:
            progress("features", count + 1, len(used))
    table = pd.concat(blocks, ignore_index=True)
    hop_a = hop[np.ix_(frames, np.flatnonzero(candidates))]
    provenance = {
        **trajectory.provenance,
        "temperature": float(temperature),
        "featurizer": FEATURIZER,
        "featurizer_version": FEATURIZER_VERSION,
        "frame_time": trajectory.frame_time,
        "phop_window": rule.window,
        "phop_window_frames": 2 * (window // 2),
        "quiet_interval": rule.quiet_interval,
        "sample_every": spacing * trajectory.frame_time,
        "label_rule": chosen.rule,
        "label_rule_text": rule.describe(),
        "hop_threshold": round(chosen.hop_threshold, 6),
        "quiet_threshold": round(chosen.quiet_threshold, 6),
        "quantile": rule.quantile if chosen.rule == "quantiles" else None,
        "fraction_phop_above_0.2": float(np.mean(hop_a > 0.2)),
        "hop_counts": counts,
        "rows_per_class": per_class,
        "max_per_class_per_frame": rule.max_per_class_per_frame,
        "label_seed": seed,
        "rows": len(table),
        "frames": len(used),
    }
    provenance.setdefault("synthetic", False)
    provenance.setdefault("equilibrated", None)  # unknown for a trajectory made elsewhere
    return table, provenance

