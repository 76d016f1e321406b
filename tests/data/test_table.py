"""Loading and validating a user's feature table: every problem is one line naming file and column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glasstune.data.provenance import read_provenance, write_provenance
from glasstune.data.schema import FEATURE_COLUMNS
from glasstune.data.synthetic import make_softness_table
from glasstune.data.table import FeatureTable, load_table
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
    if problem == "nan":
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
        ("nan", "column 'G_A_10' has 1 NaN/inf"),
        ("label", "only 1 row(s) of the rarer class (label 2)"),  # a stray 2 makes a third class of one row
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


def test_extra_columns_are_kept_and_said_not_read(tmp_path, frame):
    frame["velocity"] = 1.0
    frame.to_parquet(tmp_path / "t.parquet")
    table = load_table(tmp_path / "t.parquet")
    assert table.unused_columns == ["particle", "species", "velocity"]
    assert table.X.shape[1] == 100


def _lab_frame(rows: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 6)), columns=["id", "f0", "f1", "f2", "x", "f3"])
    frame["outcome"] = np.where(np.arange(rows) % 2, "yes", "no")
    frame["traj"] = np.arange(rows) // 4
    return frame


@pytest.mark.parametrize(("features", "expected"), [
    ("f*", ("f0", "f1", "f2", "f3")),
    ("f0:f3", ("f0", "f1", "f2", "x", "f3")),  # a range is by position in the file
    (["f3", "f0"], ("f3", "f0")),
    ("x", ("x",)),
    ("*", ("id", "f0", "f1", "f2", "x", "f3")),  # a glob never picks the label or the group
])
def test_features_by_list_glob_or_range(features, expected):
    table = FeatureTable(_lab_frame(), {"source": "lab"}, features=features, label="outcome", group="traj")
    assert table.features == expected
    assert table.X.shape == (40, len(expected)) and table.X.dtype == np.float32
    assert len(np.unique(table.groups)) == 10


@pytest.mark.parametrize(("columns", "expected"), [
    ({"features": "g*", "label": "outcome"}, "features='g*' matches no column"),
    ({"features": "f3:f0", "label": "outcome"}, "'f0' comes before 'f3'"),
    ({"features": ["f0", "nope"], "label": "outcome"}, "no feature column(s) nope"),
    ({"features": "f*", "label": "result"}, "no label column 'result'; say which column it is with label="),
    ({"features": "f*", "label": "outcome", "group": "run"}, "no group column 'run'"),
    ({"features": ["f0", "traj"], "label": "outcome", "group": "traj"}, "'traj' is both a feature and the group"),
    ({"features": "f*", "label": "outcome", "task": "regression"}, "task='regression' needs a numeric label"),
    ({"features": "f*", "label": "outcome", "classes": ["yes"]}, "label value(s) 'no' are not in classes=['yes']"),
    ({"features": "f*", "label": "outcome", "temperature": "T"}, "no temperature column 'T'"),
])
def test_a_wrong_mapping_is_one_line(columns, expected):
    with pytest.raises(DataError) as caught:
        FeatureTable(_lab_frame(), {"source": "lab.csv"}, **columns)
    assert expected in str(caught.value) and str(caught.value).startswith("lab.csv: ")


def test_labels_decide_the_task_and_strings_are_mapped():
    frame = _lab_frame()
    table = FeatureTable(frame, {}, features="f*", label="outcome", classes=["yes", "no"])
    assert table.task == "binary" and table.y[:2].tolist() == [1, 0]  # classes= sets the codes' order
    assert table.provenance["label_mapping"] == {"yes": 0, "no": 1}
    frame["outcome"] = np.arange(40) % 3
    table = FeatureTable(frame, {}, features="f*", label="outcome")
    assert table.task == "multiclass" and table.classes == (0, 1, 2) and "label_mapping" not in table.provenance
    frame["outcome"] = np.linspace(0, 1, 40)
    table = FeatureTable(frame, {}, features="f*", label="outcome")
    assert table.task == "regression" and table.classes is None and table.y.dtype == np.float64
    frame["outcome"] = np.arange(40)  # 40 whole numbers: counts, ids or a target? refused unless told
    with pytest.raises(DataError, match="40 distinct whole-number values"):
        FeatureTable(frame, {}, features="f*", label="outcome")
    assert FeatureTable(frame, {}, features="f*", label="outcome", task="regression").task == "regression"


def test_a_temperature_is_a_column_or_one_number():
    table = FeatureTable(_lab_frame(), {}, features="f*", label="outcome", temperature=0.45)
    assert table.temperatures == [0.45] and len(table.at_temperature(0.45)) == 40
    no_temperature = FeatureTable(_lab_frame(), {"source": "lab"}, features="f*", label="outcome")
    assert no_temperature.temperatures == [] and list(no_temperature.summary().columns) == [
        "rows", "fraction_no", "fraction_yes"]
    with pytest.raises(DataError, match="no temperature column to select"):
        no_temperature.at_temperature(0.45)


def test_float32_overflow_is_refused_naming_the_column():
    frame = _lab_frame()
    frame.loc[3, "f2"] = -5e38
    with pytest.raises(DataError, match="column 'f2' has values up to 5e\\+38, beyond float32"):
        FeatureTable(frame, {"source": "lab"}, features="f*", label="outcome")


def test_a_stratified_sample_keeps_every_class_and_the_mapping():
    frame = _lab_frame(400)
    frame.loc[frame.index % 10 == 0, "outcome"] = "maybe"  # a rarer third class
    table = FeatureTable(frame, {}, features="f*", label="outcome")
    sample = table.sample(60, seed=1)
    assert 55 <= len(sample) <= 75 and sample.classes == table.classes
    counts = np.bincount(sample.y, minlength=3)
    assert counts.min() >= 10  # the rare class keeps at least 10 rows
    assert sample.provenance["sample"] == {"rows": len(sample), "of": 400, "seed": 1, "stratified_by": "label"}
    np.testing.assert_array_equal(table.sample(60, seed=1).X, sample.X)  # the same seed, the same rows


def test_every_source_passes_the_same_validation():
    """A FeatureTable made in Python (a data source of a lab's own) is checked as a file is."""
    frame = _lab_frame()
    frame.loc[5, "f1"] = np.inf
    with pytest.raises(DataError, match="column 'f1' has 1 NaN/inf value"):
        FeatureTable(frame, {"name": "my-source"}, features="f*", label="outcome")
    with pytest.raises(DataError, match="holds a pandas DataFrame"):
        FeatureTable(frame.to_numpy(), {"name": "my-source"})


def test_a_partitioned_parquet_folder_reads_as_one_table(tmp_path, frame):
    frame.to_parquet(tmp_path / "parts", partition_cols=["temperature"])
    table = load_table(tmp_path / "parts")
    assert len(table) == len(frame) and table.temperatures == [0.45, 2.0]
    frame.to_parquet(tmp_path / "whole.parquet")
    assert table.fingerprint() == load_table(tmp_path / "whole.parquet").fingerprint()  # the same rows, read alike
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no .parquet file"):
        load_table(tmp_path / "empty")


def test_an_npy_pair_and_hdf5(tmp_path):
    np.save(tmp_path / "X.npy", np.ones((6, 3)))
    np.save(tmp_path / "y.npy", np.array([0, 1] * 3))
    np.save(tmp_path / "short.npy", np.array([0, 1]))
    table = load_table(tmp_path / "X.npy", label_file=tmp_path / "y.npy", features="f*", min_rows_per_class=1)
    assert table.features == ("f0", "f1", "f2") and table.y.tolist() == [0, 1] * 3
    with pytest.raises(DataError, match="shape \\(2,\\); .* has 6 rows"):
        load_table(tmp_path / "X.npy", label_file=tmp_path / "short.npy", features="f*")
    (tmp_path / "t.h5").write_bytes(b"x")
    with pytest.raises(DataError, match="HDF5 is not read"):
        load_table(tmp_path / "t.h5")


def test_frames_of_one_phop_window_are_one_group_for_the_folds(frame):
    """A hop labels every frame whose window holds it: frames closer than a window are not independent."""
    frame = frame.copy()
    frame["frame"] = (np.arange(len(frame)) // 10) * 10  # raw trajectory frames 0, 10, 20, ...
    alone = FeatureTable(frame, {"name": "user"}).groups
    windowed = FeatureTable(frame, {"name": "sim", "phop_window_frames": 50}).groups
    by_frame = pd.factorize(frame["temperature"].astype(str) + ":" + frame["frame"].astype(str))[0]
    by_block = pd.factorize(frame["temperature"].astype(str) + ":" + (frame["frame"] // 50).astype(str))[0]
    assert np.array_equal(alone, by_frame)  # a user's table without a window: a frame is a group
    assert len(np.unique(windowed)) < len(np.unique(alone))
    assert np.array_equal(windowed[:, None] == windowed[None, :], by_block[:, None] == by_block[None, :])
