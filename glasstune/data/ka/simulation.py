"""Kob–Andersen molecular dynamics in OpenMM, in reduced (LJ) units.

Units: OpenMM's nm is sigma_AA, kJ/mol is eps_AA, amu is the mass, so one ps is one LJ time
unit; an LJ temperature T is passed to OpenMM as T / R kelvin (R in kJ/(mol K)).

The pair table is one ``CustomNonbondedForce`` whose parameters are polynomials in s = t1 + t2
(t = 0 for A, 1 for B): s = 0, 1, 2 give AA, AB, BB. Each pair is cut at 2.5 of its own sigma and
shifted to zero there (the ``step`` factor; the force's global cutoff is the largest, 2.5).

3D (80:20, density 1.2): a jittered lattice with random species is minimised, then either
equilibrated at T or (for deep temperatures) melted at T = 2 and quenched to T and aged, then a
production run saves unwrapped positions every ``frame_interval``. Nose–Hoover throughout
(collision rate 1/tau); velocities are redrawn during the first few tau after a minimisation or a
quench, which the gentle thermostat alone would take long to cool. On the CPU, runs with one
thread are bitwise reproducible from the seed; with several threads only statistically.

2D (65:35, density 1.2): several independent runs are stacked as layers along z, each layer a
periodic 2D system; the layers sit 3 sigma apart, more than the cutoff, so they never interact, and
since every particle of a layer has the same z, all forces lie in the plane and z stays fixed.
One simulation of many layers keeps both cores busy where one 300-particle run cannot. Nose–Hoover
counts 3N degrees of freedom but only 2N carry kinetic energy, so the thermostat target is scaled
by 2/3 to give the wanted kinetic temperature (SCIENCE.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from glasstune.data.ka.trajectory import (
    FIRST_PEAK_Q,
    Trajectory,
    ageing_check,
    alpha_relaxation_time,
    self_intermediate_scattering,
)
from glasstune.errors import GlasstuneError

GAS_CONSTANT_KJ = 0.0083144626181532
"""Molar gas constant in kJ/(mol K): LJ temperature T is T / GAS_CONSTANT_KJ kelvin in OpenMM."""
DT = 0.005
CUTOFF = 2.5
THERMOSTAT_RATE = 1.0
"""Nose–Hoover collision frequency in 1/tau: couples on the scale of one LJ time unit."""
COOLING_THERMOSTAT_RATE = 10.0
"""Nose–Hoover collision frequency (1/tau) on a cooling ramp: a 1-tau coupling lags a 50-tau
ramp by about 0.06 in temperature, so the "T = 0.05" glass would be at 0.11; 10/tau follows it."""
LAYER_GAP = 3.0
"""Distance between stacked 2D layers: above the largest pair cutoff (2.5), so layers never meet."""
MAX_STACK_PARTICLES = 3000
"""2D layers are stacked into one simulation up to about this many particles in all (CPU)."""
MAX_STACK_PARTICLES_CUDA = 100_000
"""On CUDA (asked for by name) a stack can be far larger: a GPU runs 300 particles no faster than
100,000, so 10,000 runs take 30 stacks instead of 1,000."""
EQUILIBRATED_AFTER = 5.0
"""A sample counts as equilibrated when it spent this many alpha-relaxation times at T first."""

PAIR_ENERGY = (
    "step(2.5*sig - r) * 4*eps*((sig/r)^6*((sig/r)^6 - 1) - shift);"
    "shift = 2.5^-12 - 2.5^-6;"
    "eps = 1 + 1.25*s - 0.75*s*s;"
    "sig = 1 - 0.34*s + 0.14*s*s;"
    "s = t1 + t2"
)
"""eps(AA, AB, BB) = (1, 1.5, 0.5), sigma = (1, 0.8, 0.88): quadratics through the three points."""

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): called as work advances (steps, or frames)."""


@dataclass(frozen=True)
class KAModel:
    """Composition and density of a KA mixture in 2 or 3 dimensions."""

    dimensions: int
    fraction_a: float
    density: float = 1.2

    def box_length(self, n_particles: int) -> float:
        return float((n_particles / self.density) ** (1.0 / self.dimensions))

    def species(self, n_particles: int, rng: np.random.Generator) -> np.ndarray:
        """Exactly round(fraction_a * N) A particles, in random order."""
        n_a = int(round(self.fraction_a * n_particles))
        species = np.r_[np.zeros(n_a, np.int8), np.ones(n_particles - n_a, np.int8)]
        return rng.permutation(species)


KA3D = KAModel(dimensions=3, fraction_a=0.8)
KA2D = KAModel(dimensions=2, fraction_a=0.65)


@dataclass(frozen=True)
class Protocol:
    """Times in LJ units. ``melt`` > 0 means: melt at ``melt_temperature``, quench, then age
    for ``equilibration`` at T (a sample that cannot be equilibrated on a CPU in minutes)."""

    equilibration: float
    production: float
    frame_interval: float = 0.1
    melt: float = 0.0
    melt_temperature: float = 2.0


def default_protocol(temperature: float) -> Protocol:
    """Run lengths for the lab's labels (10 tau Phop window, 10 tau quiet interval, frames every
    2 tau) at N = 1000 on a CPU (what they cost: benchmarks/README.md).

    tau_alpha of 3D KA is about 0.3-1.5 at T >= 1 and about 15 at T = 0.6, so 20 and 100
    equilibration times are several tau_alpha. T >= 0.9: 200 tau of production give 91 analysis
    frames (CV groups). T = 0.6: 150 tau, about a thousand rows above Phop = 0.2. At T < 0.6
    tau_alpha is 1e2-1e4: those samples are melted, quenched and aged instead (their provenance
    says ``equilibrated: false`` and how fast they still age), with 400 tau of production because
    real hops are rare there. Frames every 0.1 tau where tau_alpha is short, else every 0.2.
    """
    if temperature >= 0.9:
        return Protocol(equilibration=20.0, production=200.0)
    if temperature >= 0.6:
        return Protocol(equilibration=100.0, production=150.0, frame_interval=0.2)
    return Protocol(equilibration=50.0, production=400.0, frame_interval=0.2, melt=10.0)


def kelvin(temperature: float) -> float:
    """An LJ temperature as OpenMM's kelvin (reduced units: kT = T in kJ/mol)."""
    return float(temperature) / GAS_CONSTANT_KJ


def cpu_threads() -> int:
    """Cores this process may use (what OpenMM's CPU platform should run on)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def build_system(species: np.ndarray, box: np.ndarray) -> Any:
    """An OpenMM System of unit masses with the KA pair table in a rectangular periodic box."""
    import openmm

    system = openmm.System()
    for _ in range(len(species)):
        system.addParticle(1.0)
    system.setDefaultPeriodicBoxVectors(
        openmm.Vec3(box[0], 0, 0), openmm.Vec3(0, box[1], 0), openmm.Vec3(0, 0, box[2])
    )
    force = openmm.CustomNonbondedForce(PAIR_ENERGY)
    force.addPerParticleParameter("t")
    for kind in species:
        force.addParticle([float(kind)])
    force.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffPeriodic)
    force.setCutoffDistance(CUTOFF)
    force.setUseLongRangeCorrection(False)
    system.addForce(force)
    return system


def create_context(system: Any, integrator_factory: Callable[[], Any], platform: str = "auto",
                   *, threads: int | None = None):
    """A Context on CUDA (when asked, or when ``auto`` finds it working) or on the CPU.

    Returns (context, integrator, platform name). The CPU platform runs ``threads`` threads
    (default: one per core). Only a one-thread CPU run is bitwise reproducible from its seed: with
    several threads the order of force sums varies and chaos amplifies it, so two runs with one
    seed agree statistically, not frame by frame.
    """
    import openmm

    if platform not in ("auto", "cpu", "cuda"):
        raise GlasstuneError(f"unknown platform {platform!r}; use auto, cpu or cuda")
    if platform in ("auto", "cuda"):
        try:
            cuda = openmm.Platform.getPlatformByName("CUDA")
            integrator = integrator_factory()
            context = openmm.Context(system, integrator, cuda, {"Precision": "mixed"})
            return context, integrator, "CUDA"
        except Exception as error:  # no plugin, no driver or no device
            if platform == "cuda":
                raise GlasstuneError(
                    f"OpenMM's CUDA platform does not work here ({str(error).splitlines()[0]}); "
                    "install the 'cuda' extra on a GPU machine or use --platform cpu"
                ) from error
    cpu = openmm.Platform.getPlatformByName("CPU")
    integrator = integrator_factory()
    properties = {"Threads": str(threads or cpu_threads())}
    return openmm.Context(system, integrator, cpu, properties), integrator, "CPU"


def jittered_lattice(n_particles: int, box: np.ndarray, dimensions: int,
                     rng: np.random.Generator) -> np.ndarray:
    """N random sites of a simple lattice filling the box, slightly displaced: a random start
    without the overlaps that make a uniform random start blow up in the minimiser."""
    per_side = int(np.ceil(n_particles ** (1.0 / dimensions)))
    grids = np.meshgrid(*[np.arange(per_side)] * dimensions, indexing="ij")
    sites = np.stack([g.ravel() for g in grids], axis=1)
    chosen = sites[rng.choice(len(sites), n_particles, replace=False)].astype(float)
    spacing = box[:dimensions] / per_side
    points = (chosen + 0.5 + rng.uniform(-0.1, 0.1, chosen.shape)) * spacing
    if dimensions == 2:
        points = np.c_[points, np.zeros(n_particles)]
    return points


def _nose_hoover(temperature: float, rate: float = THERMOSTAT_RATE):
    import openmm

    return lambda: openmm.NoseHooverIntegrator(kelvin(temperature), rate, DT)


def _positions(context: Any) -> np.ndarray:
    state = context.getState(getPositions=True)
    return np.asarray(state.getPositions(asNumpy=True)._value, dtype=np.float64)


def _kinetic_temperature(context: Any, degrees_of_freedom: int) -> float:
    from openmm import unit

    energy = context.getState(getEnergy=True).getKineticEnergy()
    return float(2.0 * energy.value_in_unit(unit.kilojoule_per_mole) / degrees_of_freedom)


def maxwell_velocities(n_particles: int, temperature: float, rng: np.random.Generator,
                       dimensions: int = 3) -> np.ndarray:
    """Velocities at exactly ``temperature`` (unit masses), no centre-of-mass drift; in 2D the
    z components are zero. Drawn with numpy so that a seed fixes them on every platform."""
    velocities = np.zeros((n_particles, 3))
    moving = rng.normal(0.0, np.sqrt(temperature), (n_particles, dimensions))
    moving -= moving.mean(axis=0)
    moving *= np.sqrt(temperature * dimensions * n_particles / (moving**2).sum())
    velocities[:, :dimensions] = moving
    return velocities


def _thermalise(context: Any, integrator: Any, steps: int, draw: Callable[[], np.ndarray],
                stage: str, progress: Progress | None) -> None:
    """Run ``steps``; in the first half (at most 5 tau), redraw velocities (``draw()``) every
    0.25 tau. A gently coupled Nose–Hoover thermostat alone needs many tau to absorb the heat
    released after a minimisation or a quench; resampling removes it at once, and stopping early
    leaves the rest of the run to undisturbed Newtonian dynamics."""
    chunk = _steps(0.25)
    resample = min(steps // 2, _steps(5.0))
    done = 0
    while done < steps:
        batch = min(chunk, steps - done)
        if done < resample:
            context.setVelocities(draw())
        integrator.step(batch)
        done += batch
        if progress is not None:
            progress(stage, done, steps)


def _steps(time: float) -> int:
    return max(int(round(time / DT)), 0)


def simulate_ka3d(
    temperature: float,
    *,
    n_particles: int = 1000,
    protocol: Protocol | None = None,
    seed: int = 0,
    platform: str = "auto",
    threads: int | None = None,
    progress: Progress | None = None,
) -> Trajectory:
    """A 3D KA trajectory at ``temperature``: unwrapped positions every ``frame_interval``.

    ``threads=1`` makes a CPU run bitwise reproducible from ``seed`` (see ``create_context``).
    """
    import openmm

    if n_particles < 20:
        raise GlasstuneError(f"n_particles={n_particles} is too few for a KA liquid; use >= 20")
    if temperature <= 0:
        raise GlasstuneError(f"temperature must be positive, got {temperature}")
    protocol = protocol or default_protocol(temperature)
    rng = np.random.default_rng(seed)
    length = KA3D.box_length(n_particles)
    if length < 2 * CUTOFF:
        raise GlasstuneError(
            f"n_particles={n_particles} gives a box of {length:.2f} sigma, smaller than twice the "
            f"cutoff ({2 * CUTOFF}); use at least {int(np.ceil(KA3D.density * (2 * CUTOFF) ** 3))}"
        )
    box = np.full(3, length)
    species = KA3D.species(n_particles, rng)
    system = build_system(species, box)
    start = protocol.melt_temperature if protocol.melt > 0 else temperature
    context, integrator, platform_name = create_context(system, _nose_hoover(start), platform,
                                                        threads=threads)
    context.setPositions(jittered_lattice(n_particles, box, 3, rng))
    openmm.LocalEnergyMinimizer.minimize(context, 1.0, 2000)
    if protocol.melt > 0:
        _thermalise(context, integrator, _steps(protocol.melt),
                    lambda: maxwell_velocities(n_particles, start, rng), "melt", progress)
        integrator.setTemperature(kelvin(temperature))
    stage = "age" if protocol.melt > 0 else "equilibrate"
    _thermalise(context, integrator, _steps(protocol.equilibration),
                lambda: maxwell_velocities(n_particles, temperature, rng), stage, progress)

    every = max(_steps(protocol.frame_interval), 1)
    n_frames = _steps(protocol.production) // every + 1
    frames = np.empty((n_frames, n_particles, 3), dtype=np.float64)
    kinetic = np.empty(n_frames)
    dof = 3 * n_particles
    for index in range(n_frames):
        if index:
            integrator.step(every)
        frames[index] = _positions(context)
        kinetic[index] = _kinetic_temperature(context, dof)
        if progress is not None and (index % 50 == 0 or index == n_frames - 1):
            progress("produce", index + 1, n_frames)

    trajectory = Trajectory(frames, box, species, every * DT, float(temperature))
    relaxation = relaxation_record(trajectory, protocol.equilibration)
    trajectory.provenance = {
        "engine": "openmm",
        "engine_version": openmm.__version__,
        "platform": platform_name,
        "model": "kob-andersen-3d",
        "n_particles": n_particles,
        "n_a": int((species == 0).sum()),
        "density": KA3D.density,
        "box": box.tolist(),
        "dt": DT,
        "integrator": f"nose-hoover (collision rate {THERMOSTAT_RATE}/tau)",
        "protocol": asdict(protocol),
        "steps": {
            "melt": _steps(protocol.melt),
            "equilibration": _steps(protocol.equilibration),
            "production": (n_frames - 1) * every,
        },
        "seed": seed,
        "temperature": float(temperature),
        "kinetic_temperature": float(kinetic.mean()),
        "quenched": protocol.melt > 0,
        **relaxation,
        "synthetic": False,
    }
    return trajectory


def relaxation_record(trajectory: Trajectory, time_at_temperature: float) -> dict[str, Any]:
    """The equilibration state of a production run: tau_alpha from F_s(q, t) at the first peak of
    S(q) (the A particles), the ageing check, and the verdict. A run counts as equilibrated when it
    spent ``EQUILIBRATED_AFTER`` tau_alpha at its temperature before production and does not age."""
    times, values = self_intermediate_scattering(trajectory)
    tau_alpha = alpha_relaxation_time(trajectory, curve=(times, values))
    ageing = ageing_check(trajectory, tau_alpha)
    long_enough = tau_alpha is not None and time_at_temperature >= EQUILIBRATED_AFTER * tau_alpha
    return {
        "tau_alpha": None if tau_alpha is None else round(tau_alpha, 4),
        "tau_alpha_q": FIRST_PEAK_Q,
        "tau_alpha_definition": "F_s(q, tau_alpha) = 1/e, A particles, q at the first peak of S(q)",
        "fs_curve": {"t": [round(float(t), 4) for t in times], "fs": [round(float(v), 4) for v in values]},
        "ageing_check": ageing,
        "equilibrated": bool(long_enough and ageing["ageing"] is False),
    }


@dataclass
class Cooling:
    """Snapshots of 2D cooling runs: ``positions[kind]`` is (runs, N, 2) in [0, L)."""

    box: np.ndarray
    species: np.ndarray
    positions: dict[str, np.ndarray]
    temperatures: dict[str, float]
    provenance: dict[str, Any] = field(default_factory=dict)


def cool_ka2d(
    *,
    runs: int,
    n_particles: int = 300,
    liquid_temperature: float = 1.95,
    start_temperature: float = 2.0,
    end_temperature: float = 0.05,
    cooling_time: float = 50.0,
    melt: float = 5.0,
    inherent: bool = False,
    seed: int = 0,
    platform: str = "auto",
    layers_per_system: int | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> Cooling:
    """Linear cooling runs of 2D KA from ``start_temperature`` to ``end_temperature``.

    Each run gives a liquid snapshot when the ramp passes ``liquid_temperature`` and a glass
    snapshot at the end; ``inherent=True`` adds both snapshots energy-minimised.
    """
    import openmm

    if runs < 1:
        raise GlasstuneError(f"runs must be at least 1, got {runs}")
    if not end_temperature <= liquid_temperature <= start_temperature:
        raise GlasstuneError(
            f"liquid temperature {liquid_temperature} must lie on the cooling ramp "
            f"{start_temperature} -> {end_temperature}"
        )
    length = KA2D.box_length(n_particles)
    if length < 2 * CUTOFF:
        raise GlasstuneError(
            f"n_particles={n_particles} gives a 2D box of {length:.2f} sigma, under twice the "
            f"cutoff; use at least {int(np.ceil(KA2D.density * (2 * CUTOFF) ** 2))}"
        )
    rng = np.random.default_rng(seed)
    stack = MAX_STACK_PARTICLES_CUDA if platform == "cuda" else MAX_STACK_PARTICLES
    most = layers_per_system or max(1, stack // n_particles)
    per_system = int(np.ceil(runs / np.ceil(runs / most)))  # equal stacks, none nearly empty
    kinds = ["liquid", "glass"] + (["liquid_inherent", "glass_inherent"] if inherent else [])
    snapshots = {kind: np.empty((runs, n_particles, 2)) for kind in kinds}
    species = np.stack([KA2D.species(n_particles, rng) for _ in range(runs)])
    ramp_steps = _steps(cooling_time)
    liquid_step = int(round(ramp_steps * (start_temperature - liquid_temperature)
                            / (start_temperature - end_temperature)))
    total = runs * (_steps(melt) + ramp_steps)
    done_before = 0
    platform_name = ""
    kinetic: dict[str, list[float]] = {}
    for first in range(0, runs, per_system):
        layers = list(range(first, min(first + per_system, runs)))
        report = None if progress is None else _scaled(progress, done_before, len(layers), total)
        platform_name = _cool_layers(
            species[layers], length, rng, snapshots, layers, platform=platform, threads=threads,
            start=start_temperature, end=end_temperature, melt_steps=_steps(melt),
            ramp_steps=ramp_steps, liquid_step=liquid_step, inherent=inherent, kinetic=kinetic,
            progress=report,
        )
        done_before += len(layers) * (_steps(melt) + ramp_steps)
    temperatures = {"liquid": liquid_temperature, "glass": end_temperature,
                    "liquid_inherent": liquid_temperature, "glass_inherent": end_temperature}
    provenance = {
        "engine": "openmm",
        "engine_version": openmm.__version__,
        "platform": platform_name,
        "model": "kob-andersen-2d",
        "n_particles": n_particles,
        "fraction_a": KA2D.fraction_a,
        "density": KA2D.density,
        "box": [length, length],
        "dt": DT,
        "integrator": f"nose-hoover (collision rate {COOLING_THERMOSTAT_RATE}/tau), target scaled "
                      "by 2/3 (2D kinetic temperature)",
        "runs": runs,
        "melt_time": melt,
        "cooling_time": cooling_time,
        "cooling_rate": (start_temperature - end_temperature) / cooling_time,
        "start_temperature": start_temperature,
        "end_temperature": end_temperature,
        "liquid_temperature": liquid_temperature,
        "inherent": inherent,
        "kinetic_temperature": {k: float(np.mean(v)) for k, v in kinetic.items()},
        "seed": seed,
        "synthetic": False,
    }
    return Cooling(np.array([length, length]), species, snapshots,
                   {k: temperatures[k] for k in kinds}, provenance)


def write_cooling(path: Any, cooling: Cooling) -> Any:
    """The runs' snapshots as one ``.npz`` (positions per kind, species, box) plus the provenance."""
    from glasstune.data.provenance import write_with_provenance

    arrays = {f"positions_{kind}": snapshots.astype(np.float32) for kind, snapshots in cooling.positions.items()}
    provenance = {**cooling.provenance, "snapshot_temperatures": cooling.temperatures}
    return write_with_provenance(
        path, provenance, lambda target: np.savez_compressed(target, species=cooling.species, box=cooling.box,
                                                             **arrays),
        suffix=".npz", kind="cooling runs")


def read_cooling(path: Any) -> Cooling:
    """What ``write_cooling`` wrote."""
    from pathlib import Path

    from glasstune.data.provenance import read_provenance

    path = Path(path)
    provenance = read_provenance(path)
    with np.load(path, allow_pickle=False) as arrays:
        positions = {name.removeprefix("positions_"): arrays[name].astype(np.float64)
                     for name in arrays.files if name.startswith("positions_")}
        species, box = arrays["species"], arrays["box"]
    temperatures = dict(provenance.pop("snapshot_temperatures"))
    return Cooling(box, species, positions, temperatures, provenance)


def _scaled(progress: Progress, offset: int, weight: int, total: int) -> Progress:
    """Report one stack's steps as part of all runs' steps."""
    return lambda stage, done, _total: progress("cool", offset + done * weight, total)


def _cool_layers(species: np.ndarray, length: float, rng: np.random.Generator,
                 snapshots: dict[str, np.ndarray], layers: list[int], *, platform: str,
                 threads: int | None,
                 start: float, end: float, melt_steps: int, ramp_steps: int, liquid_step: int,
                 inherent: bool, kinetic: dict[str, list[float]],
                 progress: Progress | None) -> str:
    """Run one stack of 2D layers through melt and ramp, filling ``snapshots`` for ``layers``
    and ``kinetic`` with each layer's kinetic temperature at the thermal snapshots."""
    import openmm

    n_layers, n = species.shape
    box = np.array([length, length, max(LAYER_GAP * n_layers, 2 * CUTOFF + 0.01)])
    system = build_system(species.reshape(-1), box)
    scale = 2.0 / 3.0  # Nose–Hoover counts 3N degrees of freedom; 2D motion has 2N
    context, integrator, platform_name = create_context(
        system, _nose_hoover(start * scale, COOLING_THERMOSTAT_RATE), platform, threads=threads
    )
    positions = np.concatenate([
        jittered_lattice(n, box, 2, rng) + [0.0, 0.0, LAYER_GAP * k] for k in range(n_layers)
    ])
    context.setPositions(positions)
    openmm.LocalEnergyMinimizer.minimize(context, 1.0, 2000)
    def draw() -> np.ndarray:  # each layer its own Maxwell distribution, no drift, vz = 0
        return np.concatenate([maxwell_velocities(n, start, rng, 2) for _ in range(n_layers)])

    context.setVelocities(draw())
    _thermalise(context, integrator, melt_steps, draw, "melt", progress)

    def keep(kind: str) -> None:
        state = context.getState(getPositions=True, getVelocities=True)
        xy = np.asarray(state.getPositions(asNumpy=True)._value)[:, :2].reshape(n_layers, n, 2)
        snapshots[kind][layers] = np.mod(xy, length)
        velocity = np.asarray(state.getVelocities(asNumpy=True)._value).reshape(n_layers, n, 3)
        kinetic.setdefault(kind, []).extend(((velocity**2).sum(axis=(1, 2)) / (2 * n)).tolist())
        if inherent:
            openmm.LocalEnergyMinimizer.minimize(context, 1e-3, 5000)
            xy = _positions(context)[:, :2].reshape(n_layers, n, 2)
            snapshots[f"{kind}_inherent"][layers] = np.mod(xy, length)
            context.setPositions(state.getPositions())
            context.setVelocities(state.getVelocities())

    chunk = 20
    step = 0
    if liquid_step == 0:
        keep("liquid")
    while step < ramp_steps:
        batch = min(chunk, ramp_steps - step)
        if step < liquid_step:
            batch = min(batch, liquid_step - step)
        integrator.step(batch)
        step += batch
        integrator.setTemperature(kelvin((start + (end - start) * step / ramp_steps) * scale))
        if step == liquid_step:
            keep("liquid")
        if progress is not None and step % 200 == 0:
            progress("cool", melt_steps + step, melt_steps + ramp_steps)
    keep("glass")
    if progress is not None:
        progress("cool", melt_steps + ramp_steps, melt_steps + ramp_steps)
    return platform_name
