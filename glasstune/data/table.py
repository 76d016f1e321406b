"""Per-particle feature tables: load a user's Parquet/CSV/NPZ file and check it says what we need.

Every problem is reported as one line naming the file, the column and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from glasstune.data.provenance import read_provenance, write_with_provenance
from glasstune.data.schema import FEATURE_COLUMNS, ID_COLUMNS, LABEL_COLUMN, OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from glasstune.errors import DataError

SUFFIXES = (".parquet", ".csv", ".npz")


@dataclass
class FeatureTable:
    """Rows of (temperature, frame, particle) with 100 features and a 0/1 label."""

    frame: pd.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def X(self) -> np.ndarray:  # noqa: N802 (the usual name for a design matrix)
        return self.frame.loc[:, list(FEATURE_COLUMNS)].to_numpy(dtype=np.float32)

    @property
    def y(self) -> np.ndarray:
        return self.frame[LABEL_COLUMN].to_numpy(dtype=np.int64)

    @property
    def groups(self) -> np.ndarray | None:
        """Frame ids (per temperature) for grouped folds, or None when the table has no frames."""
        if "frame" not in self.frame:
            return None
        keys = self.frame["temperature"].astype(str) + ":" + self.frame["frame"].astype(str)
        return pd.factorize(keys)[0]

    @property
    def temperatures(self) -> list[float]:
        return sorted(float(t) for t in self.frame["temperature"].unique())

    def at_temperature(self, temperature: float) -> FeatureTable:
        rows = np.isclose(self.frame["temperature"].to_numpy(dtype=float), temperature)
        if not rows.any():
            raise DataError(
                f"{self.source}: no rows at temperature {temperature}; "
                f"it has {', '.join(f'{t:g}' for t in self.temperatures)}"
            )
        subset = self.frame.loc[rows].reset_index(drop=True)
        return FeatureTable(subset, {**self.provenance, "temperature": temperature})

    def fingerprint(self) -> str:
        """A checksum of the rows as the objective reads them (features, labels, frames): a study
        made on other rows must not be mixed with this one."""
        import hashlib

        digest = hashlib.sha256()
        for array in (self.X, self.y, self.groups if self.groups is not None else np.zeros(0)):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]

    @property
    def source(self) -> str:
        return str(self.provenance.get("source") or self.provenance.get("name") or "data")

    def __len__(self) -> int:
        return len(self.frame)

    def summary(self) -> pd.DataFrame:
        """Rows and class balance per temperature."""
        grouped = self.frame.groupby("temperature")[LABEL_COLUMN]
        summary = pd.DataFrame({"rows": grouped.size(), "fraction_label_1": grouped.mean()})
        if "frame" in self.frame:
            summary["frames"] = self.frame.groupby("temperature")["frame"].nunique()
        return summary.reset_index()


def read_table_file(path: Path) -> pd.DataFrame:
    """Read the raw table; unreadable files become a DataError."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such data file; check the path in the study file")
    if path.suffix not in SUFFIXES:
        raise DataError(f"{path}: unknown data format {path.suffix!r}; use one of {SUFFIXES}")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".csv":
            return pd.read_csv(path)
        with np.load(path, allow_pickle=False) as arrays:
            return _frame_from_arrays(path, dict(arrays))
    except DataError:
        raise
    except Exception as error:  # a corrupt file: say which, not how pandas failed inside
        raise DataError(f"{path}: cannot be read as {path.suffix[1:]}: {error}") from error


def _frame_from_arrays(path: Path, arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """NPZ layout: ``features`` (n, 100), ``label`` (n,), ``temperature`` and optional ids."""
    if "features" not in arrays:
        raise DataError(f"{path}: NPZ needs an array 'features' of shape (rows, 100)")
    features = arrays.pop("features")
    if features.ndim != 2 or features.shape[1] != len(FEATURE_COLUMNS):
        raise DataError(
            f"{path}: 'features' has shape {features.shape}; expected (rows, {len(FEATURE_COLUMNS)})"
        )
    frame = pd.DataFrame(features, columns=list(FEATURE_COLUMNS))
    for name, values in arrays.items():
        if values.shape[:1] != (len(frame),):
            raise DataError(f"{path}: array {name!r} has {len(values)} rows, features have {len(frame)}")
        frame[name] = values
    return frame


def validate_frame(frame: pd.DataFrame, source: str, *, min_rows_per_class: int = 2) -> pd.DataFrame:
    """Check columns, values and labels; return the frame with canonical dtypes."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise DataError(
            f"{source}: missing column(s) {shown}; a feature table needs 'temperature', "
            f"G_A_00..G_A_49, G_B_00..G_B_49 and 'label' (see README, data format)"
        )
    known = {*ID_COLUMNS, *FEATURE_COLUMNS, LABEL_COLUMN, *OPTIONAL_COLUMNS}
    extra = [c for c in frame.columns if c not in known]
    if extra:
        raise DataError(
            f"{source}: unexpected column(s) {', '.join(map(str, extra[:3]))}; "
            f"remove them or rename them to the documented names"
        )
    for column in REQUIRED_COLUMNS:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise DataError(f"{source}: column {column!r} is not numeric; fix the values in it")
    numeric = list(REQUIRED_COLUMNS)
    values = frame[numeric].to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(
            f"{source}: column {numeric[col]!r} has {int(bad[:, col].sum())} NaN/inf value(s) "
            f"(first at row {row}); drop or fill those rows"
        )
    labels = frame[LABEL_COLUMN].to_numpy()
    odd = sorted(set(np.unique(labels).tolist()) - {0, 1})
    if odd:
        raise DataError(
            f"{source}: column 'label' has value(s) {odd[:5]}; labels must be 0 (stays) or 1 (rearranges)"
        )
    for temperature, group in frame.groupby("temperature"):
        counts = np.bincount(group[LABEL_COLUMN].astype(int), minlength=2)
        if counts.min() == 0:
            only = int(np.argmax(counts))
            raise DataError(
                f"{source}: at temperature {temperature:g} every row has label {only}; "
                f"a classifier needs both classes"
            )
        if counts.min() < min_rows_per_class:
            raise DataError(
                f"{source}: at temperature {temperature:g} only {counts.min()} row(s) of the rarer "
                f"class; need at least {min_rows_per_class} (one per fold)"
            )
    frame = frame.copy()
    frame[LABEL_COLUMN] = frame[LABEL_COLUMN].astype(np.int8)
    frame[list(FEATURE_COLUMNS)] = frame[list(FEATURE_COLUMNS)].astype(np.float32)
    return frame


def load_table(path: str | Path, *, min_rows_per_class: int = 2) -> FeatureTable:
    """Load and validate a feature table; its provenance comes from the sidecar if present."""
    path = Path(path)
    frame = validate_frame(read_table_file(path), str(path), min_rows_per_class=min_rows_per_class)
    provenance = read_provenance(path)
    provenance.setdefault("source", str(path))
    return FeatureTable(frame, provenance)


def check_rows_for_folds(table: FeatureTable, n_folds: int) -> None:
    """k-fold cross-validation needs at least k rows of each class (and k frames when grouped)."""
    counts = np.bincount(table.y, minlength=2)
    if counts.min() < n_folds:
        raise DataError(
            f"{table.source}: {counts.min()} row(s) of class {int(counts.argmin())} for {n_folds}-fold "
            f"cross-validation; use fewer folds (n_folds) or more data"
        )


def write_feature_table(table: pd.DataFrame, provenance: dict[str, Any], path: str | Path) -> Path:
    """Parquet plus provenance sidecar, written atomically."""
    return write_with_provenance(path, provenance, lambda target: table.to_parquet(target, index=False),
                                 suffix=".parquet", kind="feature tables")
