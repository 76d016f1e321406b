"""Data sources a study file names: the synthetic stand-in (made once, then cached) or a lab's file.

The simulated built-in sets live in ``glasstune.data.ka.datasets``; ``glasstune.data.catalog``
names them all.

A data source is any object with (``DataSource``):

* ``name``: a short text for run tags and plot titles;
* ``load()``: a ``FeatureTable`` or an ``ImageSet`` (both validate themselves when made, so a source
  written in Python passes the same checks as the built-in ones);
* optionally ``smoke()``: a small source of the same kind for ``glasstune run --smoke``.

Loading happens before the first trial, so bad data fail early. A source is described
(``describe``) in the study and its exports, and built again from that description
(``from_description``) by ``glasstune retrain``.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from glasstune.config import data_dir
from glasstune.data.cache import ensure_cached, file_tag
from glasstune.data.columns import FeatureSpec
from glasstune.data.provenance import read_provenance
from glasstune.data.readers import read_table_file
from glasstune.data.table import TEMPERATURE_COLUMN, FeatureTable, load_table, write_feature_table
from glasstune.errors import DataError

SMOKE_ROWS = 200
"""``--smoke`` on a lab's table: a stratified sample of about this many rows."""


@runtime_checkable
class DataSource(Protocol):
    """What a study's ``data`` must be: a name and ``load()``; ``smoke()`` is optional."""

    @property
    def name(self) -> str: ...

    def load(self) -> Any:
        """A ``FeatureTable`` or an ``ImageSet``."""


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
    """A lab's own feature table: Parquet (a file or a partitioned folder), CSV, NPZ or an NPY pair,
    with its own column names. ``temperature``: a number selects the rows at that temperature when
    the table has a temperature column, and is every row's temperature when it has none; a text
    names the column. ``sample``: keep a stratified sample of about this many rows (``smoke()``)."""

    path: Path
    temperature: float | str | None = None
    features: FeatureSpec = None
    label: str = "label"
    group: str | None = None
    task: str = "auto"
    classes: tuple[Any, ...] | None = None
    sample: int | None = None
    seed: int = 0

    @property
    def name(self) -> str:
        suffix = f"/T{self.temperature:g}" if isinstance(self.temperature, (int, float)) else ""
        sampled = f"/sample{self.sample}" if self.sample else ""
        return f"{Path(self.path).name}{suffix}{sampled}"

    @property
    def is_npy_pair(self) -> bool:
        return Path(self.path).suffix == ".npy"

    def load(self) -> FeatureTable:
        path = Path(self.path)
        label, group, files = self.label, self.group, {}
        if self.is_npy_pair:
            if not str(self.label).endswith(".npy"):
                raise DataError(f"{path}: an NPY pair needs its labels file: table_file('{path}', label='y.npy')")
            files["label_file"], label = self.label, "label"
            if self.group is not None:
                files["group_file"], group = self.group, "group"
        frame = read_table_file(path, **files)
        provenance = read_provenance(path)
        provenance.setdefault("source", str(path))
        number = isinstance(self.temperature, (int, float)) and not isinstance(self.temperature, bool)
        selects = number and TEMPERATURE_COLUMN in frame.columns  # else the number is every row's temperature
        features = self.features if self.features is not None else frame.attrs.get("features")  # an array: all
        table = FeatureTable(frame, provenance, features=features, label=label, group=group, task=self.task,
                             classes=self.classes, temperature=None if selects else self.temperature)
        if selects:
            table = table.at_temperature(float(self.temperature))
        if self.sample:
            table = table.sample(self.sample, self.seed)
        table.provenance["name"] = self.name
        return table

    def smoke(self) -> TableFile:
        """A stratified sample of this very table: ``--smoke`` reads the lab's data, not a stand-in."""
        return dataclasses.replace(self, sample=min(self.sample or SMOKE_ROWS, SMOKE_ROWS))


def table_file(path: str | Path, *, features: FeatureSpec = None, label: str = "label", group: str | None = None,
               temperature: float | str | None = None, task: str = "auto",
               classes: list[Any] | tuple[Any, ...] | None = None) -> TableFile:
    """A lab's own feature table as a study's data, with its own column names.

    ``features``: a list of columns, a glob (``"f*"``) or a range (``"f0:f99"``); default the lab's
    ``G_A_00 ... G_B_49``. ``label``: the label column (for an NPY pair, the labels' ``.npy`` file).
    ``group``: the column of correlated rows (frame, trajectory) for grouped folds; default ``frame``
    if present. ``temperature``: a number (select those rows, or every row's temperature) or a
    column. ``task``: "auto", "classification" or "regression". ``classes``: the label values in
    the order of their codes 0..K-1 (default: sorted).
    """
    features = tuple(features) if isinstance(features, (list, tuple)) else features
    return TableFile(Path(path), temperature, features, str(label), None if group is None else str(group),
                     task, tuple(classes) if classes is not None else None)


def describe(source: Any) -> dict[str, Any]:
    """A JSON-able description of a data source for study attributes and exports: its name, its
    class and its fields, enough for ``from_description`` to make it again."""
    kind = type(source)
    description = {"name": getattr(source, "name", str(source)), "type": kind.__name__,
                   "class": f"{kind.__module__}:{kind.__qualname__}"}
    for key, value in getattr(source, "__dict__", {}).items():
        description[key] = str(value) if isinstance(value, Path) else value
    return json.loads(json.dumps(description, default=str))


def from_description(description: dict[str, Any]) -> Any:
    """The data source a ``describe`` output stands for, made again from its class and fields.

    Only dataclass sources of an importable module can be (a source defined inside a study file is
    made by loading that file); anything else is one line saying why not."""
    path = str(description.get("class") or "")
    module_name, _, qualname = path.partition(":")
    try:
        kind: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            kind = getattr(kind, part)
    except (ImportError, AttributeError, ValueError) as error:
        raise DataError(f"data source {description.get('name')!r}: its class {path or '(not recorded)'} cannot be "
                        f"imported here ({type(error).__name__})") from error
    if not dataclasses.is_dataclass(kind):
        raise DataError(f"data source {description.get('name')!r}: {path} is not a dataclass, so it cannot be made "
                        f"again from its description")
    values = {}
    for item in dataclasses.fields(kind):
        if item.name not in description or not item.init:
            continue
        value = description[item.name]
        if isinstance(value, list):
            value = tuple(value)
        if item.name == "path" and value is not None:
            value = Path(value)
        values[item.name] = value
    try:
        return kind(**values)
    except (TypeError, ValueError) as error:
        raise DataError(f"data source {description.get('name')!r}: cannot be made again from its description "
                        f"({error})") from error
