"""Trajectories in memory, and the readers for the files they come in (HOOMD GSD, NPZ).

Phop needs unwrapped positions (a particle that crosses the box edge must not appear to jump by
a box length), so every reader returns unwrapped positions: GSD files carry image counters, and
other inputs are unwrapped from frame-to-frame displacements (safe when frames are closer in time
than a particle needs to travel half a box).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glasstune.errors import DataError

DEFAULT_DT = 0.005
"""HOOMD time step assumed for GSD files (KA's usual dt): frame time = steps between frames * dt."""


@dataclass
class Trajectory:
    """Unwrapped positions (frames, particles, 3), a rectangular box and species (0 = A, 1 = B).

    ``frame_time`` is the LJ time between saved frames; ``temperature`` is in LJ units.
    """

    positions: np.ndarray
    box: np.ndarray
    species: np.ndarray
    frame_time: float | None = None
    temperature: float | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        source = self.provenance.get("source", "trajectory")
        self.positions = np.asarray(self.positions)
        self.box = np.asarray(self.box, dtype=float).reshape(-1)
        self.species = np.asarray(self.species).astype(np.int8).reshape(-1)
        if self.positions.ndim != 3 or self.positions.shape[2] not in (2, 3):
            raise DataError(f"{source}: positions must have shape (frames, particles, 3), "
                            f"got {self.positions.shape}")
        if self.positions.shape[2] == 2:
            pad = np.zeros(self.positions.shape[:2] + (1,), dtype=self.positions.dtype)
            self.positions = np.concatenate([self.positions, pad], axis=2)
        if self.box.size not in (2, 3) or np.any(self.box[:2] <= 0):
            raise DataError(f"{source}: box must be 2 or 3 positive lengths, got {self.box}")
        if self.box.size == 2:
            self.box = np.r_[self.box, 0.0]
        if len(self.species) != self.n_particles:
            raise DataError(f"{source}: {len(self.species)} species for {self.n_particles} particles")
        odd = sorted(set(np.unique(self.species).tolist()) - {0, 1})
        if odd:
            raise DataError(f"{source}: species {odd[:3]}; use 0 for A and 1 for B")
        if not np.all(np.isfinite(self.positions)):
            raise DataError(f"{source}: positions contain NaN or inf")

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_particles(self) -> int:
        return int(self.positions.shape[1])

    def wrapped(self, frame: int) -> np.ndarray:
        """Positions of one frame folded into [0, L) (the box the structure functions see)."""
        lengths = np.where(self.box > 0, self.box, 1.0)
        return np.mod(self.positions[frame].astype(np.float64), lengths)


def unwrap(positions: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Undo periodic wrapping by removing box-length jumps between consecutive frames."""
    positions = np.asarray(positions, dtype=np.float64)
    lengths = np.asarray(box, dtype=float)[: positions.shape[2]]
    lengths = np.where(lengths > 0, lengths, np.inf)
    steps = np.diff(positions, axis=0)
    jumps = np.round(steps / lengths) * np.where(np.isfinite(lengths), lengths, 0.0)
    correction = np.concatenate([np.zeros_like(positions[:1]), np.cumsum(jumps, axis=0)])
    return positions - correction


def read_gsd(path: str | Path, *, dt: float = DEFAULT_DT) -> Trajectory:
    """A HOOMD GSD trajectory: types A/B (first type is A), image counters, steps for the time."""
    import gsd.hoomd

    path = Path(path)
    try:
        with gsd.hoomd.open(str(path), "r") as frames:
            if len(frames) < 2:
                raise DataError(f"{path}: {len(frames)} frame(s); Phop needs a trajectory")
            first = frames[0]
            box = np.asarray(first.configuration.box[:3], dtype=float)
            if np.any(np.asarray(first.configuration.box[3:]) != 0):
                raise DataError(f"{path}: tilted boxes are not supported; use a rectangular box")
            types = list(first.particles.types)
            species = np.asarray(first.particles.typeid, dtype=np.int8)
            positions, steps = [], []
            for frame in frames:
                position = np.asarray(frame.particles.position, dtype=np.float64)
                image = np.asarray(frame.particles.image, dtype=np.float64)
                positions.append(position + image * box)
                steps.append(int(frame.configuration.step))
    except DataError:
        raise
    except Exception as error:
        raise DataError(f"{path}: cannot be read as a HOOMD GSD file: {error}") from error
    if len(types) > 2:
        raise DataError(f"{path}: {len(types)} particle types {types}; KA has two (A, B)")
    stacked = unwrap(np.stack(positions), box)
    step_gaps = np.unique(np.diff(steps))
    frame_time = float(step_gaps[0] * dt) if len(step_gaps) == 1 and step_gaps[0] > 0 else None
    provenance = {"source": str(path), "format": "gsd", "types": types, "dt": dt,
                  "first_step": steps[0], "last_step": steps[-1]}
    return Trajectory(stacked, box, species, frame_time, None, provenance)


def read_npz(path: str | Path) -> Trajectory:
    """An NPZ with ``positions`` (F, N, 3), ``box`` (3,), ``species`` (N,); optional
    ``temperature`` and ``frame_time`` (LJ time between frames)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [k for k in ("positions", "box", "species") if k not in arrays]
            if missing:
                raise DataError(f"{path}: missing array(s) {', '.join(missing)}; a trajectory NPZ "
                                f"needs positions (frames, particles, 3), box (3,) and species")
            data = {k: arrays[k] for k in arrays.files}
    except DataError:
        raise
    except Exception as error:
        raise DataError(f"{path}: cannot be read as NPZ: {error}") from error
    box = np.asarray(data["box"], dtype=float).reshape(-1)
    positions = np.asarray(data["positions"], dtype=np.float64)
    if positions.ndim != 3:
        raise DataError(f"{path}: positions must be (frames, particles, 3), got {positions.shape}")
    positions = unwrap(positions, box[: positions.shape[2]])
    temperature = float(data["temperature"]) if "temperature" in data else None
    frame_time = float(data["frame_time"]) if "frame_time" in data else None
    provenance = {"source": str(path), "format": "npz"}
    return Trajectory(positions, box, data["species"], frame_time, temperature, provenance)


def read_trajectory(path: str | Path) -> Trajectory:
    """Pick the reader by suffix (``.gsd`` or ``.npz``)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such trajectory file")
    if path.suffix == ".gsd":
        return read_gsd(path)
    if path.suffix == ".npz":
        return read_npz(path)
    raise DataError(f"{path}: unknown trajectory format {path.suffix!r}; use .gsd or .npz")


FIRST_PEAK_Q = 7.25
"""Wavenumber of the first peak of S(q) of 3D KA at density 1.2, where tau_alpha is measured."""


def self_intermediate_scattering(trajectory: Trajectory, *, q: float = FIRST_PEAK_Q,
                                 n_lags: int = 40, n_origins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """F_s(q, t) of the A particles (isotropic average sin(qr)/(qr)) at log-spaced lag times.

    Returns (lag times, F_s). Needs ``frame_time``; lags are in frames when it is unknown.
    """
    positions = trajectory.positions[:, trajectory.species == 0]
    frames = len(positions)
    lags = np.unique(np.geomspace(1, max(frames - 1, 1), n_lags).astype(int))
    values = np.empty(len(lags))
    for index, lag in enumerate(lags):
        origins = np.unique(np.linspace(0, frames - 1 - lag, n_origins).astype(int))
        moved = np.linalg.norm(positions[origins + lag] - positions[origins], axis=-1)
        values[index] = np.sinc(q * moved / np.pi).mean()
    step = trajectory.frame_time or 1.0
    return lags * step, values


def alpha_relaxation_time(trajectory: Trajectory, *, q: float = FIRST_PEAK_Q,
                          curve: tuple[np.ndarray, np.ndarray] | None = None) -> float | None:
    """Time at which F_s(q, t) first falls below 1/e, or None if it never does in the run
    (``curve``: F_s already computed by ``self_intermediate_scattering``)."""
    if trajectory.n_frames < 3:
        return None
    times, values = curve if curve is not None else self_intermediate_scattering(trajectory, q=q)
    below = np.flatnonzero(values < np.exp(-1.0))
    if not len(below):
        return None
    k = below[0]
    if k == 0:
        return float(times[0])
    # interpolate linearly in log(time) between the bracketing lags
    fraction = (values[k - 1] - np.exp(-1.0)) / (values[k - 1] - values[k])
    log_time = np.log(times[k - 1]) + fraction * (np.log(times[k]) - np.log(times[k - 1]))
    return float(np.exp(log_time))


AGEING_SLOWDOWN = 0.75
"""A sample is ageing when the second half of its run relaxes less than this fraction of the first
half's relaxation 1 - F_s over the same lag (an equilibrium run's halves agree within noise)."""


def ageing_check(trajectory: Trajectory, tau_alpha: float | None, *,
                 q: float = FIRST_PEAK_Q) -> dict[str, float | bool | None]:
    """Does the run still slow down? F_s(q, lag) from time origins in the first half of the run
    against origins in the second half, at lag = tau_alpha (at most a quarter of the run).

    Returns the lag, both F_s values, and ``ageing`` (True when the second half relaxes less than
    ``AGEING_SLOWDOWN`` of the first), or None values for a run too short to tell.
    """
    frames = trajectory.n_frames
    step = trajectory.frame_time or 1.0
    quarter = (frames - 1) // 4
    if quarter < 1:
        return {"lag": None, "fs_first_half": None, "fs_second_half": None, "ageing": None}
    wanted = int(round(tau_alpha / step)) if tau_alpha else quarter
    lag = max(1, min(wanted, quarter))
    positions = trajectory.positions[:, trajectory.species == 0]
    half = frames // 2

    def fs(origins: np.ndarray) -> float:
        moved = np.linalg.norm(positions[origins + lag] - positions[origins], axis=-1)
        return float(np.sinc(q * moved / np.pi).mean())

    first = fs(np.unique(np.linspace(0, half - lag, 20).astype(int)))
    second = fs(np.unique(np.linspace(half, frames - 1 - lag, 20).astype(int)))
    return {"lag": lag * step, "fs_first_half": round(first, 4), "fs_second_half": round(second, 4),
            "ageing": bool(1 - second < AGEING_SLOWDOWN * (1 - first))}
