"""Checkpoints restore a run exactly; an interrupted run resumed equals an uninterrupted one (CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glasstune.data.image_sets import SyntheticImages
from glasstune.objectives.cnn.checkpoints import LATEST, load_checkpoint
from glasstune.objectives.cnn.images import DeviceImages, stratified_split
from glasstune.objectives.cnn.loop import Trainer, TrainingProtocol
from glasstune.objectives.cnn.network import lab_network
from glasstune.objectives.device import training_environment

PARAMS = {"batch_size": 8, "learning_rate": 2e-3, "dropout": 0.5, "l2_beta": 0.01,
          "schedule": "threshold", "lr_final": 2e-4, "lr_threshold": 0.7, "augment": True}


class Interrupted(Exception):
    pass


@pytest.fixture(scope="module")
def data():
    return SyntheticImages(n_per_class=30, size=24, particles_across=6).load()


@pytest.fixture(autouse=True)
def deterministic():
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    with training_environment("cpu", None):
        yield
    torch.use_deterministic_algorithms(before)


def make_trainer(data, folder, *, seed=0, init_seed=None, params=PARAMS, hooks=()):
    split = stratified_split(data.labels, seed=0)
    torch.manual_seed(seed if init_seed is None else init_seed)
    model = lab_network(data.image_size, params)
    return Trainer(model, DeviceImages(data, "cpu", split.train), split, params, seed=seed,
                   protocol=TrainingProtocol(eval_examples=40, checkpoint_every=1, checkpoint_seconds=0.0),
                   checkpoint_dir=folder, hooks=hooks)


def _equal_states(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_checkpoint_restores_weights_optimizer_rng_and_history(tmp_path, data):
    trained = make_trainer(data, tmp_path)
    trained.run(3)
    fresh = make_trainer(data, tmp_path, init_seed=123)  # other initial weights: all must come from disk
    assert not _equal_states(fresh.model.state_dict(), trained.model.state_dict())
    assert fresh.restore()
    assert fresh.iteration == 3 and fresh.resumed_from == 3
    assert _equal_states(fresh.model.state_dict(), trained.model.state_dict())
    assert _equal_states(fresh.best_state, trained.best_state)
    saved, restored = trained.optimizer.state_dict(), fresh.optimizer.state_dict()
    assert saved["param_groups"] == restored["param_groups"]
    for index, state in saved["state"].items():
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(state[key], restored["state"][index][key])
    assert torch.equal(fresh.generator.get_state(), trained.generator.get_state())
    np.testing.assert_equal(fresh.history, trained.history)  # NaN-aware (no batch loss before training)
    assert len(fresh.history["val_acc"]) == 4
    assert (fresh.best_val, fresh.best_step) == (trained.best_val, trained.best_step)


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, data):
    straight = make_trainer(data, tmp_path / "straight").run(6)

    def stop_at_4(record, trainer):
        if record["step"] == 4:
            raise Interrupted

    with pytest.raises(Interrupted):
        make_trainer(data, tmp_path / "broken", hooks=[stop_at_4]).run(6)
    assert load_checkpoint(tmp_path / "broken" / LATEST)["iteration"] == 4
    resumed_trainer = make_trainer(data, tmp_path / "broken", init_seed=7)
    resumed = resumed_trainer.run(6)
    assert resumed.resumed_from == 4 and straight.resumed_from is None
    np.testing.assert_equal(resumed.history, straight.history)
    assert _equal_states(resumed_trainer.model.state_dict(),
                         load_checkpoint(tmp_path / "straight" / LATEST)["model"])
    assert _equal_states(resumed.best_state, straight.best_state)
    assert resumed.train_images == straight.train_images == 6 * 10 * 8


def test_other_configuration_or_seed_starts_afresh(tmp_path, data):
    make_trainer(data, tmp_path).run(2)
    assert not make_trainer(data, tmp_path, params={**PARAMS, "learning_rate": 1e-3}).restore()
    assert not make_trainer(data, tmp_path, seed=1).restore()
    assert make_trainer(data, tmp_path).restore()


def test_unreadable_checkpoint_is_ignored(tmp_path, data):
    make_trainer(data, tmp_path).run(1)
    (tmp_path / LATEST).write_bytes(b"half a file")
    trainer = make_trainer(data, tmp_path)
    assert not trainer.restore() and trainer.iteration == 0


def test_checkpoints_are_throttled_by_time_but_always_written_at_the_end(tmp_path, data, monkeypatch):
    trainer = make_trainer(data, tmp_path)
    trainer.protocol = TrainingProtocol(eval_examples=40, checkpoint_every=1, checkpoint_seconds=3600.0)
    saves = []
    original = trainer.save
    monkeypatch.setattr(trainer, "save", lambda: (saves.append(trainer.iteration), original()))
    trainer.run(3)
    assert saves == [3]
    assert load_checkpoint(tmp_path / LATEST)["iteration"] == 3
