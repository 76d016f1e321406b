"""Dynamic propensity: how far each particle tends to move from a given configuration.

Widmer-Cooper and Harrowell's iso-configurational ensemble, the regression target of the GlassBench
roadmap (Jung et al., arXiv:2311.14752): from one configuration, ``runs`` trajectories start with
fresh Maxwell velocities at T and run for ``time`` (about tau_alpha); a particle's propensity is its
squared displacement averaged over those runs. It depends on the configuration alone, not on one
trajectory's luck, which is what structure could predict.

The runs are NVE (velocity Verlet): over about tau_alpha the energy drift is negligible, and no
thermostat state carries over from one run to the next.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from glasstune.data.ka.simulation import DT, Progress, build_system, create_context, maxwell_velocities
from glasstune.data.ka.trajectory import Trajectory
from glasstune.errors import DataError

DEFAULT_RUNS = 8
MAX_TIME = 20.0
"""Longest iso-configurational run (tau) on a CPU: below T = 0.6 tau_alpha is 1e2 or more, and the
propensity is measured at this shorter time (recorded) instead."""


def propensity_time(tau_alpha: float | None, max_time: float = MAX_TIME) -> float:
    """tau_alpha, or ``max_time`` when tau_alpha is unknown (the run never relaxed) or longer."""
    return float(min(tau_alpha, max_time)) if tau_alpha else float(max_time)


def dynamic_propensity(trajectory: Trajectory, frames: np.ndarray, *, time: float, runs: int = DEFAULT_RUNS,
                       seed: int = 0, platform: str = "auto", threads: int | None = None,
                       progress: Progress | None = None) -> dict[int, np.ndarray]:
    """Per-particle propensity <|r(time) - r(0)|^2> over ``runs`` iso-configurational runs started
    from each of ``frames``; returns {frame: (N,) array}."""
    import openmm

    if runs < 2:
        raise DataError(f"propensity needs at least 2 iso-configurational runs, got {runs}")
    if trajectory.temperature is None:
        raise DataError("propensity needs the trajectory's temperature")
    steps = max(int(round(time / DT)), 1)
    system = build_system(trajectory.species, trajectory.box)
    context, integrator, _ = create_context(system, lambda: openmm.VerletIntegrator(DT), platform,
                                            threads=threads)
    rng = np.random.default_rng(seed)
    n = trajectory.n_particles
    result: dict[int, np.ndarray] = {}
    done, total = 0, len(frames) * runs
    for frame in frames:
        start = trajectory.wrapped(int(frame))
        squared = np.zeros(n)
        for _ in range(runs):
            context.setPositions(start)
            context.setVelocities(maxwell_velocities(n, trajectory.temperature, rng))
            integrator.step(steps)
            moved = np.asarray(context.getState(getPositions=True).getPositions(asNumpy=True)._value) - start
            squared += np.einsum("nd,nd->n", moved, moved)
            done += 1
            if progress is not None:
                progress("propensity", done, total)
        result[int(frame)] = squared / runs
    return result


def propensity_record(time: float, tau_alpha: float | None, runs: int, frames: np.ndarray) -> dict[str, Any]:
    """What the propensity column means, for the provenance."""
    return {
        "definition": "mean squared displacement over iso-configurational NVE runs from the frame",
        "time": time,
        "tau_alpha": tau_alpha,
        "at_tau_alpha": bool(tau_alpha is not None and abs(time - tau_alpha) < 1e-9),
        "runs": runs,
        "frames": [int(f) for f in frames],
        "rows_without": "NaN (frames without iso-configurational runs)",
    }
