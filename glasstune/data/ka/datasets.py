"""Built-in simulated data sets: made on first use, cached under ``data_dir()/ka``, then loaded.

Same interface as the sources in ``glasstune.data.sources``: ``name``, ``load()``, ``smoke()``.

Default sizes (chosen for a 2-core CPU; see ``simulation.default_protocol``):

* ``SimulatedSoftness``: 3D KA, N = 1000 (a 9.4-sigma box, well above twice the cutoff, and a
  quarter of the lab's 4096), labelled by the lab's rule (Phop > 0.2 vs < 0.05 over 10 tau, a
  10 tau window). T >= 0.6 is equilibrated; T = 0.45 and 0.5 are melted, quenched and aged 50 tau
  (``equilibrated: false``, with an ageing check). Production 200 tau at T >= 0.9 (91 analysis
  frames), 150 at 0.6, 400 below. Optionally a ``propensity`` column from iso-configurational runs.
* ``SimulatedImages``: 2D KA, N = 300, 30 runs cooled from T = 2 to 0.05 in 50 tau: 60 images of
  250 px (one glass, one liquid per run) in about two minutes. The configurations (thermal and
  energy-minimised) are cached on their own, so other image sizes and the inherent-structure
  variant (``minimised=True``) are drawn from the same runs without simulating again. The lab's
  images came from 4,300 particles and (probably) slower cooling; runs, particles and cooling time
  are parameters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glasstune.config import data_dir
from glasstune.data.cache import ensure_cached, file_tag
from glasstune.data.holdout import HELDOUT_FRACTION, HoldsOutFrames, check_fraction

if TYPE_CHECKING:
    from glasstune.data.image_sets import ImageSet
    from glasstune.data.ka.simulation import Cooling
    from glasstune.data.table import FeatureTable

SOFTNESS_VERSION = 2
"""Part of every softness cache key: 2 = the lab's labels by default (10 tau window, thresholds),
longer production, tau_alpha with an ageing check. Tables made by older defaults are not reused."""
LABEL_RULES = ("thresholds", "quantiles")


@contextmanager
def rich_progress(description: str = "") -> Iterator[Callable[[str, int, int], None]]:
    """A callback ``progress(stage, done, total)`` that draws one rich progress bar per stage."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bars:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(f"{description} {stage}".strip(), total=total)
            bars.update(tasks[stage], completed=done, total=total)

        yield update


def _announce(name: str, path: Path, duration: str) -> str:
    """What a first use prints before it simulates: what, why it takes a while, and where it goes."""
    return (f"{name}: not in the data cache yet; simulating it once ({duration}), "
            f"then it loads from {path}")


@dataclass(frozen=True)
class SimulatedSoftness(HoldsOutFrames):
    """3D KA at one temperature from OpenMM: Phop labels and 100 structure features per row.

    ``labels``: "thresholds" (the lab's rule, default) or "quantiles" (relative, flagged).
    ``equilibration`` / ``production`` (LJ times) override the defaults of
    ``simulation.default_protocol``; ``propensity_frames`` > 0 adds a ``propensity`` column
    measured by ``propensity_runs`` iso-configurational runs from that many analysis frames (NaN in
    the other frames). ``heldout``: the fraction of frames (the last) a study never tunes on
    (``load()`` gives the others, ``held_out()`` these; ``glasstune.data.holdout``); ``platform`` is
    auto, cpu or cuda. Neither is part of the cache key.
    """

    temperature: float
    n_particles: int = 1000
    seed: int = 0
    equilibration: float | None = None
    production: float | None = None
    labels: str = "thresholds"
    propensity_frames: int = 0
    propensity_runs: int = 8
    heldout: float = HELDOUT_FRACTION
    platform: str = "auto"

    def __post_init__(self) -> None:
        from glasstune.errors import DataError

        check_fraction(self.heldout)
        if self.labels not in LABEL_RULES:
            raise DataError(f"labels={self.labels!r}: use 'thresholds' (the lab's rule) or 'quantiles'")
        if self.propensity_frames < 0 or self.propensity_runs < 2:
            raise DataError("propensity_frames must be >= 0 and propensity_runs >= 2")

    @property
    def name(self) -> str:
        rule = "/quantile-labels" if self.labels == "quantiles" else ""
        return f"ka-softness-openmm/T{self.temperature:g}/N{self.n_particles}{rule}"

    @property
    def path(self) -> Path:
        key = f"softness_v{SOFTNESS_VERSION}_T{file_tag(self.temperature)}_n{self.n_particles}_s{self.seed}"
        if self.equilibration is not None:
            key += f"_eq{file_tag(self.equilibration)}"
        if self.production is not None:
            key += f"_pr{file_tag(self.production)}"
        if self.labels != "thresholds":
            key += f"_{self.labels}"
        if self.propensity_frames:
            key += f"_prop{self.propensity_frames}x{self.propensity_runs}"
        return data_dir() / "ka" / f"{key}.parquet"

    def make(self, path: Path | None = None, *, progress: Callable | None = None) -> Path:
        """Simulate, featurise and write the table (``path`` defaults to the cache)."""
        from glasstune.data.ka.featurize import featurize
        from glasstune.data.ka.phop import LabelRule
        from glasstune.data.ka.simulation import default_protocol, simulate_ka3d
        from glasstune.data.table import write_feature_table

        protocol = default_protocol(self.temperature)
        changes = {k: v for k, v in (("equilibration", self.equilibration),
                                     ("production", self.production)) if v is not None}
        if changes:
            from dataclasses import replace

            protocol = replace(protocol, **changes)
        started = time.perf_counter()
        with _progress_or(progress, f"T={self.temperature:g}") as report:
            trajectory = simulate_ka3d(self.temperature, n_particles=self.n_particles,
                                       protocol=protocol, seed=self.seed, platform=self.platform,
                                       progress=report)
            trajectory.provenance["source"] = self.name
            simulated = time.perf_counter()
            table, provenance = featurize(trajectory, rule=LabelRule(rule=self.labels), seed=self.seed,
                                          progress=report)
            featurized = time.perf_counter()
            if self.propensity_frames:
                provenance["propensity"] = self._add_propensity(table, trajectory, report)
        provenance.update(name=self.name, simulation_seconds=round(simulated - started, 1),
                          featurize_seconds=round(featurized - simulated, 1))
        if self.propensity_frames:
            provenance["propensity_seconds"] = round(time.perf_counter() - featurized, 1)
        return write_feature_table(table, provenance, path or self.path)

    def _add_propensity(self, table: Any, trajectory: Any, progress: Callable) -> dict[str, Any]:
        """The ``propensity`` column (in place) at ``propensity_frames`` evenly spread analysis frames."""
        import numpy as np

        from glasstune.data.ka.propensity import dynamic_propensity, propensity_record, propensity_time

        used = np.unique(table["frame"].to_numpy())
        chosen = used[np.unique(np.linspace(0, len(used) - 1, min(self.propensity_frames, len(used))).astype(int))]
        tau_alpha = trajectory.provenance.get("tau_alpha")
        duration = propensity_time(tau_alpha)
        values = dynamic_propensity(trajectory, chosen, time=duration, runs=self.propensity_runs,
                                    seed=self.seed, platform=self.platform, progress=progress)
        column = np.full(len(table), np.nan, dtype=np.float32)
        for frame, per_particle in values.items():
            rows = table["frame"].to_numpy() == frame
            column[rows] = per_particle[table["particle"].to_numpy()[rows]]
        table["propensity"] = column
        return propensity_record(duration, tau_alpha, self.propensity_runs, chosen)

    def load_all(self) -> FeatureTable:
        """The cached table, every frame; on first use simulate it (once, even with several processes)."""
        from glasstune.data.table import load_table

        ensure_cached(self.path, self.make, name=self.name,
                      announce=_announce(self.name, self.path, "a few CPU minutes"))
        table = load_table(self.path)
        table.provenance["name"] = self.name
        return table

    def smoke(self) -> Any:
        """The tiny synthetic stand-in at this temperature, its frames held out alike."""
        from glasstune.data.catalog import SyntheticHeldOut

        return SyntheticHeldOut(self.temperature, heldout=self.heldout).smoke()


@dataclass(frozen=True)
class SimulatedImages:
    """2D KA cooling runs rendered as the lab's images: 1 = glass (end of the ramp), 0 = liquid
    (at ``liquid_temperature`` on the way down).

    ``minimised=True``: every configuration energy-minimised (its inherent structure) before it is
    drawn, so thermal vibration cannot tell glass from liquid; ``inherent=True``: both kinds in one
    set (a ``kind`` array says which). The runs are cached on their own (``cooling_path``): every
    size and variant of the same runs is drawn from one simulation.
    """

    runs: int = 30
    size: int = 250
    n_particles: int = 300
    liquid_temperature: float = 1.95
    inherent: bool = False
    minimised: bool = False
    seed: int = 0
    cooling_time: float = 50.0
    platform: str = "auto"

    def __post_init__(self) -> None:
        if self.inherent and self.minimised:
            from glasstune.errors import DataError

            raise DataError("images(): minimised=True draws only inherent structures; inherent=True adds "
                            "them to the thermal images; choose one")

    @property
    def name(self) -> str:
        kind = "+inherent" if self.inherent else "/minimised" if self.minimised else ""
        return (f"ka-images-openmm/runs{self.runs}/N{self.n_particles}/{self.size}px/"
                f"Tl{self.liquid_temperature:g}{kind}")

    @property
    def path(self) -> Path:
        kind = "_is" if self.inherent else "_min" if self.minimised else ""
        key = (f"images_r{self.runs}_n{self.n_particles}_px{self.size}"
               f"_tl{file_tag(self.liquid_temperature)}_c{file_tag(self.cooling_time)}"
               f"{kind}_s{self.seed}")
        return data_dir() / "ka" / f"{key}.npz"

    @property
    def cooling_path(self) -> Path:
        """The simulated configurations (thermal and minimised) behind every drawing of these runs."""
        key = (f"cooling_r{self.runs}_n{self.n_particles}_tl{file_tag(self.liquid_temperature)}"
               f"_c{file_tag(self.cooling_time)}_s{self.seed}")
        return data_dir() / "ka" / f"{key}.npz"

    @property
    def kinds(self) -> tuple[str, ...]:
        if self.minimised:
            return ("liquid_inherent", "glass_inherent")
        if self.inherent:
            return ("liquid", "glass", "liquid_inherent", "glass_inherent")
        return ("liquid", "glass")

    def cooling(self, progress: Callable | None = None) -> Cooling:
        """The cooling runs: from the cache, or simulated once (with their inherent structures)."""
        from glasstune.data.ka.simulation import cool_ka2d, read_cooling, write_cooling

        def make(target: Path) -> None:
            with _progress_or(progress, "images") as report:
                cooling = cool_ka2d(runs=self.runs, n_particles=self.n_particles,
                                    liquid_temperature=self.liquid_temperature,
                                    cooling_time=self.cooling_time, inherent=True,
                                    seed=self.seed, platform=self.platform, progress=report)
            write_cooling(target, cooling)

        ensure_cached(self.cooling_path, make, name=f"{self.name} (cooling runs)")
        return read_cooling(self.cooling_path)

    def make(self, path: Path | None = None, *, progress: Callable | None = None) -> Path:
        """Draw the image set from the cooling runs and write it (``path`` defaults to the cache)."""
        from dataclasses import replace

        from glasstune.data.ka.render import (
            DEFAULT_VIEW,
            MARKER_RADIUS,
            render_cooling,
            write_image_set,
        )

        started = time.perf_counter()
        cooling = self.cooling(progress)
        chosen = replace(cooling, positions={kind: cooling.positions[kind] for kind in self.kinds})
        images, labels, extras = render_cooling(chosen, size=self.size)
        drawn = ("energy-minimised configurations (inherent structures)" if self.minimised else
                 "thermal and energy-minimised configurations" if self.inherent else "thermal configurations")
        provenance = {**cooling.provenance, "name": self.name, "image_size": self.size,
                      "inherent": self.inherent, "minimised": self.minimised, "configurations": drawn,
                      "view": DEFAULT_VIEW, "marker_radius": MARKER_RADIUS,
                      "renderer": "glasstune.ka.render (numpy discs, matplotlib colours)",
                      "images": len(images), "render_seconds": round(time.perf_counter() - started, 1)}
        return write_image_set(path or self.path, images, labels, extras, provenance)

    def load(self) -> ImageSet:
        """The cached image set; on first use simulate it (once, even with several processes)."""
        from glasstune.data.image_sets import load_image_set

        announce = (f"{self.name}: drawing it from the cached cooling runs, then it loads from {self.path}"
                    if self.cooling_path.exists() else _announce(self.name, self.path, "minutes"))
        ensure_cached(self.path, self.make, name=self.name, announce=announce)
        images = load_image_set(self.path)
        images.provenance["name"] = self.name
        return images

    def smoke(self) -> Any:
        """The tiny synthetic image set (seconds, tagged synthetic) for ``--smoke`` runs."""
        from glasstune.data.image_sets import SyntheticImages

        return SyntheticImages(seed=self.seed).smoke()


@contextmanager
def _progress_or(progress: Callable | None, description: str) -> Iterator[Callable]:
    """The caller's progress callback, or rich bars when it gave none."""
    if progress is not None:
        yield progress
        return
    with rich_progress(description) as bars:
        yield bars
