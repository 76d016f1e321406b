"""Data sources: a lab's table file with its column mapping, its smoke sample, and being made again
from the description a study and its exports record."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glasstune.data.catalog import softness
from glasstune.data.sources import SyntheticSoftness, describe, from_description, table_file
from glasstune.data.synthetic import make_softness_table
from glasstune.errors import DataError


@pytest.fixture
def two_temperatures(tmp_path):
    frame, _ = make_softness_table((0.45, 2.0), n_frames=4, n_per_class=40, seed=2)
    frame.to_csv(tmp_path / "lab.csv", index=False)
    return tmp_path / "lab.csv"


def test_a_number_selects_rows_or_is_every_rows_temperature(two_temperatures, tmp_path):
    selected = table_file(two_temperatures, temperature=2.0).load()
    assert selected.temperatures == [2.0] and len(selected) == 320
    frame, _ = make_softness_table((0.6,), n_frames=4, n_per_class=10)
    frame.drop(columns="temperature").to_parquet(tmp_path / "one.parquet")
    constant = table_file(tmp_path / "one.parquet", temperature=0.6).load()
    assert constant.temperatures == [0.6] and constant.provenance["temperature"] == 0.6


def test_smoke_is_a_stratified_sample_of_the_same_file(two_temperatures):
    source = table_file(two_temperatures, temperature=0.45)
    smoke = source.smoke()
    table, sample = source.load(), smoke.load()
    assert smoke.path == source.path and smoke.sample == 200
    assert len(sample) < len(table) and set(sample.frame["particle"]) <= set(table.frame["particle"])
    assert abs(sample.y.mean() - table.y.mean()) < 0.05  # the classes in their share
    assert sample.provenance["synthetic"] is False and sample.provenance["name"] == "lab.csv/T0.45/sample200"
    assert smoke.smoke() == smoke


@pytest.mark.parametrize("make", [
    lambda path: table_file(path, features=["G_A_00", "G_A_01"], label="label", group="frame", temperature=0.45,
                            classes=[1, 0]).smoke(),
    lambda path: SyntheticSoftness(0.6, n_frames=6, n_per_class=15),
    lambda path: softness(0.45, n_particles=200),
])
def test_a_source_is_made_again_from_its_description(two_temperatures, make):
    source = make(two_temperatures)
    description = json.loads(json.dumps(describe(source)))  # as a study attribute or an export holds it
    assert from_description(description) == source


def test_a_source_that_cannot_be_made_again_says_why():
    with pytest.raises(DataError, match="cannot be imported here"):
        from_description({"name": "mine", "class": "glasstune_study_123:Mine"})
    with pytest.raises(DataError, match="not a dataclass"):
        from_description({"name": "x", "class": "glasstune.data.table:encode_labels"})


def test_a_damaged_provenance_sidecar_is_one_line(tmp_path):
    frame, _ = make_softness_table((0.45,), n_frames=2, n_per_class=4)
    frame.to_parquet(tmp_path / "t.parquet")
    (tmp_path / "t.provenance.json").write_text("{not json")
    with pytest.raises(DataError, match="t.provenance.json: the provenance beside t.parquet is damaged"):
        table_file(tmp_path / "t.parquet").load()


def test_the_fingerprint_follows_the_rows_not_the_file(two_temperatures, tmp_path):
    table = table_file(two_temperatures, temperature=0.45).load()
    table.frame.to_parquet(tmp_path / "copy.parquet")
    assert table_file(tmp_path / "copy.parquet").load().fingerprint() == table.fingerprint()
    changed = table.frame.copy()
    changed.loc[0, "G_A_10"] += np.float32(0.5)
    changed.to_parquet(tmp_path / "changed.parquet")
    assert table_file(tmp_path / "changed.parquet").load().fingerprint() != table.fingerprint()
