"""Data sources a study file names: the synthetic stand-in (made once, then cached) or a user's file.

The simulated built-in sets live in ``glasstune.data.ka.datasets``; ``glasstune.data.catalog``
names them all.

A source has ``load() -> data`` and ``smoke() -> source`` (a tiny synthetic stand-in for
``glasstune run --smoke``). Loading happens before the first trial, so bad data fails early.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glasstune.config import data_dir
from glasstune.data.cache import ensure_cached, file_tag
from glasstune.data.table import FeatureTable, load_table, write_feature_table


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

        key = f"synthetic_T{file_tag(self.temperature)}_f{self.n_frames}_n{self.n_per_class}_s{self.seed}"
        path = data_dir() / "synthetic" / f"{key}.parquet"

        def make(target: Path) -> None:
            frame, provenance = make_softness_table(
                (self.temperature,), n_frames=self.n_frames, n_per_class=self.n_per_class,
                seed=self.seed,
            )
            write_feature_table(frame, provenance, target)

        ensure_cached(path, make, name=self.name)
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


def table_file(path: str | Path, *, temperature: float | None = None) -> TableFile:
    """A user's own feature table as a study's data (``--smoke`` still uses the synthetic set)."""
    return TableFile(Path(path), temperature)


def describe(source: Any) -> dict[str, Any]:
    """A JSON-able description of a data source for study attributes and exports."""
    description = {"name": getattr(source, "name", str(source)), "type": type(source).__name__}
    for key, value in getattr(source, "__dict__", {}).items():
        description[key] = str(value) if isinstance(value, Path) else value
    return json.loads(json.dumps(description, default=str))
