"""The synthetic stand-in must look like the lab's data where the code depends on it."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from glasstune.data.schema import FEATURE_COLUMNS
from glasstune.data.sources import SyntheticSoftness
from glasstune.data.synthetic import make_softness_table


def test_balanced_labels_frames_and_non_negative_features():
    frame, provenance = make_softness_table((0.6,), n_frames=4, n_per_class=10, seed=2)
    assert provenance["synthetic"] is True
    assert frame.groupby("frame")["label"].mean().eq(0.5).all()
    assert (frame[list(FEATURE_COLUMNS)] >= 0).all().all()
    first_shell = frame[[f"G_A_{k:02d}" for k in range(8, 13)]].mean().mean()
    core = frame[[f"G_A_{k:02d}" for k in range(0, 5)]].mean().mean()
    assert first_shell > 10 * max(core, 1e-3)  # a first neighbour peak near r = 1, none inside the core


def _linear_score(temperature: float) -> float:
    frame, _ = make_softness_table((temperature,), n_frames=10, n_per_class=40, seed=5)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    return cross_val_score(model, frame[list(FEATURE_COLUMNS)], frame["label"], groups=frame["frame"],
                           cv=StratifiedGroupKFold(5), scoring="balanced_accuracy").mean()


def test_structure_predicts_less_as_temperature_rises():
    cold, hot = _linear_score(0.45), _linear_score(2.0)
    assert cold > 0.65
    assert hot < 0.6
    assert cold - hot > 0.1


def test_synthetic_source_caches_and_tags(tmp_path):
    source = SyntheticSoftness(0.5, n_frames=3, n_per_class=5)
    first = source.load()
    cached = list((tmp_path / "data-cache" / "synthetic").glob("*.parquet"))
    assert len(cached) == 1
    again = source.load()
    np.testing.assert_array_equal(first.X, again.X)
    assert first.provenance["synthetic"] is True and "SYNTHETIC" not in first.provenance["name"]
    assert SyntheticSoftness(0.5).smoke().n_frames < SyntheticSoftness(0.5).n_frames


def test_each_temperature_keeps_its_own_provenance(tmp_path):
    """Cache names carry no dots before the suffix: T0.45 and T0.5 once shared one sidecar."""
    cold, warm = SyntheticSoftness(0.45, n_frames=3, n_per_class=5), SyntheticSoftness(0.5, n_frames=3, n_per_class=5)
    cold.load(), warm.load()
    assert cold.load().provenance["temperatures"] == [0.45]
    assert warm.load().provenance["temperatures"] == [0.5]
    assert len(list((tmp_path / "data-cache" / "synthetic").glob("*.provenance.json"))) == 2
