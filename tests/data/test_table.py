"""Loading and validating a user's feature table: every problem is one line naming file and column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glasstune.data.provenance import read_provenance, write_provenance
from glasstune.data.schema import FEATURE_COLUMNS
from glasstune.data.synthetic import make_softness_table
from glasstune.data.table import load_table
from glasstune.errors import DataError


@pytest.fixture
def frame() -> pd.DataFrame:
    table, _ = make_softness_table((0.45, 2.0), n_frames=3, n_per_class=6, seed=1)
    return table


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_round_trip_keeps_rows_and_labels(tmp_path, frame, suffix):
    path = tmp_path / f"table{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    table = load_table(path)
    assert len(table) == len(frame)
    assert table.X.shape == (len(frame), 100)
    np.testing.assert_array_equal(table.y, frame["label"].to_numpy())
    assert table.temperatures == [0.45, 2.0]
    assert len(table.at_temperature(2.0)) == len(frame) / 2


def test_npz_layout_loads(tmp_path, frame):
    path = tmp_path / "table.npz"
    np.savez(path, features=frame[list(FEATURE_COLUMNS)].to_numpy(), label=frame["label"].to_numpy(),
             temperature=frame["temperature"].to_numpy(), frame=frame["frame"].to_numpy())
    table = load_table(path)
    assert len(table) == len(frame)
    assert table.groups is not None and len(np.unique(table.groups)) == 6


def test_provenance_sidecar_travels_with_the_table(tmp_path, frame):
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    assert read_provenance(path)["synthetic"] is False  # a user's file without sidecar
    write_provenance(path, {"name": "x", "synthetic": True, "seed": 3})
    assert load_table(path).provenance["seed"] == 3


def _broken(frame: pd.DataFrame, problem: str) -> pd.DataFrame:
    frame = frame.copy()
    if problem == "missing":
        return frame.drop(columns=["G_B_07"])
    if problem == "extra":
        frame["velocity"] = 1.0
    elif problem == "nan":
        frame.loc[4, "G_A_10"] = np.nan
    elif problem == "label":
        frame.loc[2, "label"] = 2
    elif problem == "one-class":
        frame["label"] = 1
    elif problem == "few":
        keep = (frame["label"] == 0) | (frame.index == frame.index[frame["label"] == 1][0])
        frame = frame[keep | (frame["temperature"] != 0.45)]
    return frame


@pytest.mark.parametrize(
    "problem, expected",
    [
        ("missing", "missing column(s) G_B_07"),
        ("extra", "unexpected column(s) velocity"),
        ("nan", "column 'G_A_10' has 1 NaN/inf"),
        ("label", "column 'label' has value(s) [2]"),
        ("one-class", "every row has label 1"),
        ("few", "only 1 row(s) of the rarer class"),
    ],
)
def test_bad_tables_give_one_line_naming_file_and_column(tmp_path, frame, problem, expected):
    path = tmp_path / "bad.parquet"
    _broken(frame, problem).to_parquet(path)
    with pytest.raises(DataError) as caught:
        load_table(path)
    message = str(caught.value)
    assert expected in message
    assert str(path) in message and "\n" not in message


def test_unreadable_and_unknown_files(tmp_path):
    with pytest.raises(DataError, match="no such data file"):
        load_table(tmp_path / "absent.parquet")
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="cannot be read as parquet"):
        load_table(corrupt)
    odd = tmp_path / "table.xlsx"
    odd.write_text("x")
    with pytest.raises(DataError, match="unknown data format"):
        load_table(odd)
