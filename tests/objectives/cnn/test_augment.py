"""Batched augmentation: every output is one of the eight symmetries of its own input image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glasstune.objectives.cnn.augment import augment_batch


def _symmetries(image: torch.Tensor) -> list[torch.Tensor]:
    rotations = [torch.rot90(image, k, dims=(1, 2)) for k in range(4)]
    return rotations + [torch.flip(r, dims=(1,)) for r in rotations]


def _which(original: torch.Tensor, augmented: torch.Tensor) -> int:
    matches = [i for i, s in enumerate(_symmetries(original)) if torch.equal(s, augmented)]
    assert matches, "an augmented image is not a rotation/flip of its own input (labels would be wrong)"
    return matches[0]


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (256, 3, 12, 12), generator=generator, dtype=torch.uint8)


def test_each_output_is_a_symmetry_of_its_own_input(batch):
    """Position i stays image i: the labels indexed beside the batch still belong to it."""
    out = augment_batch(batch, torch.Generator().manual_seed(1))
    assert out.shape == batch.shape and out.dtype == torch.uint8
    kinds = [_which(batch[i], out[i]) for i in range(len(batch))]
    assert set(kinds) == set(range(8))  # all eight rotations/flips occur


def test_pixels_change_but_each_image_keeps_its_pixel_multiset(batch):
    out = augment_batch(batch, torch.Generator().manual_seed(2))
    changed = [(not torch.equal(out[i], batch[i])) for i in range(len(batch))]
    assert 0.75 < np.mean(changed) < 0.97  # identity has probability 1/8
    for i in range(0, len(batch), 17):
        for channel in range(3):
            assert torch.equal(torch.sort(out[i, channel].flatten()).values,
                               torch.sort(batch[i, channel].flatten()).values)


def test_flip_probability_is_one_half(batch):
    out = augment_batch(batch, torch.Generator().manual_seed(3))
    flipped = [_which(batch[i], out[i]) >= 4 for i in range(len(batch))]
    assert 0.38 < np.mean(flipped) < 0.62


def test_same_generator_state_same_augmentation(batch):
    first = augment_batch(batch, torch.Generator().manual_seed(4))
    second = augment_batch(batch, torch.Generator().manual_seed(4))
    assert torch.equal(first, second)


def test_non_square_images_keep_their_shape():
    images = torch.arange(2 * 3 * 4 * 6, dtype=torch.uint8).reshape(2, 3, 4, 6).repeat(32, 1, 1, 1)
    out = augment_batch(images, torch.Generator().manual_seed(5))
    assert out.shape == images.shape
    for i in range(len(images)):
        options = [images[i], torch.rot90(images[i], 2, dims=(1, 2))]
        options += [torch.flip(o, dims=(1,)) for o in options]
        assert any(torch.equal(out[i], o) for o in options)
