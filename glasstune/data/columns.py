"""Which columns of a lab's table are what: the features, the label, the group, the temperature.

A lab's own table keeps its own column names; the built-in names (``G_A_00 ... G_B_49``, ``label``,
``frame``, ``temperature``) are only the default. Features are named as a list, a glob (``"f*"``,
in the file's column order; a glob never picks the label, group or temperature column) or an
inclusive range of columns (``"f0:f99"``, by position in the file).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from glasstune.data.schema import FEATURE_COLUMNS
from glasstune.errors import DataError

FeatureSpec = Sequence[str] | str | None
FLOAT32_MAX = float(np.finfo(np.float32).max)
GLOB_CHARACTERS = "*?["


def shown(names: Sequence[Any], limit: int = 3) -> str:
    """``a, b, c and 7 more``: a list of names short enough for one line."""
    names = [str(name) for name in names]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def resolve_features(columns: Sequence[Any], spec: FeatureSpec, source: str, *,
                     reserved: Sequence[str] = ()) -> tuple[str, ...]:
    """The feature columns ``spec`` names among ``columns``, in order; one line if it names none."""
    names = [str(column) for column in columns]
    if spec is None:
        missing = [column for column in FEATURE_COLUMNS if column not in names]
        if missing:
            raise DataError(
                f"{source}: missing column(s) {shown(missing)} of the built-in layout (G_A_00..G_A_49, "
                f"G_B_00..G_B_49); name your feature columns with features=[...], a glob such as 'f*' or a "
                f"range such as 'f0:f99' (glasstune data check FILE --features ... shows what is read)")
        return FEATURE_COLUMNS
    if isinstance(spec, str):
        return _from_text(names, spec, source, reserved)
    chosen = [str(name) for name in spec]
    absent = [name for name in chosen if name not in names]
    if absent:
        raise DataError(f"{source}: no feature column(s) {shown(absent)}; it has {shown(names, 6)}")
    repeated = sorted({name for name in chosen if chosen.count(name) > 1})
    if repeated:
        raise DataError(f"{source}: feature column(s) {shown(repeated)} named twice in features=")
    if not chosen:
        raise DataError(f"{source}: features= names no column; give at least one")
    return tuple(chosen)


def _from_text(names: list[str], spec: str, source: str, reserved: Sequence[str]) -> tuple[str, ...]:
    if spec in names:
        return (spec,)
    if any(character in spec for character in GLOB_CHARACTERS):
        chosen = [name for name in fnmatch.filter(names, spec) if name not in reserved]
        if not chosen:
            raise DataError(f"{source}: features={spec!r} matches no column; it has {shown(names, 6)}")
        return tuple(chosen)
    if ":" in spec:
        first, last = (part.strip() for part in spec.split(":", 1))
        absent = [name for name in (first, last) if name not in names]
        if absent:
            raise DataError(f"{source}: features={spec!r}: no column {shown(absent)}; it has {shown(names, 6)}")
        start, stop = names.index(first), names.index(last)
        if stop < start:
            raise DataError(f"{source}: features={spec!r}: {last!r} comes before {first!r} in the file")
        return tuple(name for name in names[start:stop + 1] if name not in reserved)
    raise DataError(f"{source}: no feature column {spec!r}; give a list, a glob such as 'f*' or a range "
                    f"such as 'f0:f99'; it has {shown(names, 6)}")


def require_column(frame: pd.DataFrame, column: str, role: str, option: str, source: str) -> str:
    """A named column must be there; the message says which option names it."""
    if column not in frame.columns:
        raise DataError(f"{source}: no {role} column {column!r}; say which column it is with "
                        f"{option}=... (it has {shown(list(frame.columns), 6)})")
    return column


def feature_matrix(frame: pd.DataFrame, features: Sequence[str], source: str) -> np.ndarray:
    """The feature columns as float32, after checking they are numbers that float32 can hold:
    glasstune trains in float32, where a value beyond 3.4e38 would silently become inf."""
    for column in features:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            kind = frame[column].dtype
            raise DataError(f"{source}: feature column {column!r} is not numeric ({kind}); fix its values or "
                            f"leave it out of features=")
    values = frame.loc[:, list(features)].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"{source}: column {features[col]!r} has {int(bad[:, col].sum())} NaN/inf value(s) "
                        f"(first at row {row}); drop or fill those rows")
    huge = np.abs(values) > FLOAT32_MAX
    if huge.any():
        col = int(np.argwhere(huge.any(axis=0))[0][0])
        largest = float(np.abs(values[:, col]).max())
        raise DataError(f"{source}: column {features[col]!r} has values up to {largest:.3g}, beyond float32's "
                        f"{FLOAT32_MAX:.3g} (glasstune trains in float32); rescale that column")
    return values.astype(np.float32)
