"""Shared bits of the benchmarks: data, a fixed-config objective call, timing with medians."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def data(n_frames: int, n_per_class: int) -> Any:
    """The synthetic T = 0.45 stand-in (made in seconds, cached like every data set)."""
    from glasstune.data.sources import SyntheticSoftness

    return SyntheticSoftness(0.45, n_frames=n_frames, n_per_class=n_per_class).load()


def lab_set() -> Any:
    """The built-in simulated T = 0.45 set of the lab's study (``make run`` uses the same cache; made
    once, about 1.5-2.5 minutes, if it is not there yet)."""
    from glasstune.data import softness

    return softness(0.45).load()


def run_objective(objective: Any, table: Any, seed: int = 0, device: str = "cpu") -> float:
    """One trial of a glasstune objective with a fixed trial and a sink that keeps nothing."""
    import optuna

    from glasstune.objectives.context import TrialContext

    with tempfile.TemporaryDirectory() as folder:
        ctx = TrialContext(trial=optuna.trial.FixedTrial({}), data=table, seed=seed, workdir=Path(folder),
                           checkpoint_dir=Path(folder) / "ckpt", device=device)
        return objective(ctx)


def timed(function: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """Median wall time over repeats (the machine is shared: single runs are noisy)."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result
