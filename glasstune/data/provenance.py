"""Provenance: where a data set came from, carried next to the data and into every run and plot.

A data file ``x.parquet`` (or ``.csv``/``.npz``) has its provenance in ``x.provenance.json`` beside it.
Generated data carries ``synthetic: true`` (statistical stand-in) or ``engine`` details (simulation).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def sidecar_path(data_path: Path) -> Path:
    """The provenance file that belongs to a data file."""
    return data_path.with_name(data_path.name.split(".")[0] + ".provenance.json")


def write_provenance(data_path: Path, provenance: dict[str, Any]) -> Path:
    """Write the sidecar through a temporary file and a rename: a reader never sees half of it."""
    path = sidecar_path(data_path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    temporary.write_text(json.dumps(provenance, indent=2, sort_keys=True, default=str))
    temporary.replace(path)
    return path


def write_with_provenance(path: str | Path, provenance: dict[str, Any], write: Callable[[Path], None], *,
                          suffix: str, kind: str) -> Path:
    """A data file plus its sidecar. The data goes to a temporary name and is renamed last, so an
    interrupted write never leaves a file that looks complete."""
    from glasstune.errors import DataError

    path = Path(path)
    if path.suffix != suffix:
        raise DataError(f"{path}: {kind} are written as {suffix}")
    if "." in path.name[: -len(suffix)]:
        raise DataError(f"{path}: use a file name without dots before {suffix} (the provenance "
                        f"sidecar is named after the part before the first dot)")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.partial{suffix}")
    write(temporary)
    write_provenance(path, provenance)
    temporary.replace(path)
    return path


def read_provenance(data_path: Path) -> dict[str, Any]:
    """The sidecar's content, or a minimal record (path and checksum) for a user's own file."""
    path = sidecar_path(data_path)
    if path.exists():
        try:
            provenance = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            from glasstune.errors import DataError

            raise DataError(f"{path}: the provenance beside {data_path.name} is damaged ({type(error).__name__}); "
                            f"delete both files and the data set is made again on next use") from error
        if isinstance(provenance, dict):
            return provenance
    return {"source": str(data_path), "sha256": file_digest(data_path), "synthetic": False}


def file_digest(path: Path) -> str:
    """A checksum of a file's bytes, or of every file in a folder (a partitioned Parquet data set)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with open(file, "rb") as handle:
            for block in iter(lambda handle=handle: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def is_synthetic(provenance: dict[str, Any]) -> bool:
    return bool(provenance.get("synthetic", False))


def caveats(provenance: dict[str, Any]) -> list[str]:
    """What a reader must know before trusting numbers made on these data, each a few words."""
    notes = []
    if provenance.get("label_rule") == "quantiles":
        notes.append("quantile labels, not the lab's Phop thresholds")
    if provenance.get("equilibrated") is False:
        ageing = (provenance.get("ageing_check") or {}).get("ageing")
        notes.append("not equilibrated, ageing" if ageing else "not equilibrated")
    return notes


def provenance_label(provenance: dict[str, Any]) -> str:
    """A short text for plot titles: says loudly when data are synthetic, and every caveat."""
    name = provenance.get("name") or Path(str(provenance.get("source", "data"))).name
    engine = provenance.get("engine")
    label = f"{name} [SYNTHETIC]" if is_synthetic(provenance) else f"{name} ({engine})" if engine else str(name)
    return label + "".join(f" [{note}]" for note in caveats(provenance))
