"""The lab's training protocol as one loop, fast on a GPU and identical on a CPU.

One iteration = ``batches_per_iteration`` (10) Adam steps. Before each iteration the model is
measured on fixed subsets (up to 1,000 train and validation images, fewer test images for the
curves); the schedule sets that iteration's learning rate from the validation accuracy; the best
validation weights are kept, chosen among the measurements after training started (never the
untrained network of step 0); equal accuracies go to the lower validation loss. Hooks see each
measurement (to log, report to a pruner, print status) and may stop the run by raising.
``latest.pt`` and ``best.pt`` are written every few iterations and at the end; a run started with
the same configuration resumes from them exactly.

The L2 term beta * sum(w^2) / 2 over weight tensors enters as Adam's (coupled, not decoupled)
weight decay on those tensors: the same gradient, one fused update instead of a second pass.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the usual name)
from torch import nn

from glasstune.objectives.cnn.augment import augment_batch
from glasstune.objectives.cnn.checkpoints import (
    BEST,
    LATEST,
    fingerprint,
    load_checkpoint,
    save_checkpoint,
)
from glasstune.objectives.cnn.collapse import CollapseDetector
from glasstune.objectives.cnn.images import DeviceImages, Split
from glasstune.objectives.cnn.network import l2_penalty
from glasstune.objectives.cnn.schedules import make_schedule
from glasstune.objectives.device import autocast, resolve_precision

CURVES = (
    "train_acc", "val_acc", "test_acc", "train_loss", "val_loss", "test_loss",
    "lr", "best_val_acc", "batch_loss",
)
Hook = Callable[[dict[str, float], "Trainer"], None]


@dataclass(frozen=True)
class TrainingProtocol:
    """How a run is trained and measured (the same for every trial of a study)."""

    batches_per_iteration: int = 10
    eval_examples: int = 1000
    test_curve_examples: int = 250
    eval_batch: int = 500
    checkpoint_every: int = 10
    checkpoint_seconds: float = 60.0
    """A checkpoint at most every ``checkpoint_every`` iterations and ``checkpoint_seconds`` seconds
    (and always at the end): the lab network's latest.pt is ~0.9 GB at 250 px."""
    precision: str = "auto"
    collapse_threshold: float = 0.90
    collapse_margin: float = 0.05
    collapse_patience: int = 2

    def identity(self) -> dict[str, Any]:
        """The fields that change results (checkpoint cadence and eval batching do not)."""
        return {
            "batches_per_iteration": self.batches_per_iteration,
            "eval_examples": self.eval_examples,
            "test_curve_examples": self.test_curve_examples,
        }


@dataclass
class TrainResult:
    history: dict[str, list[float]]
    best_val_accuracy: float
    best_step: int
    best_state: dict[str, torch.Tensor]
    collapsed: bool
    collapse_reason: str
    collapse_step: int | None
    iterations: int
    resumed_from: int | None
    batch_size: int
    train_seconds: float
    train_images: int

    @property
    def images_per_second(self) -> float:
        return self.train_images / self.train_seconds if self.train_seconds > 0 else float("nan")


class Trainer:
    """One training run of ``model`` on ``data`` with the parameters ``params`` and a seed."""

    def __init__(
        self,
        model: nn.Module,
        data: DeviceImages,
        split: Split,
        params: Mapping[str, Any],
        *,
        seed: int,
        protocol: TrainingProtocol = TrainingProtocol(),
        checkpoint_dir: Path | None = None,
        identity: Mapping[str, Any] | None = None,
        hooks: Sequence[Hook] = (),
    ) -> None:
        self.data = data
        self.device = data.device
        self.params = dict(params)
        self.seed = int(seed)
        self.protocol = protocol
        self.checkpoint_dir = checkpoint_dir
        self.hooks = list(hooks)
        self.precision = resolve_precision(protocol.precision, self.device.type)
        # channels-last matches the uint8 storage and is faster on CPU (oneDNN) and GPU (cuDNN)
        self.model = model.to(self.device, memory_format=torch.channels_last)
        self.schedule = make_schedule(self.params)
        self.train_index = data.index(split.train)
        self.batch_size = max(1, min(int(self.params["batch_size"]), len(split.train)))
        self.augment = bool(self.params.get("augment", False))
        self.l2_beta = float(self.params.get("l2_beta", 0.0))
        self.optimizer = self._adam()
        subsets = np.random.default_rng(0)
        self.eval_index = {
            "train": data.index(_subset(subsets, split.train, protocol.eval_examples)),
            "val": data.index(_subset(subsets, split.val, protocol.eval_examples)),
            "test": data.index(_subset(subsets, split.test, protocol.test_curve_examples)),
        }
        labels = data.labels[self.eval_index["val"]]
        self.chance = float(max(labels.float().mean().item(), 1 - labels.float().mean().item()))
        self.identity = {
            **dict(identity or {}),
            "params": self.params,
            "seed": self.seed,
            "protocol": protocol.identity(),
        }
        self.fingerprint = fingerprint(self.identity)
        torch.manual_seed(self.seed)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(self.seed)
        self.iteration = 0
        self.history: dict[str, list[float]] = {key: [] for key in CURVES}
        self.best_val = -math.inf
        self.best_val_loss = math.inf
        self.best_step = -1
        self.best_state = _copy_state(self.model)
        self._best_dirty = True
        self.collapse = CollapseDetector(
            protocol.collapse_threshold, self.chance, protocol.collapse_margin,
            protocol.collapse_patience,
        )
        self._last_loss: torch.Tensor | None = None
        self.resumed_from: int | None = None
        self._restore_tried = False
        self.restored_threads: int | None = None
        """The intra-op threads the run began with, from its checkpoint (float sums depend on them)."""
        self._saved_at = time.monotonic()
        self.train_seconds = 0.0
        self.train_images = 0

    def _adam(self) -> torch.optim.Optimizer:
        weights = [p for p in self.model.parameters() if p.ndim >= 2]
        others = [p for p in self.model.parameters() if p.ndim < 2]
        groups = [{"params": weights, "weight_decay": self.l2_beta}]
        if others:
            groups.append({"params": others, "weight_decay": 0.0})
        lr = float(self.params["learning_rate"])
        fused = self.device.type == "cuda"
        return torch.optim.Adam(groups, lr=lr, fused=fused)

    # -- the loop -------------------------------------------------------------------------------

    def run(self, iterations: int) -> TrainResult:
        """Train until ``iterations`` iterations are done (resuming if a checkpoint matches).

        Step ``s`` measures the model after ``s`` iterations, checkpoints (every few steps and at the
        last), shows the record to the hooks, then trains iteration ``s`` at the rate the schedule
        chose from that measurement. A checkpoint is thus a snapshot "measured through step s".
        """
        if not self._restore_tried:
            self.restore()
        self.model.train()
        while True:
            step = self.iteration
            if len(self.history["val_acc"]) <= step:
                record = self.measure(step)
                if step >= iterations or self._checkpoint_due(step):
                    self.save()
                for hook in self.hooks:
                    hook(record, self)
            if step >= iterations:
                break
            self.train_iteration(self.history["lr"][step])
            self.iteration = step + 1
        return TrainResult(
            history={key: list(values) for key, values in self.history.items()},
            best_val_accuracy=self.best_val,
            best_step=self.best_step,
            best_state=self.best_state,
            collapsed=self.collapse.collapsed,
            collapse_reason=self.collapse.reason if self.collapse.collapsed else "",
            collapse_step=self.collapse.collapse_step,
            iterations=self.iteration,
            resumed_from=self.resumed_from,
            batch_size=self.batch_size,
            train_seconds=self.train_seconds,
            train_images=self.train_images,
        )

    def measure(self, step: int) -> dict[str, float]:
        """Accuracies and losses of the current model, this iteration's rate, best-so-far."""
        values = torch.stack([
            *self._evaluate(self.eval_index["train"]),
            *self._evaluate(self.eval_index["val"]),
            *self._evaluate(self.eval_index["test"]),
            self._last_loss if self._last_loss is not None
            else torch.full((), math.nan, device=self.device),
        ]).tolist()
        train_acc, train_loss, val_acc, val_loss, test_acc, test_loss, batch_loss = values
        # Step 0 is the untrained network: chance at best, and on a small validation set a lucky
        # chance score would otherwise stand as "the best checkpoint" of a run that never learned.
        # Equal accuracies (a small validation set saturates at 1.0) go to the lower validation loss.
        better = val_acc > self.best_val or (val_acc == self.best_val and val_loss < self.best_val_loss)
        if step > 0 and better:
            self.best_val, self.best_val_loss, self.best_step = val_acc, val_loss, step
            self.best_state = _copy_state(self.model)
            self._best_dirty = True
        self.collapse.update(step, val_acc)
        record = {
            "step": step, "train_acc": train_acc, "val_acc": val_acc, "test_acc": test_acc,
            "train_loss": train_loss, "val_loss": val_loss, "test_loss": test_loss,
            "lr": self.schedule(step, val_acc),
            "best_val_acc": self.best_val if self.best_step >= 0 else math.nan,
            "batch_loss": batch_loss, "collapsed": float(self.collapse.collapsed),
        }
        for key in CURVES:
            self.history[key].append(float(record[key]))
        return record

    @torch.no_grad()
    def _evaluate(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(accuracy, mean cross-entropy) as device scalars: no host sync until the caller's."""
        if len(index) == 0:
            nan = torch.full((), math.nan, device=self.device)
            return nan, nan
        self.model.eval()
        correct = torch.zeros((), device=self.device)
        loss = torch.zeros((), device=self.device)
        for chunk in index.split(self.protocol.eval_batch):
            logits = self.forward(self.data.images[chunk])
            labels = self.data.labels[chunk]
            loss += F.cross_entropy(logits, labels, reduction="sum")
            correct += (logits.argmax(1) == labels).sum()
        self.model.train()
        return correct / len(index), loss / len(index)

    def accuracy(self, indices: np.ndarray) -> float:
        """Accuracy of the current weights on the given images (e.g. a whole split)."""
        return float(self._evaluate(self.data.index(indices))[0])

    @torch.no_grad()
    def predict(self, indices: np.ndarray) -> np.ndarray:
        """Predicted labels (0 liquid, 1 glass) of the current weights."""
        self.model.eval()
        chunks = [
            self.forward(self.data.images[chunk]).argmax(1)
            for chunk in self.data.index(indices).split(self.protocol.eval_batch)
        ]
        self.model.train()
        return torch.cat(chunks).cpu().numpy() if chunks else np.zeros(0, dtype=np.int64)

    def load_weights(self, state: Mapping[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Logits (float32) for uint8 images already on the device."""
        with autocast(self.device.type, self.precision):
            return self.model(self.data.normalise(pixels)).float()

    def train_iteration(self, lr: float) -> None:
        """``batches_per_iteration`` Adam steps on batches drawn without replacement."""
        started = time.perf_counter()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        n_batches = self.protocol.batches_per_iteration
        order = self._draw(n_batches * self.batch_size).view(n_batches, self.batch_size)
        total = torch.zeros((), device=self.device)
        for batch in order:
            pixels = self.data.images[batch]
            if self.augment:
                pixels = augment_batch(pixels, self.generator)
            loss = F.cross_entropy(self.forward(pixels), self.data.labels[batch])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += loss.detach()
        with torch.no_grad():
            self._last_loss = total / n_batches + self.l2_beta * l2_penalty(self.model)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.train_seconds += time.perf_counter() - started
        self.train_images += n_batches * self.batch_size

    def _draw(self, n: int) -> torch.Tensor:
        """Training-image indices: fresh permutations of the training set, as many as needed."""
        size = len(self.train_index)
        rounds = -(-n // size)
        order = torch.cat([
            torch.randperm(size, generator=self.generator, device=self.device) for _ in range(rounds)
        ])
        return self.train_index[order[:n]]

    # -- checkpoints ----------------------------------------------------------------------------

    def _checkpoint_due(self, step: int) -> bool:
        return (step > 0 and step % self.protocol.checkpoint_every == 0
                and time.monotonic() - self._saved_at >= self.protocol.checkpoint_seconds)

    def save(self) -> None:
        """Write ``best.pt`` (when it changed) and then ``latest.pt``, each atomically."""
        if self.checkpoint_dir is None:
            return
        self._saved_at = time.monotonic()
        if self._best_dirty:
            save_checkpoint(self.checkpoint_dir / BEST, {
                "fingerprint": self.fingerprint, "step": self.best_step,
                "val_accuracy": self.best_val, "model": self.best_state,
            })
            self._best_dirty = False
        save_checkpoint(self.checkpoint_dir / LATEST, {
            "fingerprint": self.fingerprint,
            "identity": self.identity,
            "iteration": self.iteration,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "generator": self.generator.get_state(),
            "history": self.history,
            "best_val": self.best_val,
            "best_val_loss": self.best_val_loss,
            "best_step": self.best_step,
            "collapse": self.collapse.state(),
            "last_loss": None if self._last_loss is None else float(self._last_loss),
            "train_seconds": self.train_seconds,
            "train_images": self.train_images,
            "threads": torch.get_num_threads(),
        })

    def restore(self) -> bool:
        """Load ``latest.pt`` and ``best.pt`` when they belong to this configuration (and to each
        other: a kill between writing the two leaves a pair that is not resumed)."""
        self._restore_tried = True
        if self.checkpoint_dir is None:
            return False
        latest = load_checkpoint(self.checkpoint_dir / LATEST)
        if latest is None or latest.get("fingerprint") != self.fingerprint:
            return False
        best = load_checkpoint(self.checkpoint_dir / BEST)
        if best is None or best.get("fingerprint") != self.fingerprint or best.get("step") != latest["best_step"]:
            return False
        self.model.load_state_dict(latest["model"])
        self.optimizer.load_state_dict(latest["optimizer"])
        torch.set_rng_state(latest["torch_rng"])
        if latest["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(latest["cuda_rng"], self.device)
        self.generator.set_state(latest["generator"])
        self.iteration = int(latest["iteration"])
        self.restored_threads = latest.get("threads")
        self.history = {key: list(latest["history"].get(key, [])) for key in CURVES}
        self.best_val, self.best_step = float(latest["best_val"]), int(latest["best_step"])
        self.best_val_loss = float(latest.get("best_val_loss", math.inf))
        self.best_state = {k: v.to(self.device) for k, v in best["model"].items()}
        self._best_dirty = False
        self.collapse = CollapseDetector.from_state(latest["collapse"])
        loss = latest["last_loss"]
        self._last_loss = None if loss is None else torch.tensor(loss, device=self.device)
        self.train_seconds = float(latest["train_seconds"])
        self.train_images = int(latest["train_images"])
        self.resumed_from = self.iteration
        return True


def _subset(rng: np.random.Generator, index: np.ndarray, limit: int) -> np.ndarray:
    """A fixed, seeded subset of at most ``limit`` indices (the same at every measurement)."""
    if limit <= 0:
        return index[:0]
    if limit >= len(index):
        return index
    return np.sort(rng.choice(index, size=limit, replace=False))


def _copy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}
