"""The best checkpoint is chosen among trained networks only: the untrained one of step 0 never wins."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from glasstune.data.image_sets import ImageSet
from glasstune.objectives.cnn.images import DeviceImages, stratified_split
from glasstune.objectives.cnn.loop import Trainer, TrainingProtocol
from glasstune.objectives.device import training_environment


class MeanRed(nn.Module):
    """Logits from the mean of the red channel: set up by hand to classify the images perfectly."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 2)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[-1.0], [1.0]]))
            self.linear.bias.zero_()

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.linear(pixels[:, :1].mean(dim=(2, 3)))


def red_or_blue(n: int = 40) -> ImageSet:
    """Glass images are red, liquid images blue: a perfect classifier exists from the start."""
    images = np.zeros((2 * n, 8, 8, 3), dtype=np.uint8)
    images[:n, ..., 0] = 200
    images[n:, ..., 2] = 200
    images += np.random.default_rng(0).integers(0, 20, images.shape, dtype=np.uint8)
    labels = np.r_[np.ones(n), np.zeros(n)].astype(np.int64)
    return ImageSet(images, labels, {"name": "red-or-blue", "synthetic": True})


def test_the_untrained_network_is_never_the_best_checkpoint():
    data = red_or_blue()
    split = stratified_split(data.labels, seed=0)
    # a learning rate that wrecks the hand-made weights in the first iteration: step 0 scores best
    params = {"batch_size": 8, "learning_rate": 50.0, "l2_beta": 1.0}
    with training_environment("cpu", None):
        trainer = Trainer(MeanRed(), DeviceImages(data, "cpu", split.train), split, params, seed=0,
                          protocol=TrainingProtocol(eval_examples=100, batches_per_iteration=2))
        result = trainer.run(3)
    val = result.history["val_acc"]
    assert val[0] == 1.0 and max(val[1:]) < 1.0  # the premise: the untrained network was the best scorer
    assert result.best_step >= 1
    assert result.best_val_accuracy == max(val[1:])
    assert math.isnan(result.history["best_val_acc"][0])  # no checkpoint exists before training


def test_equal_validation_accuracies_go_to_the_lower_validation_loss():
    data = red_or_blue()
    split = stratified_split(data.labels, seed=0)
    params = {"batch_size": 8, "learning_rate": 0.05, "l2_beta": 0.0}  # a right answer made surer
    with training_environment("cpu", None):
        trainer = Trainer(MeanRed(), DeviceImages(data, "cpu", split.train), split, params, seed=0,
                          protocol=TrainingProtocol(eval_examples=100, batches_per_iteration=2))
        result = trainer.run(4)
    val, loss = result.history["val_acc"], result.history["val_loss"]
    assert set(val[1:]) == {1.0} and loss[4] < loss[1]  # the premise: saturated accuracy, falling loss
    assert result.best_step == int(np.argmin(loss[1:])) + 1
