"""Data sources a study file names: built-in data sets (made once, then cached) or a user's file.

A source has ``load() -> data`` and ``smoke() -> source`` (a tiny synthetic stand-in for
``glasstune run --smoke``). Loading happens before the first trial, so bad data fails early.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glasstune.config import data_dir
from glasstune.data.provenance import write_provenance
from glasstune.data.table import FeatureTable, load_table
from glasstune.errors import DataError


@dataclass(frozen=True)
class SyntheticSoftness:
    """The statistical stand-in at one temperature (tests, smoke runs, quick demos)."""

    temperature: float
    n_frames: int = 12
    n_per_class: int = 50
    seed: int = 0

    @property
    def name(self) -> str:
        return f"ka-softness-synthetic/T{self.temperature:g}"

    def load(self) -> FeatureTable:
        from glasstune.data.synthetic import make_softness_table

        key = f"synthetic_T{self.temperature:g}_f{self.n_frames}_n{self.n_per_class}_s{self.seed}"
        path = data_dir() / "synthetic" / f"{key}.parquet"
        if not path.exists():
            frame, provenance = make_softness_table(
                (self.temperature,), n_frames=self.n_frames, n_per_class=self.n_per_class,
                seed=self.seed,
            )
            _write_atomically(frame, path, provenance)
        table = load_table(path)
        table.provenance["name"] = self.name
        return table

    def smoke(self) -> SyntheticSoftness:
        return SyntheticSoftness(self.temperature, n_frames=6, n_per_class=15, seed=self.seed)


@dataclass(frozen=True)
class TableFile:
    """A user's own feature table (Parquet, CSV or NPZ), optionally one temperature of it."""

    path: Path
    temperature: float | None = None

    @property
    def name(self) -> str:
        suffix = f"/T{self.temperature:g}" if self.temperature is not None else ""
        return f"{Path(self.path).name}{suffix}"

    def load(self) -> FeatureTable:
        table = load_table(self.path)
        return table.at_temperature(self.temperature) if self.temperature is not None else table

    def smoke(self) -> SyntheticSoftness:
        return SyntheticSoftness(self.temperature or 0.45).smoke()


def softness(temperature: float, *, source: str = "synthetic") -> Any:
    """The built-in KA softness data set at one of the lab's temperatures.

    ``source="synthetic"`` is the statistical stand-in.
    """
    if source == "synthetic":
        return SyntheticSoftness(temperature)
    raise DataError(f"unknown softness source {source!r}; use 'synthetic'")


def table_file(path: str | Path, *, temperature: float | None = None) -> TableFile:
    return TableFile(Path(path), temperature)


def _write_atomically(frame: Any, path: Path, provenance: dict) -> None:
    """Write to a temporary name then rename: a killed writer never leaves a half cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    frame.to_parquet(temporary, index=False)
    write_provenance(path, provenance)
    temporary.replace(path)


def describe(source: Any) -> dict[str, Any]:
    """A JSON-able description of a data source for study attributes and exports."""
    description = {"name": getattr(source, "name", str(source)), "type": type(source).__name__}
    for key, value in getattr(source, "__dict__", {}).items():
        description[key] = str(value) if isinstance(value, Path) else value
    return json.loads(json.dumps(description, default=str))
