"""sklearn's MLPClassifier, k cross-validation folds at once, in torch.

Why: a cross-validated trial trains k small networks on overlapping rows. Run one after another
(sklearn) each pays Python and BLAS overhead per batch; stacked along a leading fold dimension
(``torch.bmm``) the k networks cost about one. The loop is our own, so training can stop after any
number of epochs and go on later with exactly the same result as one long run (RNG and optimizer
state are kept), which is what a multi-fidelity pruner needs.

Semantics follow ``MLPClassifier`` as the lab used it (binary labels 0/1): features standardised
per fold on that fold's training rows, ReLU hidden layers, logistic output, log-loss plus
``alpha * sum(W**2) / (2 * batch)``, Glorot-uniform init (bound sqrt(6 / (fan_in + fan_out))),
mini-batches of ``min(200, n_train)`` reshuffled every epoch, sklearn's Adam (eps added to the
un-corrected sqrt(v)) or SGD with (Nesterov) momentum and a constant learning rate. Folds have
different sizes: every batch is padded and masked, and a fold with fewer batches skips the step.
Each fold draws its init and shuffles from its own generator (seed + fold), so a fold's weights
depend only on its own training rows and seed, never on the other folds.

Beyond the lab's binary labels (``task``): K classes train K softmax outputs on the multi-class
log-loss (``MLPClassifier`` with K classes), and a continuous target one identity output on half the
squared error (``MLPRegressor``). The gradient at the output is (output - target) in all three cases,
so only the output activation and the loss differ.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import torch

SUPPORTED = {"hidden_layer_sizes", "solver", "learning_rate_init", "alpha", "batch_size", "beta_1", "beta_2",
             "epsilon", "momentum", "nesterovs_momentum", "learning_rate", "shuffle", "activation",
             "max_iter", "tol", "n_iter_no_change", "early_stopping", "verbose", "random_state"}
"""MLPClassifier arguments this backend understands (the last group only as the lab set them)."""
TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class MLPSettings:
    """The training hyperparameters, named and defaulted as in sklearn's MLPClassifier."""

    hidden_layer_sizes: tuple[int, ...] = (100,)
    solver: str = "adam"
    learning_rate_init: float = 1e-3
    alpha: float = 1e-4
    batch_size: int | str = "auto"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    momentum: float = 0.9
    nesterovs_momentum: bool = True
    shuffle: bool = True

    @classmethod
    def from_sklearn(cls, config: dict[str, Any]) -> MLPSettings:
        """Map an MLPClassifier config; refuse what this backend would silently do differently."""
        unknown = set(config) - SUPPORTED
        if unknown:
            raise ValueError(f"torch MLP backend does not support {sorted(unknown)}; use backend='sklearn'")
        if config.get("activation", "relu") != "relu" or config.get("learning_rate", "constant") != "constant":
            raise ValueError("torch MLP backend supports activation='relu' and learning_rate='constant' only")
        if config.get("early_stopping", False):
            raise ValueError("torch MLP backend runs every epoch: early_stopping is not supported")
        if config.get("solver", "adam") not in ("adam", "sgd"):
            raise ValueError(f"torch MLP backend supports solver 'adam' or 'sgd', not {config['solver']!r}")
        names = set(cls.__dataclass_fields__)
        kwargs = {key: value for key, value in config.items() if key in names}
        if "hidden_layer_sizes" in kwargs:
            sizes = kwargs["hidden_layer_sizes"]
            kwargs["hidden_layer_sizes"] = (int(sizes),) if np.isscalar(sizes) else tuple(int(s) for s in sizes)
        return cls(**kwargs)


class FoldBatchedMLP:
    """k MLPs, one per fold, trained together; ``train(epochs)`` may be called repeatedly.

    Every fold's weights and biases live in one (k, P) buffer (``params``; ``weights`` and ``biases``
    are views into it), as do the optimizer's moments, so an optimizer step is a handful of tensor
    operations whatever the depth: on a CPU these small networks cost Python and dispatch time per
    operation far more than arithmetic.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]], *,
                 settings: MLPSettings, seed: int, device: str = "cpu", threads: int | None = 1,
                 task: str = "binary") -> None:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
        self.settings, self.device, self.task = settings, torch.device(device), task
        self.threads = threads
        self.folds = [(np.asarray(train), np.asarray(test)) for train, test in folds]
        self.n_folds = len(self.folds)
        self.epochs_done = 0
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y)
        n_outputs = int(y.max()) + 1 if task == "multiclass" else 1
        targets = np.eye(n_outputs, dtype=np.float32)[y] if task == "multiclass" else y.astype(np.float32)[:, None]
        self._targets = torch.as_tensor(targets, device=self.device)  # (n, outputs): 0/1, one-hot, or values
        self._n_train = [len(train) for train, _ in self.folds]
        sizes = settings.batch_size
        self._batch = [min(200, n) if sizes == "auto" else min(int(sizes), n) for n in self._n_train]
        self._n_batches = [math.ceil(n / b) for n, b in zip(self._n_train, self._batch, strict=True)]
        self._mean, self._scale = self._scalers(X)
        X_t = torch.as_tensor(X, device=self.device)
        self._X = (X_t[None] - self._mean) / self._scale  # (k, n, d): each fold's own standardisation
        self._generators = [torch.Generator().manual_seed(seed + fold) for fold in range(self.n_folds)]
        self._layers = list(pairwise([X.shape[1], *settings.hidden_layer_sizes, n_outputs]))
        self.params = self._glorot().to(self.device)
        self.weights, self.biases = self._views(self.params)
        n_weights = sum(fan_in * fan_out for fan_in, fan_out in self._layers)
        self._decay = (torch.arange(self.params.shape[1], device=self.device) < n_weights).float()
        """1 where ``params`` holds a weight (L2 applies), 0 where it holds a bias."""
        self._moment = torch.zeros_like(self.params)  # Adam's first moment, or SGD's velocity
        self._moment2 = torch.zeros_like(self.params)  # Adam's second moment
        self._steps = [0] * self.n_folds  # optimizer steps taken by each fold

    def _scalers(self, X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """StandardScaler per fold on its training rows (population std; constant columns keep scale 1)."""
        means, scales = [], []
        for train, _ in self.folds:
            rows = X[train].astype(np.float64)
            std = rows.std(axis=0)
            means.append(rows.mean(axis=0))
            scales.append(np.where(std < 10 * np.finfo(np.float64).eps, 1.0, std))
        as_tensor = lambda a: torch.as_tensor(np.stack(a)[:, None, :], dtype=torch.float32, device=self.device)  # noqa: E731
        return as_tensor(means), as_tensor(scales)

    def _glorot(self) -> torch.Tensor:
        """sklearn's init: uniform(+-sqrt(6/(fan_in+fan_out))) for weights and biases, layer by layer,
        each fold from its own generator; laid out flat as all weights, then all biases."""
        per_fold = []
        for generator in self._generators:
            weights, biases = [], []
            for fan_in, fan_out in self._layers:
                bound = math.sqrt(6.0 / (fan_in + fan_out))
                weights.append((torch.rand(fan_in * fan_out, generator=generator, dtype=torch.float64) * 2 - 1) * bound)
                biases.append((torch.rand(fan_out, generator=generator, dtype=torch.float64) * 2 - 1) * bound)
            per_fold.append(torch.cat([*weights, *biases]))
        return torch.stack(per_fold).float()

    def _views(self, flat: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-layer (k, fan_in, fan_out) weights and (k, 1, fan_out) biases, as views into ``flat``."""
        weights, biases, offset = [], [], 0
        for fan_in, fan_out in self._layers:
            weights.append(flat[:, offset:offset + fan_in * fan_out].view(self.n_folds, fan_in, fan_out))
            offset += fan_in * fan_out
        for _, fan_out in self._layers:
            biases.append(flat[:, offset:offset + fan_out].view(self.n_folds, 1, fan_out))
            offset += fan_out
        return weights, biases

    def _epoch_batches(self) -> tuple[torch.Tensor, torch.Tensor, list[list[int]]]:
        """This epoch's shuffled rows as (batches, k, width) indices and mask, and who is active when."""
        width, n_batches = max(self._batch), max(self._n_batches)
        index = torch.zeros(self.n_folds, n_batches * width, dtype=torch.long)
        mask = torch.zeros(self.n_folds, n_batches * width)
        for fold, (train, _) in enumerate(self.folds):
            n, batch = self._n_train[fold], self._batch[fold]
            order = torch.randperm(n, generator=self._generators[fold]) if self.settings.shuffle else torch.arange(n)
            position = torch.arange(n)
            slot = (position // batch) * width + position % batch
            index[fold, slot] = torch.as_tensor(train, dtype=torch.long)[order]
            mask[fold, slot] = 1.0
        index = index.view(self.n_folds, n_batches, width).transpose(0, 1).contiguous().to(self.device)
        mask = mask.view(self.n_folds, n_batches, width, 1).transpose(0, 1).contiguous().to(self.device)
        inactive = [[fold for fold in range(self.n_folds) if b >= self._n_batches[fold]] for b in range(n_batches)]
        return index, mask, inactive

    def train(self, epochs: int) -> np.ndarray:
        """Train every fold for ``epochs`` more epochs; returns the loss curve, shape (epochs, k).

        On CPU with ``threads`` set (default 1), torch uses that many threads meanwhile: these
        matrices are small, and on a busy machine more threads spin and wait (8x slower measured).
        Subnormal floats are flushed to zero on CPU: strong L2 decay drives many weights into the
        subnormal range, where x86 arithmetic is slow (a 10 x 97 network on the simulated T = 0.45
        set went from 130 to 1,600 ms per epoch after 200 epochs; flushed, it stays near 150).
        """
        with self._cpu_settings():
            return self._train(epochs)

    @contextmanager
    def _cpu_settings(self) -> Iterator[None]:
        """This model's thread count and denormal flushing on CPU, restored afterwards."""
        before = torch.get_num_threads()
        if self.device.type == "cpu":
            torch.set_flush_denormal(True)
            if self.threads:
                torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    @torch.no_grad()
    def _train(self, epochs: int) -> np.ndarray:
        losses = torch.zeros(epochs, self.n_folds, device=self.device)
        folds = torch.arange(self.n_folds, device=self.device)[None, :, None]
        n_train = torch.tensor(self._n_train, dtype=torch.float32, device=self.device)
        for epoch in range(epochs):
            index, mask, inactive = self._epoch_batches()
            X, y = self._X[folds, index], self._targets[index]  # the whole epoch's batches in one gather
            rates = self._adam_rates(inactive) if self.settings.solver == "adam" else [None] * len(inactive)
            batch_losses = []
            for b, (skipped, rate) in enumerate(zip(inactive, rates, strict=True)):
                active = None
                if skipped:
                    active = torch.ones(self.n_folds, 1, dtype=torch.bool)
                    active[skipped] = False
                    active = active.to(self.device)
                batch_losses.append(self._step(X[b], y[b], mask[b], active, rate))
            losses[epoch] = torch.stack(batch_losses).sum(dim=0) / n_train
        self.epochs_done += epochs
        return losses.cpu().numpy().astype(np.float64)

    def _adam_rates(self, inactive: list[list[int]]) -> torch.Tensor:
        """sklearn's bias-corrected Adam step size of every fold for each batch of this epoch,
        (batches, k, 1), computed up front in one transfer: a fold counts only the steps it takes."""
        s, rates = self.settings, []
        for skipped in inactive:
            self._steps = [t + (fold not in skipped) for fold, t in enumerate(self._steps)]
            rates.append([s.learning_rate_init * math.sqrt(1 - s.beta_2 ** t) / (1 - s.beta_1 ** t) if t else 0.0
                          for t in self._steps])
        return torch.tensor(rates, dtype=torch.float32).to(self.device)[..., None]

    def _step(self, X: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, active: torch.Tensor | None,
              rate: torch.Tensor | None) -> torch.Tensor:
        """One mini-batch for all folds: forward, sklearn's loss and gradients, optimizer update.

        Padding rows (a fold with fewer rows than the widest batch) carry mask 0: their error, and
        so their gradient and loss, is zero. Returns each fold's summed batch loss (log-loss sum +
        alpha/2 * sum W^2), as sklearn weights it.
        """
        alpha = self.settings.alpha
        count = mask.sum(dim=1)  # (k, 1)
        inverse = 1.0 / count.clamp(min=1.0)
        activations = [X]
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            activations.append(torch.relu(torch.baddbmm(b, activations[-1], w)))
        output, batch_loss = self._output_and_loss(
            torch.baddbmm(self.biases[-1], activations[-1], self.weights[-1]), y, mask)
        if alpha:
            batch_loss += 0.5 * alpha * torch.mv(self.params * self.params, self._decay)
        if active is not None:
            batch_loss = batch_loss * active.view(-1)
        delta = (output - y) * mask * inverse[:, :, None]
        weight_grads: list[torch.Tensor] = [None] * len(self.weights)  # type: ignore[list-item]
        bias_grads: list[torch.Tensor] = [None] * len(self.weights)  # type: ignore[list-item]
        for layer in range(len(self.weights) - 1, -1, -1):
            weight_grads[layer] = torch.bmm(activations[layer].transpose(1, 2), delta)
            bias_grads[layer] = delta.sum(dim=1)
            if layer:
                delta = torch.bmm(delta, self.weights[layer].transpose(1, 2)) * (activations[layer] > 0)
        grad = torch.cat([g.view(self.n_folds, -1) for g in (*weight_grads, *bias_grads)], dim=1)
        if alpha:
            grad.addcmul_(self.params, self._decay * (alpha * inverse))
        self._update(grad, active, rate)
        return batch_loss

    def _output_and_loss(self, z: torch.Tensor, y: torch.Tensor,
                         mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The output layer's activation and each fold's summed loss over the batch's real rows:
        log-loss (logistic or softmax), or half the squared error for a regression."""
        if self.task == "regression":
            return z, 0.5 * ((z - y).square() * mask).sum(dim=(1, 2))
        if self.task == "multiclass":
            probability = torch.softmax(z, dim=-1)
            eps = torch.finfo(probability.dtype).eps
            return probability, -(probability.clamp(eps, 1 - eps).log() * y * mask).sum(dim=(1, 2))
        probability = torch.sigmoid(z)
        eps = torch.finfo(probability.dtype).eps
        likelihood = torch.where(y > 0, probability, 1 - probability).clamp_(eps, 1 - eps)  # y is 0 or 1
        return probability, -(likelihood.log_() * mask).sum(dim=(1, 2))

    def _update(self, grad: torch.Tensor, active: torch.Tensor | None, rate: torch.Tensor | None) -> None:
        """sklearn's Adam (step size ``rate`` per fold) or SGD update on the flat buffers; folds
        without rows in this batch stay as they are."""
        s = self.settings
        p, m, v = self.params, self._moment, self._moment2
        if s.solver == "adam":
            if active is None:  # the common case: every fold has rows in this batch, update in place
                m.mul_(s.beta_1).add_(grad, alpha=1 - s.beta_1)
                v.mul_(s.beta_2).addcmul_(grad, grad, value=1 - s.beta_2)
                p.sub_(m / v.sqrt().add_(s.epsilon) * rate)
                return
            new_m = s.beta_1 * m + (1 - s.beta_1) * grad
            new_v = s.beta_2 * v + (1 - s.beta_2) * grad * grad
            new_p = p - new_m / (new_v.sqrt() + s.epsilon) * rate
            _assign(m, new_m, active)
            _assign(v, new_v, active)
            _assign(p, new_p, active)
        else:
            lr, mu = s.learning_rate_init, s.momentum
            new_velocity = mu * m - lr * grad
            step = mu * new_velocity - lr * grad if s.nesterovs_momentum else new_velocity
            _assign(m, new_velocity, active)
            _assign(p, p + step, active)

    @torch.no_grad()
    def predict_output(self, fold: int, X: np.ndarray) -> np.ndarray:
        """Fold ``fold``'s network on raw (unstandardised) feature rows: P(label 1) (binary), the class
        probabilities (rows, K) (multi-class), or the predicted value (regression)."""
        with self._cpu_settings():
            x = torch.as_tensor(np.asarray(X, dtype=np.float32), device=self.device)
            h = (x - self._mean[fold]) / self._scale[fold]
            for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
                h = torch.addmm(b[fold], h, w[fold])
                if layer < len(self.weights) - 1:
                    h = torch.relu(h)
            if self.task == "multiclass":
                return torch.softmax(h, dim=1).double().cpu().numpy()
            output = h if self.task == "regression" else torch.sigmoid(h)
            return output[:, 0].double().cpu().numpy()

    def predict_proba(self, fold: int, X: np.ndarray) -> np.ndarray:
        """P(label 1) (binary) or the class probabilities (multi-class) of fold ``fold``'s network."""
        if self.task == "regression":
            raise ValueError("a regression network predicts values, not probabilities")
        return self.predict_output(fold, X)

    def fold_parameters(self, fold: int) -> dict[str, Any]:
        """Fold ``fold``'s network as numpy arrays: its scaler (mean, scale) and its layers' weights and
        biases, enough to predict without torch (``glasstune.objectives.mlp.final``)."""
        as_numpy = lambda tensor: tensor.detach().cpu().numpy().copy()  # noqa: E731
        return {"mean": as_numpy(self._mean[fold, 0]), "scale": as_numpy(self._scale[fold, 0]),
                "weights": [as_numpy(w[fold]) for w in self.weights],
                "biases": [as_numpy(b[fold, 0]) for b in self.biases]}

    def fold(self, fold: int) -> FoldEstimator:
        """One fold's network with sklearn's predict/predict_proba, for shared scoring code."""
        return FoldEstimator(self, fold)

    def held_out_scores(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Each fold's score on its own held-out rows (the pruner's signal): balanced accuracy, or
        Pearson r for a regression."""
        from glasstune.objectives.mlp.scoring import pearson_r

        scores = []
        for fold, (_, test) in enumerate(self.folds):
            if self.task == "regression":
                scores.append(pearson_r(np.asarray(y)[test], self.predict_output(fold, X[test])))
                continue
            predicted = self.fold(fold).predict(X[test])
            truth = np.asarray(y[test])
            recalls = [np.mean(predicted[truth == c] == c) for c in np.unique(truth)]
            scores.append(float(np.mean(recalls)))
        return np.asarray(scores)


@dataclass(frozen=True)
class FoldEstimator:
    """A read-only view of one fold's network that scores like a fitted sklearn classifier."""

    model: FoldBatchedMLP
    index: int

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = self.model.predict_proba(self.index, X)
        return p if p.ndim == 2 else np.column_stack([1 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.model.task == "regression":
            return self.model.predict_output(self.index, X)
        p = self.model.predict_proba(self.index, X)
        return (p.argmax(axis=1) if p.ndim == 2 else p > 0.5).astype(np.int64)


def _assign(target: torch.Tensor, value: torch.Tensor, active: torch.Tensor | None) -> None:
    """target <- value in place, only for the active folds when some are not."""
    target.copy_(value if active is None else torch.where(active, value, target))
