"""Per-particle feature tables, and the one validation every source's table passes.

A ``FeatureTable`` checks itself when it is made, whoever makes it: a built-in set, a lab's file
(``table_file``), or a data source written in Python that returns ``FeatureTable(frame, ...)``. Every
problem is one line naming the source, the column and the fix.

Which columns are what is the table's to say (``features``, ``label``, ``group``, ``temperature``;
``glasstune.data.columns``). The label decides the task: two classes (binary), up to
``MAX_CLASSES`` classes (multi-class; strings and booleans are mapped to 0..K-1 in sorted order, or in
the order of ``classes``, and the mapping goes into the provenance), or a continuous target
(regression: a label with fractional values, or ``task="regression"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from glasstune.data.columns import FeatureSpec, feature_matrix, require_column, resolve_features, shown
from glasstune.data.provenance import read_provenance, write_with_provenance
from glasstune.data.readers import read_table_file
from glasstune.data.schema import LABEL_COLUMN
from glasstune.errors import DataError

TASKS = ("auto", "classification", "regression", "binary", "multiclass")
"""What a table may be told its label is; "binary" and "multiclass" are resolved tasks, accepted back."""
MAX_CLASSES = 20
"""A whole-number label with more distinct values than this is not taken for classes unless told."""
TEMPERATURE_COLUMN = "temperature"
GROUP_COLUMN = "frame"


@dataclass(eq=False)
class FeatureTable:
    """Rows with feature columns and a label (classes or a continuous target), validated when made.

    ``features``: a list of columns, a glob (``"f*"``) or a range (``"f0:f99"``); None is the lab's
    100 structure functions. ``group``: the column whose rows are correlated (a frame, a trajectory),
    kept on one side of every split; None is ``frame`` when there is one. ``temperature``: a column,
    or one number for the whole table; None is ``temperature`` when there is one. ``task``: "auto",
    "classification" or "regression". After validation these attributes hold what was resolved
    (``task`` is "binary", "multiclass" or "regression"; ``classes`` the label values in code order).
    """

    frame: pd.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)
    features: FeatureSpec = None
    label: str = LABEL_COLUMN
    group: str | None = None
    temperature: str | float | None = None
    task: str = "auto"
    classes: Sequence[Any] | None = None
    min_rows_per_class: int = 2
    _y: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.provenance, Mapping):
            raise DataError(f"FeatureTable: provenance must be a dict, got {type(self.provenance).__name__}")
        self.provenance = dict(self.provenance)
        source = self.source
        if not isinstance(self.frame, pd.DataFrame):
            raise DataError(f"{source}: a FeatureTable holds a pandas DataFrame, got {type(self.frame).__name__}")
        if self.task not in TASKS:
            raise DataError(f"{source}: task={self.task!r}; use 'auto', 'classification' or 'regression'")
        frame = self.frame.copy()
        frame.columns = [str(column) for column in frame.columns]
        if len(frame) == 0:
            raise DataError(f"{source}: the table has no rows")
        frame = self._resolve_temperature(frame, source)
        self.group = self._resolve_group(frame, source)
        self.label = require_column(frame, str(self.label), "label", "label", source)
        roles = {name: role for name, role in ((self.temperature, "temperature"), (self.group, "group"),
                                               (self.label, "label")) if name}
        self.features = resolve_features(frame.columns, self.features, source, reserved=tuple(roles))
        clash = [name for name in self.features if name in roles]
        if clash:
            raise DataError(f"{source}: column {clash[0]!r} is both a feature and the {roles[clash[0]]}; "
                            f"leave it out of features=")
        feature_matrix(frame, self.features, source)  # numbers, finite, within float32
        frame = frame.astype({name: np.float32 for name in self.features}).copy()  # copy: one block per dtype
        for name, role in roles.items():
            missing = frame[name].isna().to_numpy()
            if missing.any():
                raise DataError(f"{source}: {role} column {name!r} has {int(missing.sum())} missing value(s) "
                                f"(first at row {int(np.argmax(missing))}); drop or fill those rows")
        self.task, self.classes, self._y = encode_labels(frame[self.label], self.task, self.classes, source)
        self._check_counts(frame, source)
        self.frame = frame
        self.provenance["task"] = self.task
        if self.classes is not None:
            self.provenance["classes"] = list(self.classes)
            if tuple(self.classes) != tuple(range(len(self.classes))):
                self.provenance["label_mapping"] = {str(value): code for code, value in enumerate(self.classes)}

    def _resolve_temperature(self, frame: pd.DataFrame, source: str) -> pd.DataFrame:
        value = self.temperature
        if value is None:
            self.temperature = TEMPERATURE_COLUMN if TEMPERATURE_COLUMN in frame else None
        elif isinstance(value, str):
            self.temperature = require_column(frame, value, "temperature", "temperature", source)
        else:
            if TEMPERATURE_COLUMN in frame:
                raise DataError(f"{source}: temperature={value!r} is one number for every row, but the table has a "
                                f"'temperature' column; select its rows with table_file(..., temperature={value!r})")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
                raise DataError(f"{source}: temperature={value!r}: give a column name or a number")
            frame[TEMPERATURE_COLUMN] = float(value)
            self.temperature = TEMPERATURE_COLUMN
            self.provenance["temperature"] = float(value)
        if self.temperature is not None and not pd.api.types.is_numeric_dtype(frame[self.temperature]):
            raise DataError(f"{source}: temperature column {self.temperature!r} is not numeric; fix its values")
        return frame

    def _resolve_group(self, frame: pd.DataFrame, source: str) -> str | None:
        if self.group is None:
            return GROUP_COLUMN if GROUP_COLUMN in frame else None
        return require_column(frame, str(self.group), "group", "group", source)

    def _check_counts(self, frame: pd.DataFrame, source: str) -> None:
        """Enough rows of every class (at every temperature), or of a continuous target."""
        if self.task == "regression":
            if len(frame) < max(2, self.min_rows_per_class):
                raise DataError(f"{source}: only {len(frame)} row(s); a regression needs at least "
                                f"{max(2, self.min_rows_per_class)}")
            return
        parts = [("", self._y)]
        if self.temperature is not None:
            temperatures = frame[self.temperature].to_numpy(dtype=float)
            parts = [(f"at temperature {t:g} ", self._y[temperatures == t]) for t in np.unique(temperatures)]
        for where, codes in parts:
            counts = np.bincount(codes, minlength=len(self.classes))
            present = np.flatnonzero(counts)
            if len(present) == 1:
                raise DataError(f"{source}: {where}every row has label {self.classes[present[0]]!r}; a classifier "
                                f"needs at least two classes (a continuous target: task='regression')")
            rarest = int(np.argmin(counts))
            if counts[rarest] < self.min_rows_per_class:
                raise DataError(f"{source}: {where}only {counts[rarest]} row(s) of the rarer class (label "
                                f"{self.classes[rarest]!r}); need at least {self.min_rows_per_class} (one per fold)")

    @property
    def X(self) -> np.ndarray:  # noqa: N802 (the usual name for a design matrix)
        return np.array(self.frame.loc[:, list(self.features)], dtype=np.float32)  # a writable copy

    @property
    def y(self) -> np.ndarray:
        """Class codes 0..K-1 (int64), or the target's values (float64) for a regression."""
        return self._y

    @property
    def n_classes(self) -> int | None:
        return None if self.classes is None else len(self.classes)

    @property
    def groups(self) -> np.ndarray | None:
        """Group ids (per temperature) for grouped folds, or None when the table has no group column.

        Frames of a simulation whose labels come from one Phop window (``phop_window_frames`` in the
        provenance) share their rearrangements: a hop labels every frame whose window holds it. Such
        frames are one group (a block of a window's length), so that no fold is scored on events its
        training rows saw from a neighbouring frame."""
        if self.group is None:
            return None
        window = self.provenance.get("phop_window_frames")
        column = self.frame[self.group]
        if isinstance(window, int) and window > 1 and pd.api.types.is_integer_dtype(column):
            column = column // window
        keys = column.astype(str)
        if self.temperature is not None:
            keys = self.frame[self.temperature].astype(str) + ":" + keys
        return pd.factorize(keys)[0]

    @property
    def temperatures(self) -> list[float]:
        if self.temperature is None:
            return []
        return sorted(float(t) for t in self.frame[self.temperature].unique())

    @property
    def unused_columns(self) -> list[str]:
        """Columns the table has but no role reads (ids, notes, extra measurements)."""
        used = {*self.features, self.label, self.group, self.temperature}
        return [column for column in self.frame.columns if column not in used]

    def derived(self, frame: pd.DataFrame, provenance: dict[str, Any]) -> FeatureTable:
        """Another table with the same columns and the same label codes (a subset of this one)."""
        task = "regression" if self.task == "regression" else "classification"
        return FeatureTable(frame, provenance, features=self.features, label=self.label, group=self.group,
                            temperature=self.temperature, task=task, classes=self.classes,
                            min_rows_per_class=self.min_rows_per_class)

    def at_temperature(self, temperature: float) -> FeatureTable:
        if self.temperature is None:
            raise DataError(f"{self.source}: no temperature column to select {temperature} from; "
                            f"name it with temperature='COLUMN', or leave temperature= out")
        rows = np.isclose(self.frame[self.temperature].to_numpy(dtype=float), temperature)
        if not rows.any():
            raise DataError(
                f"{self.source}: no rows at temperature {temperature}; "
                f"it has {', '.join(f'{t:g}' for t in self.temperatures)}"
            )
        subset = self.frame.loc[rows].reset_index(drop=True)
        return self.derived(subset, {**self.provenance, "temperature": temperature})

    def sample(self, rows: int, seed: int = 0, *, min_per_stratum: int = 10) -> FeatureTable:
        """A small stratified sample (``--smoke`` on a lab's own data): about ``rows`` rows, each class
        (each quintile of a continuous target) in its share, with at least ``min_per_stratum`` of each."""
        if len(self) <= rows:
            return self
        if self.task == "regression":
            strata = pd.qcut(self._y, 5, labels=False, duplicates="drop")
        else:
            strata = self._y
        rng = np.random.default_rng(seed)
        chosen = []
        for stratum in np.unique(strata):
            members = np.flatnonzero(strata == stratum)
            share = max(min_per_stratum, round(rows * len(members) / len(self)))
            chosen.append(rng.choice(members, min(share, len(members)), replace=False))
        keep = np.sort(np.concatenate(chosen))
        provenance = {**self.provenance, "sample": {"rows": int(len(keep)), "of": len(self), "seed": seed,
                                                    "stratified_by": "label"}}
        return self.derived(self.frame.iloc[keep].reset_index(drop=True), provenance)

    def fingerprint(self) -> str:
        """A checksum of the rows as the objective reads them (features, labels, groups): a study
        made on other rows must not be mixed with this one."""
        import hashlib

        digest = hashlib.sha256()
        for array in (self.X, self.y, self.groups if self.groups is not None else np.zeros(0)):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]

    @property
    def source(self) -> str:
        provenance = self.provenance if isinstance(self.provenance, Mapping) else {}
        return str(provenance.get("source") or provenance.get("name") or "data")

    def __len__(self) -> int:
        return len(self.frame)

    def summary(self) -> pd.DataFrame:
        """Rows, groups and the label's balance (or mean and spread) per temperature."""
        frame = self.frame.assign(_code=self._y)
        keys = [self.temperature] if self.temperature is not None else (lambda index: 0)
        grouped = frame.groupby(keys)
        summary = pd.DataFrame({"rows": grouped.size()})
        if self.group is not None:
            summary["groups"] = grouped[self.group].nunique()
        if self.task == "regression":
            summary["label_mean"] = grouped["_code"].mean()
            summary["label_std"] = grouped["_code"].std(ddof=0)
        else:
            for code, value in enumerate(self.classes):
                summary[f"fraction_{value}"] = grouped["_code"].apply(lambda codes, c=code: float(np.mean(codes == c)))
        summary = summary.reset_index()
        return summary if self.temperature is not None else summary.drop(columns=summary.columns[0])


def encode_labels(values: pd.Series, task: str, classes: Sequence[Any] | None,
                  source: str) -> tuple[str, tuple[Any, ...] | None, np.ndarray]:
    """(task, classes in code order or None, y): class codes 0..K-1, or the target as float64."""
    column = values.name
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if task == "regression" or (task == "auto" and classes is None and numeric and not _whole(values)):
        if not numeric:
            raise DataError(f"{source}: task='regression' needs a numeric label; column {column!r} holds "
                            f"{values.dtype} values")
        target = values.to_numpy(dtype=np.float64)
        if not np.isfinite(target).all():
            raise DataError(f"{source}: label column {column!r} has NaN/inf values; drop those rows")
        if np.ptp(target) == 0:
            raise DataError(f"{source}: label column {column!r} is constant ({target[0]:g}); nothing to predict")
        return "regression", None, target
    present = pd.unique(values)
    if task == "auto" and classes is None and numeric and len(present) > MAX_CLASSES:
        raise DataError(f"{source}: label column {column!r} has {len(present)} distinct whole-number values, too many "
                        f"to be taken for classes; say task='regression' (a continuous target) or "
                        f"task='classification'")
    order = [_plain(value) for value in (classes if classes is not None else _sorted(present))]
    unknown = sorted({_plain(value) for value in present} - set(order), key=str)
    if unknown:
        raise DataError(f"{source}: label value(s) {shown([repr(v) for v in unknown])} are not in "
                        f"classes={order!r}; add them or drop those rows")
    if len(order) < 2:
        raise DataError(f"{source}: every row has label {order[0]!r}; a classifier needs at least two classes "
                        f"(a continuous target: task='regression')")
    codes = pd.Categorical(values, categories=order).codes.astype(np.int64)
    return ("binary" if len(order) == 2 else "multiclass"), tuple(order), codes


def _whole(values: pd.Series) -> bool:
    numbers = values.to_numpy(dtype=np.float64)
    finite = numbers[np.isfinite(numbers)]
    return bool(np.all(finite == np.round(finite)))


def _sorted(values: Any) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:  # mixed kinds in one column: an order all the same
        return sorted(values, key=str)


def _plain(value: Any) -> Any:
    """numpy scalars as Python values, so classes compare, sort and go into JSON alike."""
    return value.item() if isinstance(value, np.generic) else value


def load_table(path: str | Path, *, label_file: str | Path | None = None, group_file: str | Path | None = None,
               **columns: Any) -> FeatureTable:
    """Load and validate a feature table; ``columns`` say which columns are what (see FeatureTable).
    Its provenance comes from the sidecar if there is one."""
    path = Path(path)
    frame = read_table_file(path, label_file=label_file, group_file=group_file)
    provenance = read_provenance(path)
    provenance.setdefault("source", str(path))
    return FeatureTable(frame, provenance, **columns)


def check_rows_for_folds(table: FeatureTable, n_folds: int) -> None:
    """k-fold cross-validation needs at least k rows of each class (k rows for a regression)."""
    if table.task == "regression":
        if len(table) < n_folds:
            raise DataError(f"{table.source}: {len(table)} row(s) for {n_folds}-fold cross-validation; "
                            f"use fewer folds (n_folds) or more data")
        return
    counts = np.bincount(table.y, minlength=table.n_classes)
    if counts.min() < n_folds:
        raise DataError(
            f"{table.source}: {counts.min()} row(s) of class {table.classes[int(counts.argmin())]!r} for "
            f"{n_folds}-fold cross-validation; use fewer folds (n_folds) or more data"
        )


def write_feature_table(table: pd.DataFrame, provenance: dict[str, Any], path: str | Path) -> Path:
    """Parquet plus provenance sidecar, written atomically."""
    return write_with_provenance(path, provenance, lambda target: table.to_parquet(target, index=False),
                                 suffix=".parquet", kind="feature tables")
