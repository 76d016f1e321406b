"""Image data sets for the glass/liquid CNN: an array file or the lab's PNG folder, one type.

Array file (``.npz``): ``images`` (N, H, W, 3) uint8 and ``labels`` (N,) with 1 = glass, 0 = liquid;
optional per-image arrays (``temperature``, ``run``, ``kind``). Provenance in the JSON sidecar.
Lab layout: a folder with PNGs and ``metadata.json``, a list of {"path": ..., "label": ...}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glasstune.data.provenance import read_provenance
from glasstune.errors import DataError

GLASS, LIQUID = 1, 0


@dataclass
class ImageSet:
    images: np.ndarray
    labels: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        source = self.provenance.get("source", "image set")
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise DataError(
                f"{source}: images must be uint8 of shape (N, H, W, 3), got "
                f"{self.images.dtype} {self.images.shape}"
            )
        if len(self.labels) != len(self.images):
            raise DataError(f"{source}: {len(self.labels)} labels for {len(self.images)} images")
        odd = sorted(set(np.unique(self.labels).tolist()) - {GLASS, LIQUID})
        if odd:
            raise DataError(f"{source}: labels {odd[:5]}; use 1 for glass and 0 for liquid")
        if len(np.unique(self.labels)) < 2:
            raise DataError(f"{source}: only one class; a classifier needs glass and liquid images")
        self.labels = self.labels.astype(np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.images.shape[1]), int(self.images.shape[2])

    def fingerprint(self) -> str:
        """A cheap fingerprint (labels and a strided sample of pixels): a study or checkpoint made on
        other data must not be mixed with this one."""
        import hashlib

        digest = hashlib.sha256()
        digest.update(str((self.images.shape, self.provenance.get("name"))).encode())
        digest.update(np.ascontiguousarray(self.labels).tobytes())
        step = max(1, len(self.images) // 64)
        digest.update(np.ascontiguousarray(self.images[::step]).tobytes())
        return digest.hexdigest()[:16]


def load_image_set(path: str | Path) -> ImageSet:
    """Load an ``.npz`` array file or a lab-layout folder (PNGs + metadata.json)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such image set; check the path in the study file")
    if path.is_dir():
        return _load_lab_folder(path)
    if path.suffix != ".npz":
        raise DataError(f"{path}: unknown image-set format; use an .npz file or a folder")
    try:
        with np.load(path, allow_pickle=False) as loaded:
            arrays = {name: loaded[name] for name in loaded.files}
    except Exception as error:  # a damaged file: which one, and what to do
        from glasstune.data.readers import cached_hint

        raise DataError(f"{path}: cannot be read as npz: {type(error).__name__}{cached_hint(path)}") from error
    if "images" not in arrays or "labels" not in arrays:
        raise DataError(f"{path}: needs arrays 'images' (N, H, W, 3) and 'labels' (N,)")
    extras = {k: v for k, v in arrays.items() if k not in ("images", "labels")}
    provenance = read_provenance(path)
    provenance.setdefault("source", str(path))
    return ImageSet(arrays["images"], arrays["labels"], provenance, extras)


def _load_lab_folder(folder: Path) -> ImageSet:
    from matplotlib.image import imread

    metadata_path = folder / "metadata.json"
    if not metadata_path.exists():
        raise DataError(f"{folder}: no metadata.json; the lab layout needs a list of {{path, label}}")
    try:
        entries = json.loads(metadata_path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{metadata_path}: not valid JSON ({error})") from error
    images, labels = [], []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or "path" not in entry or "label" not in entry:
            raise DataError(f"{metadata_path}: entry {index} needs 'path' and 'label'")
        image_path = folder / entry["path"]
        if not image_path.exists():
            raise DataError(f"{metadata_path}: entry {index} names {entry['path']}, which is missing")
        pixels = imread(image_path)
        if pixels.dtype != np.uint8:
            pixels = np.clip(pixels * 255.0 + 0.5, 0, 255).astype(np.uint8)
        images.append(pixels[..., :3])
        labels.append(int(entry["label"]))
    shapes = {image.shape for image in images}
    if len(shapes) != 1:
        raise DataError(f"{folder}: images differ in size {sorted(shapes)[:3]}; crop them alike")
    provenance = _folder_provenance(folder)
    provenance.setdefault("source", str(folder))
    return ImageSet(np.stack(images), np.asarray(labels), provenance)


def _folder_provenance(folder: Path) -> dict[str, Any]:
    """The folder's own ``provenance.json`` when it has one, else a record that it is a user's."""
    path = folder / "provenance.json"
    if not path.exists():
        return {"source": str(folder), "synthetic": False}
    try:
        provenance = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(provenance, dict):
        raise DataError(f"{path}: must hold a JSON object (generator, parameters, seed, ...)")
    return provenance


@dataclass(frozen=True)
class ImageFile:
    """A data source for a study file: an image set on disk (``.npz`` or a lab-layout folder)."""

    path: Path

    @property
    def name(self) -> str:
        return Path(self.path).name

    def load(self) -> ImageSet:
        return load_image_set(self.path)

    def smoke(self) -> SyntheticImages:
        return SyntheticImages().smoke()


SYNTHETIC_GENERATOR = "glasstune.synthetic.images"
SYNTHETIC_GENERATOR_VERSION = 2
_COLOURS = np.array([[215, 48, 39], [49, 84, 200]], dtype=np.uint8)
"""Species A red, species B blue, on white: the lab's scatter-plot rendering."""
_DIAMETERS = (1.0, 0.88)
"""Disc diameters of species A and B (in A diameters), as sigma_AA and sigma_BB of 2D KA."""


@dataclass(frozen=True)
class SyntheticImages:
    """A generated glass/liquid image set (tests, smoke runs, demos): fast, and tagged synthetic.

    Made for small images: the time per image grows with the particles drawn (144 at 64 px, 2,500 at
    250 px).

    Both classes are jammed 2D binary packings (65:35, soft discs relaxed until they no longer
    overlap), rendered as small dots. "Glass" vibrates little about its packing (``glass_noise``),
    "liquid" much more (``liquid_noise``, in particle diameters): thermal vibration is what tells
    them apart, the same confound the lab's T = 0.05 vs T = 1.95 images carry.
    """

    n_per_class: int = 300
    size: int = 64
    particles_across: int = 12
    glass_noise: float = 0.03
    liquid_noise: float = 0.15
    seed: int = 0

    @property
    def name(self) -> str:
        return f"glass-liquid-synthetic/{self.size}px"

    def load(self) -> ImageSet:
        images, labels = make_glass_liquid_images(
            self.n_per_class, self.size, particles_across=self.particles_across,
            glass_noise=self.glass_noise, liquid_noise=self.liquid_noise, seed=self.seed,
        )
        provenance = {
            "name": self.name,
            "source": self.name,
            "generator": SYNTHETIC_GENERATOR,
            "generator_version": SYNTHETIC_GENERATOR_VERSION,
            "synthetic": True,
            "seed": self.seed,
            "n_per_class": self.n_per_class,
            "size": self.size,
            "particles_across": self.particles_across,
            "glass_noise": self.glass_noise,
            "liquid_noise": self.liquid_noise,
        }
        return ImageSet(images, labels, provenance)

    def smoke(self) -> SyntheticImages:
        return SyntheticImages(
            n_per_class=40, size=24, particles_across=6, glass_noise=self.glass_noise,
            liquid_noise=self.liquid_noise, seed=self.seed,
        )


def make_glass_liquid_images(
    n_per_class: int,
    size: int,
    *,
    particles_across: int = 12,
    glass_noise: float = 0.03,
    liquid_noise: float = 0.15,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(2 n, size, size, 3) uint8 images and labels (glass first, then liquid)."""
    if n_per_class < 1 or size < 8:
        raise DataError("synthetic images need n_per_class >= 1 and size >= 8 pixels")
    rng = np.random.default_rng(seed)
    cells = max(2, int(round(particles_across)))
    box = float(cells)
    species = (rng.random((2 * n_per_class, cells * cells)) < 0.35).astype(np.int64)
    positions = _jammed_packings(rng, species, cells)
    noise = np.r_[np.full(n_per_class, glass_noise), np.full(n_per_class, liquid_noise)]
    positions = positions + rng.standard_normal(positions.shape) * noise[:, None, None]
    images = _render(positions % box, species, box, size)
    labels = np.r_[np.full(n_per_class, GLASS), np.full(n_per_class, LIQUID)].astype(np.int64)
    return images, labels


def _jammed_packings(
    rng: np.random.Generator, species: np.ndarray, cells: int, steps: int = 15, chunk: int = 8
) -> np.ndarray:
    """One point per cell of a grid, jittered over its cell, then pushed apart by soft-disc
    repulsion in the periodic box: an amorphous, nearly overlap-free packing in few steps.

    Points move well under a cell while relaxing, so each one only meets the points that started in
    the 5 x 5 cells around its own: 24 neighbours, whatever the number of particles."""
    diameters = np.asarray(_DIAMETERS, dtype=np.float32)[species]
    grid = np.stack(np.meshgrid(np.arange(cells), np.arange(cells)), -1).reshape(-1, 2)
    positions = (grid[None] + rng.random(species.shape + (2,))).astype(np.float32)
    box = np.float32(cells)
    neighbours = _neighbour_table(grid, cells)
    for start in range(0, len(positions), chunk):
        pos = positions[start:start + chunk]
        size = diameters[start:start + chunk]
        contact = 0.5 * (size[:, :, None] + size[:, neighbours])
        for _ in range(steps):
            delta = pos[:, :, None, :] - pos[:, neighbours, :]
            delta -= box * np.round(delta / box)
            distance = np.sqrt((delta * delta).sum(-1))
            push = np.clip(contact - distance, 0.0, None) / np.maximum(distance, 1e-6)
            pos = (pos + 0.5 * (push[..., None] * delta).sum(2)) % box
        positions[start:start + chunk] = pos
    return positions


def _neighbour_table(grid: np.ndarray, cells: int) -> np.ndarray:
    """(P, K) indices of the points that start within two cells (periodic); all others if the box
    is too small for that to leave anyone out."""
    count = len(grid)
    if cells < 6:
        everyone = np.arange(count)
        return np.stack([np.delete(everyone, i) for i in range(count)])
    offsets = [(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3) if (dx, dy) != (0, 0)]
    columns = [((grid[:, 1] + dy) % cells) * cells + (grid[:, 0] + dx) % cells for dx, dy in offsets]
    return np.stack(columns, axis=1)


def _render(positions: np.ndarray, species: np.ndarray, box: float, size: int) -> np.ndarray:
    """Dots of radius ~0.3 particle diameters, splatted with one fancy-index write per offset."""
    n_images = len(positions)
    images = np.full((n_images, size, size, 3), 255, dtype=np.uint8)
    scale = size / box
    radius = max(1.0, 0.32 * scale)
    reach = int(np.floor(radius))
    pixels = positions * scale
    image_index = np.broadcast_to(np.arange(n_images)[:, None], species.shape)
    colours = _COLOURS[species]
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if dx * dx + dy * dy > radius * radius:
                continue
            rows = np.floor(pixels[..., 1] + dy).astype(np.int64)
            cols = np.floor(pixels[..., 0] + dx).astype(np.int64)
            inside = (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
            images[image_index[inside], rows[inside], cols[inside]] = colours[inside]
    return images
