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


def load_image_set(path: str | Path) -> ImageSet:
    """Load an ``.npz`` array file or a lab-layout folder (PNGs + metadata.json)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such image set; check the path in the study file")
    if path.is_dir():
        return _load_lab_folder(path)
    if path.suffix != ".npz":
        raise DataError(f"{path}: unknown image-set format; use an .npz file or a folder")
    with np.load(path, allow_pickle=False) as arrays:
        if "images" not in arrays or "labels" not in arrays:
            raise DataError(f"{path}: needs arrays 'images' (N, H, W, 3) and 'labels' (N,)")
        extras = {k: arrays[k] for k in arrays.files if k not in ("images", "labels")}
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
    provenance = read_provenance(metadata_path) if (folder / "provenance.json").exists() else {}
    provenance.setdefault("source", str(folder))
    return ImageSet(np.stack(images), np.asarray(labels), provenance)
