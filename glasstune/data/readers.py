"""Read a lab's table as it is on disk: Parquet (a file or a partitioned folder), CSV, NPZ, or an
NPY pair (features and labels in two ``.npy`` files). No column is renamed or checked here;
``glasstune.data.table`` says what the columns mean.

HDF5 is not read: its layouts differ from lab to lab (groups, datasets, attributes), so no one
reading would be right, and it needs h5py or PyTables. Three lines of h5py write the NPY pair.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from glasstune.config import data_dir
from glasstune.data.schema import FEATURE_COLUMNS, LABEL_COLUMN
from glasstune.errors import DataError

SUFFIXES = (".parquet", ".csv", ".npz", ".npy")
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
GROUP_COLUMN = "group"
"""The group column of an NPY pair's groups file."""


def read_table_file(path: str | Path, *, label_file: str | Path | None = None,
                    group_file: str | Path | None = None) -> pd.DataFrame:
    """The raw table; a missing, unknown or unreadable file is one line naming it."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such data file; check the path in the study file")
    if path.is_dir():
        return _guarded(path, "a Parquet folder", lambda: _read_parquet_folder(path))
    if path.suffix in HDF5_SUFFIXES:
        raise DataError(f"{path}: HDF5 is not read (its layouts differ from lab to lab); write the features and "
                        f"labels as X.npy and y.npy with h5py and use table_file('X.npy', label='y.npy')")
    if path.suffix not in SUFFIXES:
        raise DataError(f"{path}: unknown data format {path.suffix!r}; use one of {', '.join(SUFFIXES)} "
                        f"or a folder of Parquet files")
    if path.suffix == ".npy":
        return _read_npy_pair(path, label_file, group_file)
    if path.suffix == ".parquet":
        return _guarded(path, "parquet", lambda: pd.read_parquet(path))
    if path.suffix == ".csv":
        return _guarded(path, "csv", lambda: pd.read_csv(path))
    return _guarded(path, "npz", lambda: _read_npz(path))


def _guarded(path: Path, kind: str, read: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    try:
        return read()
    except DataError:
        raise
    except Exception as error:  # a corrupt file: say which, and what to do, not how pandas failed inside
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{path}: cannot be read as {kind}: {first}{cached_hint(path)}") from error


def cached_hint(path: Path) -> str:
    """A damaged file in the data cache is made again once it is deleted."""
    try:
        path.resolve().relative_to(data_dir().resolve())
    except ValueError:
        return ""
    return "; it is in glasstune's data cache: delete it and it is made again on next use"


def _read_parquet_folder(folder: Path) -> pd.DataFrame:
    """A partitioned Parquet data set (``temperature=0.45/part-0.parquet`` ...) as one table;
    partition values come back as numbers where they are numbers."""
    if not any(folder.rglob("*.parquet")):
        raise DataError(f"{folder}: a folder is read as a partitioned Parquet data set, and this one holds "
                        f"no .parquet file")
    frame = pd.read_parquet(folder)
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            values = frame[column].astype(object)
            numbers = pd.to_numeric(values, errors="coerce")
            frame[column] = numbers if not numbers.isna().any() else values.astype(str)
    return frame


def feature_names(n_features: int) -> tuple[str, ...]:
    """Column names for an array's features: the built-in names for the lab's 100, else f0, f1, ..."""
    if n_features == len(FEATURE_COLUMNS):
        return FEATURE_COLUMNS
    return tuple(f"f{index}" for index in range(n_features))


def _frame_from_features(path: Path, features: np.ndarray) -> pd.DataFrame:
    """An array's features as columns; ``frame.attrs["features"]`` names them, the default features."""
    if features.ndim != 2:
        raise DataError(f"{path}: features have shape {features.shape}; expected (rows, features)")
    names = feature_names(features.shape[1])
    frame = pd.DataFrame(features, columns=list(names))
    frame.attrs["features"] = names
    return frame


def _read_npz(path: Path) -> pd.DataFrame:
    """NPZ layout: ``features`` (rows, features), ``label`` (rows,) and optional per-row arrays
    (``temperature``, ``frame`` ...), each a column of the same name."""
    with np.load(path, allow_pickle=False) as loaded:
        arrays = dict(loaded)
    if "features" not in arrays:
        raise DataError(f"{path}: NPZ needs an array 'features' of shape (rows, features); it has "
                        f"{', '.join(arrays) or 'no arrays'}")
    frame = _frame_from_features(path, arrays.pop("features"))
    for name, values in arrays.items():
        if values.shape[:1] != (len(frame),) or values.ndim != 1:
            raise DataError(f"{path}: array {name!r} has shape {values.shape}; the features have {len(frame)} rows")
        frame[name] = values
    return frame


def _read_npy_pair(path: Path, label_file: str | Path | None, group_file: str | Path | None) -> pd.DataFrame:
    """Features from ``X.npy`` (rows, features), labels from another ``.npy`` (rows,), and optionally
    the group of each row (frame or trajectory) from a third."""
    features = _load_npy(path)
    frame = _frame_from_features(path, features)
    for file, column in ((label_file, LABEL_COLUMN), (group_file, GROUP_COLUMN)):
        if file is None:
            continue
        values = _load_npy(Path(file))
        if values.ndim != 1 or len(values) != len(frame):
            raise DataError(f"{file}: shape {values.shape}; {path} has {len(frame)} rows, so this file needs "
                            f"({len(frame)},)")
        frame[column] = values
    return frame


def _load_npy(path: Path) -> np.ndarray:
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path in the study file")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as error:
        raise DataError(f"{path}: cannot be read as npy: {error}{cached_hint(path)}") from error
