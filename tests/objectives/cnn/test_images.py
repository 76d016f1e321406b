"""The synthetic glass/liquid images, the lab folder's provenance, and the stratified split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glasstune.data.image_sets import GLASS, LIQUID, ImageFile, SyntheticImages, load_image_set
from glasstune.data.provenance import provenance_label
from glasstune.objectives.cnn.images import stratified_split


def test_synthetic_images_are_tagged_and_reproducible():
    source = SyntheticImages(n_per_class=12, size=32, particles_across=8, seed=5)
    data = source.load()
    assert data.images.shape == (24, 32, 32, 3) and data.images.dtype == np.uint8
    assert (data.labels == GLASS).sum() == (data.labels == LIQUID).sum() == 12
    assert data.provenance["synthetic"] is True
    assert data.provenance["generator"] == "glasstune.synthetic.images" and data.provenance["seed"] == 5
    assert "[SYNTHETIC]" in provenance_label(data.provenance)
    assert np.array_equal(data.images, source.load().images)
    assert not np.array_equal(data.images, SyntheticImages(n_per_class=12, size=32, particles_across=8).load().images)


def test_synthetic_images_show_two_species_on_white():
    data = SyntheticImages(n_per_class=4, size=48, particles_across=10).load()
    pixels = data.images.reshape(-1, 3)
    white = (pixels == 255).all(axis=1).mean()
    red = ((pixels[:, 0] > 150) & (pixels[:, 2] < 100)).mean()
    blue = ((pixels[:, 2] > 150) & (pixels[:, 0] < 100)).mean()
    assert 0.3 < white < 0.9 and red > blue > 0.03  # species A (red) outnumbers B (blue), 65:35


def test_liquid_is_more_disordered_than_glass():
    """The nearest-neighbour spacing of dots varies more in the liquid (thermal vibration)."""
    from scipy import ndimage

    data = SyntheticImages(n_per_class=6, size=64, particles_across=10, seed=1).load()

    def spread(image):
        ink = (image < 200).any(axis=2)
        labels, count = ndimage.label(ink)
        centres = np.array(ndimage.center_of_mass(ink, labels, range(1, count + 1)))
        distance = np.sqrt(((centres[:, None] - centres[None]) ** 2).sum(-1)) + np.eye(len(centres)) * 1e9
        nearest = distance.min(axis=1)
        return nearest.std() / nearest.mean(), count

    glass = [spread(image) for image in data.images[data.labels == GLASS]]
    liquid = [spread(image) for image in data.images[data.labels == LIQUID]]
    assert np.mean([s for s, _ in glass]) < np.mean([s for s, _ in liquid])


def test_smoke_source_is_tiny_and_still_synthetic():
    smoke = SyntheticImages().smoke()
    data = smoke.load()
    assert data.images.shape[1:3] == (24, 24) and len(data) <= 100
    assert data.provenance["synthetic"] is True


def _write_lab_folder(folder, with_provenance):
    from matplotlib.image import imsave

    folder.mkdir()
    entries = []
    for index, label in enumerate((1, 0, 1, 0)):
        pixels = np.full((16, 16, 3), 255 if label else 40, dtype=np.uint8)
        imsave(folder / f"img{index}.png", pixels)
        entries.append({"path": f"img{index}.png", "label": label})
    (folder / "metadata.json").write_text(json.dumps(entries))
    if with_provenance:
        (folder / "provenance.json").write_text(json.dumps({"name": "ka2d-run7", "synthetic": True, "seed": 7}))


def test_lab_folder_reads_its_provenance_json(tmp_path):
    _write_lab_folder(tmp_path / "lab", with_provenance=True)
    source = ImageFile(tmp_path / "lab")
    assert source.name == "lab" and source.smoke().load().provenance["synthetic"] is True
    data = source.load()
    assert data.provenance["name"] == "ka2d-run7" and data.provenance["synthetic"] is True
    assert data.images.shape == (4, 16, 16, 3)
    assert list(data.labels) == [1, 0, 1, 0]


def test_lab_folder_without_provenance_is_a_users_own(tmp_path):
    _write_lab_folder(tmp_path / "lab", with_provenance=False)
    data = load_image_set(tmp_path / "lab")
    assert data.provenance["synthetic"] is False and data.provenance["source"].endswith("lab")


def test_lab_folder_with_broken_provenance_says_which_file(tmp_path):
    from glasstune.errors import DataError

    _write_lab_folder(tmp_path / "lab", with_provenance=False)
    (tmp_path / "lab" / "provenance.json").write_text("{not json")
    with pytest.raises(DataError, match="provenance.json: not valid JSON"):
        load_image_set(tmp_path / "lab")


def test_split_is_stratified_disjoint_and_seeded():
    labels = np.r_[np.ones(60), np.zeros(40)].astype(int)
    split = stratified_split(labels, seed=3)
    parts = [split.train, split.val, split.test]
    assert [len(p) for p in parts] == [70, 15, 15]
    assert len(np.unique(np.concatenate(parts))) == 100
    for part in parts:
        assert labels[part].mean() == pytest.approx(0.6, abs=0.05)
    again = stratified_split(labels, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, [again.train, again.val, again.test], strict=True))
    assert not np.array_equal(split.val, stratified_split(labels, seed=4).val)
