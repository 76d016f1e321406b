"""Built-in simulated data sets: made on first use, cached under ``data_dir()/ka``, then loaded.

Same interface as the sources in ``glasstune.data.sources``: ``name``, ``load()``, ``smoke()``.

Default sizes (chosen for a 2-core CPU; see ``simulation.default_protocol``):

* ``SimulatedSoftness``: 3D KA, N = 1000 (a 9.4-sigma box, well above twice the cutoff, and a
  quarter of the lab's 4096, so that a temperature takes 0.5-2 CPU minutes; the lab's six took
  7.4 minutes on a loaded 2-core machine). T >= 0.6 is equilibrated;
  T = 0.45 and 0.5 are melted, quenched and aged 50 tau (``equilibrated: false``). 500-2700
  balanced rows per temperature in 14-54 frames: enough for 5-fold CV grouped by frame.
* ``SimulatedImages``: 2D KA, N = 300, 30 runs cooled from T = 2 to 0.05 in 50 tau: 60 images of
  250 px (one glass, one liquid per run) in about two minutes. The lab's images came from 4,300
  particles and (probably) slower cooling; runs, particles and cooling time are parameters.
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

if TYPE_CHECKING:
    from glasstune.data.image_sets import ImageSet
    from glasstune.data.table import FeatureTable



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
class SimulatedSoftness:
    """3D KA at one temperature from OpenMM: Phop labels and 100 structure features per row.

    ``equilibration`` / ``production`` (LJ times) override the defaults of
    ``simulation.default_protocol``; ``platform`` is auto, cpu or cuda (not part of the cache key).
    """

    temperature: float
    n_particles: int = 1000
    seed: int = 0
    equilibration: float | None = None
    production: float | None = None
    platform: str = "auto"

    @property
    def name(self) -> str:
        return f"ka-softness-openmm/T{self.temperature:g}/N{self.n_particles}"

    @property
    def path(self) -> Path:
        key = f"softness_T{file_tag(self.temperature)}_n{self.n_particles}_s{self.seed}"
        if self.equilibration is not None:
            key += f"_eq{file_tag(self.equilibration)}"
        if self.production is not None:
            key += f"_pr{file_tag(self.production)}"
        return data_dir() / "ka" / f"{key}.parquet"

    def make(self, path: Path | None = None, *, progress: Callable | None = None) -> Path:
        """Simulate, featurise and write the table (``path`` defaults to the cache)."""
        from glasstune.data.ka.featurize import featurize
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
            simulated = time.perf_counter()
            table, provenance = featurize(trajectory, seed=self.seed, progress=report)
        provenance.update(name=self.name, simulation_seconds=round(simulated - started, 1),
                          featurize_seconds=round(time.perf_counter() - simulated, 1))
        return write_feature_table(table, provenance, path or self.path)

    def load(self) -> FeatureTable:
        """The cached table; on first use simulate it (once, even with several processes)."""
        from glasstune.data.table import load_table

        ensure_cached(self.path, self.make, name=self.name,
                      announce=_announce(self.name, self.path, "a few CPU minutes"))
        table = load_table(self.path)
        table.provenance["name"] = self.name
        return table

    def smoke(self) -> Any:
        from glasstune.data.sources import SyntheticSoftness

        return SyntheticSoftness(self.temperature).smoke()


@dataclass(frozen=True)
class SimulatedImages:
    """2D KA cooling runs rendered as the lab's images: 1 = glass (end of the ramp), 0 = liquid
    (at ``liquid_temperature`` on the way down); ``inherent=True`` adds both energy-minimised."""

    runs: int = 30
    size: int = 250
    n_particles: int = 300
    liquid_temperature: float = 1.95
    inherent: bool = False
    seed: int = 0
    cooling_time: float = 50.0
    platform: str = "auto"

    @property
    def name(self) -> str:
        kind = "+inherent" if self.inherent else ""
        return (f"ka-images-openmm/runs{self.runs}/N{self.n_particles}/{self.size}px/"
                f"Tl{self.liquid_temperature:g}{kind}")

    @property
    def path(self) -> Path:
        key = (f"images_r{self.runs}_n{self.n_particles}_px{self.size}"
               f"_tl{file_tag(self.liquid_temperature)}_c{file_tag(self.cooling_time)}"
               f"{'_is' if self.inherent else ''}_s{self.seed}")
        return data_dir() / "ka" / f"{key}.npz"

    def make(self, path: Path | None = None, *, progress: Callable | None = None) -> Path:
        """Simulate, render and write the image set (``path`` defaults to the cache)."""
        from glasstune.data.ka.render import (
            DEFAULT_VIEW,
            MARKER_RADIUS,
            render_cooling,
            write_image_set,
        )
        from glasstune.data.ka.simulation import cool_ka2d

        started = time.perf_counter()
        with _progress_or(progress, "images") as report:
            cooling = cool_ka2d(runs=self.runs, n_particles=self.n_particles,
                                liquid_temperature=self.liquid_temperature,
                                cooling_time=self.cooling_time, inherent=self.inherent,
                                seed=self.seed, platform=self.platform, progress=report)
        images, labels, extras = render_cooling(cooling, size=self.size)
        provenance = {**cooling.provenance, "name": self.name, "image_size": self.size,
                      "view": DEFAULT_VIEW, "marker_radius": MARKER_RADIUS,
                      "renderer": "glasstune.ka.render (numpy discs, matplotlib colours)",
                      "images": len(images), "seconds": round(time.perf_counter() - started, 1)}
        return write_image_set(path or self.path, images, labels, extras, provenance)

    def load(self) -> ImageSet:
        """The cached image set; on first use simulate it (once, even with several processes)."""
        from glasstune.data.image_sets import load_image_set

        ensure_cached(self.path, self.make, name=self.name,
                      announce=_announce(self.name, self.path, "minutes"))
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
