"""Radial structure functions against hand-computed cases and a brute-force sum over images."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from glasstune.data.ka.structure import structure_functions
from glasstune.data.schema import FEATURE_COLUMNS, GAUSSIAN_WIDTH, RADII

R = np.asarray(RADII)


def gaussians(distance: float) -> np.ndarray:
    return np.exp(-((distance - R) ** 2) / (2 * GAUSSIAN_WIDTH**2))


def brute_force(positions, species, box, centre):
    """Every image of every other particle within 3 box lengths: the definition, summed slowly."""
    shifts = np.array(list(itertools.product(range(-3, 4), repeat=3))) * box
    features = np.zeros(100)
    for j, (position, kind) in enumerate(zip(positions, species, strict=True)):
        distances = np.linalg.norm(position + shifts - positions[centre], axis=1)
        if j == centre:
            distances = distances[distances > 0]
        distances = distances[distances < 6.5]
        for distance in distances:
            features[50 * kind: 50 * kind + 50] += gaussians(distance)
    return features


def test_pair_across_the_periodic_boundary_uses_the_short_distance():
    box = np.array([10.0, 10.0, 10.0])
    positions = np.array([[0.2, 5.0, 5.0], [9.7, 5.0, 5.0]])  # 0.5 apart through the x face
    g = structure_functions(positions, np.array([0, 0]), box)
    assert g.shape == (2, 100)
    np.testing.assert_allclose(g[0, :50], gaussians(0.5), atol=1e-6)
    np.testing.assert_allclose(g[1, :50], gaussians(0.5), atol=1e-6)
    assert g[0, 5] == pytest.approx(1.0, abs=1e-6)  # r = 0.5 sits on the peak
    np.testing.assert_allclose(g[:, 50:], 0.0)


def test_species_go_to_their_own_half():
    box = np.array([12.0, 12.0, 12.0])
    positions = np.array([[6.0, 6.0, 6.0], [7.0, 6.0, 6.0], [6.0, 8.0, 6.0]])
    species = np.array([0, 1, 0])  # a B neighbour at 1.0, an A neighbour at 2.0
    g = structure_functions(positions, species, box, centres=np.array([0]))
    np.testing.assert_allclose(g[0, :50], gaussians(2.0), atol=1e-6)
    np.testing.assert_allclose(g[0, 50:], gaussians(1.0), atol=1e-6)
    assert np.argmax(g[0, :50]) == 20 and np.argmax(g[0, 50:]) == 10


def test_default_centres_are_the_a_particles_and_columns_match_the_schema():
    rng = np.random.default_rng(0)
    species = np.array([0, 1, 0, 1, 1, 0])
    g = structure_functions(rng.random((6, 3)) * 8, species, np.array([8.0, 8.0, 8.0]))
    assert g.shape == (3, len(FEATURE_COLUMNS)) and g.dtype == np.float32


@pytest.mark.parametrize("length", [14.0, 7.0])
def test_matches_brute_force_sum_over_images(length):
    """14 sigma: one image in reach (minimum image); 7 sigma: several images of a neighbour."""
    rng = np.random.default_rng(1)
    box = np.full(3, length)
    positions = rng.random((40, 3)) * length
    species = (rng.random(40) < 0.3).astype(int)
    centres = np.array([0, 5, 17])
    fast = structure_functions(positions, species, box, centres)
    for row, centre in enumerate(centres):
        np.testing.assert_allclose(fast[row], brute_force(positions, species, box, centre),
                                   rtol=1e-4, atol=1e-4)


def test_periodic_translation_and_unwrapped_input_change_nothing():
    rng = np.random.default_rng(2)
    box = np.array([9.0, 9.0, 9.0])
    positions = rng.random((120, 3)) * 9.0
    species = (rng.random(120) < 0.2).astype(int)
    before = structure_functions(positions, species, box)
    shifted = positions + np.array([3.3, -20.1, 41.7])  # outside the box, as unwrapped data are
    np.testing.assert_allclose(structure_functions(shifted, species, box), before, atol=2e-4)


def test_own_image_counts_in_a_tiny_box():
    g = structure_functions(np.array([[1.0, 1.0, 1.0]]), np.array([0]), np.array([3.0, 3.0, 3.0]))
    assert g[0, 0] == 0.0  # no self term
    assert g[0, 30] == pytest.approx(6.0, abs=1e-3)  # six images at distance 3
