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


class TrialBatchedMLP:
    """The k fold networks of several trials (``trials``: one (settings, seed) each) trained together;
    ``train(epochs)`` may be called repeatedly, ``keep`` drops trials that are done.

    Member m is fold ``m % k`` of trial ``m // k``. Every member's weights and biases live in one
    (members, P) buffer (``params``; ``weights`` and ``biases`` are views into it), as do the
    optimizer's moments, so an optimizer step is a handful of tensor operations whatever the depth
    and however many trials: small networks cost dispatch time per operation far more than arithmetic.

    Trials of other shapes share one padded shape: each hidden layer as wide as the widest trial's,
    and a shallower trial carries identity layers between its last hidden layer and its output.
    Padding units have zero weights and stay zero (ReLU(0) = 0, so no gradient reaches them), and the
    identity layers pass ReLU outputs through unchanged and are never updated: each trial computes
    what it computes alone, up to float rounding. The rounding is not bit for bit that of the trial
    alone (the matrix kernels sum in another order for other shapes and batch counts), and training
    that amplifies small differences (deep networks, large learning rates) can grow it into scores
    hundredths apart, as other seeds would give: which is why trials are batched by default only
    where it pays (``CrossValidatedMLP.trials_per_batch``).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]],
                 trials: Sequence[tuple[MLPSettings, int]], *, device: str = "cpu", threads: int | None = 1,
                 task: str = "binary") -> None:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
        depths = {len(settings.hidden_layer_sizes) for settings, _ in trials}
        if 0 in depths and len(depths) > 1:
            raise ValueError("a network without hidden layers trains alone, not with deeper ones")
        self.device, self.task, self.threads = torch.device(device), task, threads
        self.trial_settings = [settings for settings, _ in trials]
        self.folds = [(np.asarray(train), np.asarray(test)) for train, test in folds]
        self.n_folds = len(self.folds)
        self.epochs_done = 0
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y)
        self.n_outputs = int(y.max()) + 1 if task == "multiclass" else 1
        targets = np.eye(self.n_outputs, dtype=np.float32)[y] if task == "multiclass" else y.astype(np.float32)[:, None]
        self._targets = torch.as_tensor(targets, device=self.device)  # (n, outputs): 0/1, one-hot, or values
        self._mean, self._scale = self._scalers(X)
        self._X = (torch.as_tensor(X, device=self.device)[None] - self._mean) / self._scale  # (k, n, d) per fold
        members = [(trial, fold) for trial in range(len(trials)) for fold in range(self.n_folds)]
        self._member_folds = [fold for _, fold in members]
        self._n_train = [len(self.folds[fold][0]) for _, fold in members]
        self._batch = [min(200, n) if trials[t][0].batch_size == "auto" else min(int(trials[t][0].batch_size), n)
                       for (t, _), n in zip(members, self._n_train, strict=True)]
        self._n_batches = [math.ceil(n / b) for n, b in zip(self._n_train, self._batch, strict=True)]
        self._generators = [torch.Generator().manual_seed(trials[t][1] + fold) for t, fold in members]
        self._layers = _padded_layers(X.shape[1], [s.hidden_layer_sizes for s, _ in trials], self.n_outputs)
        flat, trainable, decay = zip(*(self._member_init(trials[t][0], generator)
                                       for (t, _), generator in zip(members, self._generators, strict=True)),
                                     strict=True)
        self.params = torch.stack(flat).float().to(self.device)
        self._trainable = torch.stack(trainable).float().to(self.device)
        """1 where ``params`` holds one of the member's own weights or biases, 0 for padding and identity layers"""
        self._decay = torch.stack(decay).float().to(self.device)
        """1 where ``params`` holds one of the member's own weights (L2 applies), else 0"""
        self._moment = torch.zeros_like(self.params)  # Adam's first moment, or SGD's velocity
        self._moment2 = torch.zeros_like(self.params)  # Adam's second moment
        self._steps = np.zeros(len(members), dtype=np.int64)  # optimizer steps taken by each member
        self._host = {name: np.array([[float(getattr(trials[t][0], name))] for t, _ in members])
                      for name in ("learning_rate_init", "alpha", "beta_1", "beta_2", "epsilon", "momentum",
                                   "nesterovs_momentum")}
        """Each member's settings as (members, 1) float64 arrays, kept on the host: the device copies
        (``_hyper``) are made from them, and the Adam step sizes are computed from them each epoch."""
        self._host["adam"] = np.array([[trials[t][0].solver == "adam"] for t, _ in members])
        self._shuffle = [trials[t][0].shuffle for t, _ in members]
        self._rebuild_views()

    @property
    def n_members(self) -> int:
        return self.params.shape[0]

    def _rebuild_views(self) -> None:
        """What follows from the members kept: views into the parameter buffer, the device copies of
        their folds and settings, and how many trials each solver has (on the host, so that a step
        asks the device nothing)."""
        self.weights, self.biases = self._views(self.params)
        self._fold_index = torch.tensor(self._member_folds, device=self.device)
        host = self._host
        self._hyper = {name: torch.tensor(host[name], dtype=torch.float32, device=self.device)
                       for name in ("learning_rate_init", "alpha", "beta_1", "beta_2", "epsilon", "momentum")}
        self._hyper.update({"1-beta_1": torch.tensor(1 - host["beta_1"], dtype=torch.float32, device=self.device),
                            "1-beta_2": torch.tensor(1 - host["beta_2"], dtype=torch.float32, device=self.device)})
        self._adam = torch.tensor(host["adam"], device=self.device)
        self._nesterov = torch.tensor(host["nesterovs_momentum"] > 0, device=self.device)
        adam = sum(settings.solver == "adam" for settings in self.trial_settings)
        self._solvers = {"adam": adam, "sgd": len(self.trial_settings) - adam}

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

    def _member_init(self, settings: MLPSettings, generator: torch.Generator
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One member's flat parameters in the padded layout, and its trainable and decay masks.

        sklearn's init: uniform(+-sqrt(6/(fan_in+fan_out))) for weights and biases, layer by layer,
        drawn from the member's own generator in its own shapes (as alone), then placed in the
        top-left corner of each padded layer; identity layers fill the gap to the padded depth."""
        sizes = settings.hidden_layer_sizes
        own = list(pairwise([self._layers[0][0], *sizes, self.n_outputs]))
        padded = self._layers
        place = [*range(len(sizes)), len(padded) - 1]  # own layer i sits at padded layer place[i]
        weights = [torch.zeros(fan_in, fan_out, dtype=torch.float64) for fan_in, fan_out in padded]
        biases = [torch.zeros(fan_out, dtype=torch.float64) for _, fan_out in padded]
        trainable_w = [torch.zeros(fan_in, fan_out) for fan_in, fan_out in padded]
        trainable_b = [torch.zeros(fan_out) for _, fan_out in padded]
        for layer, (fan_in, fan_out) in zip(place, own, strict=True):
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            weights[layer][:fan_in, :fan_out] = ((torch.rand(fan_in * fan_out, generator=generator, dtype=torch.float64)
                                                  * 2 - 1) * bound).view(fan_in, fan_out)
            biases[layer][:fan_out] = (torch.rand(fan_out, generator=generator, dtype=torch.float64) * 2 - 1) * bound
            trainable_w[layer][:fan_in, :fan_out] = 1.0
            trainable_b[layer][:fan_out] = 1.0
        for layer in range(len(sizes), len(padded) - 1):  # identity layers, frozen
            weights[layer][:sizes[-1], :sizes[-1]] = torch.eye(sizes[-1], dtype=torch.float64)
        flatten = lambda parts: torch.cat([part.reshape(-1) for part in parts])  # noqa: E731
        trainable = flatten([*trainable_w, *trainable_b])
        decay = flatten([*trainable_w, *(torch.zeros_like(b) for b in trainable_b)])
        return flatten([*weights, *biases]), trainable, decay

    def _views(self, flat: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per-layer (members, fan_in, fan_out) weights and (members, 1, fan_out) biases, views into ``flat``."""
        weights, biases, offset, members = [], [], 0, flat.shape[0]
        for fan_in, fan_out in self._layers:
            weights.append(flat[:, offset:offset + fan_in * fan_out].view(members, fan_in, fan_out))
            offset += fan_in * fan_out
        for _, fan_out in self._layers:
            biases.append(flat[:, offset:offset + fan_out].view(members, 1, fan_out))
            offset += fan_out
        return weights, biases

    def keep(self, trials: Sequence[int]) -> None:
        """Go on with these trials only (positions among the trials kept so far), freeing the others' slots."""
        members = [t * self.n_folds + fold for t in trials for fold in range(self.n_folds)]
        index = torch.tensor(members, dtype=torch.long, device=self.device)
        for name in ("params", "_moment", "_moment2", "_trainable", "_decay"):
            setattr(self, name, getattr(self, name)[index].contiguous())
        for name in ("_member_folds", "_n_train", "_batch", "_n_batches", "_generators", "_shuffle"):
            setattr(self, name, [getattr(self, name)[m] for m in members])
        self._host = {name: value[members] for name, value in self._host.items()}
        self._steps = self._steps[members]
        self.trial_settings = [self.trial_settings[t] for t in trials]
        self._rebuild_views()

    def _epoch_batches(self) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """This epoch's shuffled rows as (batches, members, width) indices and mask, and which members
        have rows in each batch, (batches, members)."""
        members = self.n_members
        width, n_batches = max(self._batch), max(self._n_batches)
        index = torch.zeros(members, n_batches * width, dtype=torch.long)
        mask = torch.zeros(members, n_batches * width)
        for member in range(members):
            train = self.folds[self._member_folds[member]][0]
            n, batch = self._n_train[member], self._batch[member]
            shuffle = self._shuffle[member]
            order = torch.randperm(n, generator=self._generators[member]) if shuffle else torch.arange(n)
            position = torch.arange(n)
            slot = (position // batch) * width + position % batch
            index[member, slot] = torch.as_tensor(train, dtype=torch.long)[order]
            mask[member, slot] = 1.0
        index = index.view(members, n_batches, width).transpose(0, 1).contiguous().to(self.device)
        mask = mask.view(members, n_batches, width, 1).transpose(0, 1).contiguous().to(self.device)
        active = np.arange(n_batches)[:, None] < np.asarray(self._n_batches)[None, :]
        return index, mask, active

    def train(self, epochs: int) -> np.ndarray:
        """Train every member for ``epochs`` more epochs; returns the loss curves, (epochs, members).

        On CPU with ``threads`` set (default 1), torch uses that many threads meanwhile: these
        matrices are small, and on a busy machine more threads spin and wait.
        Subnormal floats are flushed to zero on CPU: strong L2 decay drives many weights into the
        subnormal range, where x86 arithmetic is many times slower (benchmarks/README.md).
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
        losses = torch.zeros(epochs, self.n_members, device=self.device)
        folds = self._fold_index[None, :, None]
        n_train = torch.tensor(self._n_train, dtype=torch.float32, device=self.device)
        for epoch in range(epochs):
            index, mask, active = self._epoch_batches()
            X, y = self._X[folds, index], self._targets[index]  # the whole epoch's batches in one gather
            rates = self._adam_rates(active)
            every = active.all(axis=1)
            batch_losses = []
            for b in range(len(active)):
                moving = None if every[b] else torch.as_tensor(active[b][:, None], device=self.device)
                batch_losses.append(self._step(X[b], y[b], mask[b], moving, rates[b]))
            losses[epoch] = torch.stack(batch_losses).sum(dim=0) / n_train
        self.epochs_done += epochs
        return losses.cpu().numpy().astype(np.float64)

    def _adam_rates(self, active: np.ndarray) -> torch.Tensor:
        """sklearn's bias-corrected Adam step size of every member for each batch of this epoch,
        (batches, members, 1), computed up front in one transfer: a member counts only the steps it takes."""
        steps = self._steps[None, :] + np.cumsum(active, axis=0)
        self._steps = steps[-1]
        hyper = {name: self._host[name][:, 0] for name in ("learning_rate_init", "beta_1", "beta_2")}
        with np.errstate(divide="ignore", invalid="ignore"):
            rates = (hyper["learning_rate_init"] * np.sqrt(1 - hyper["beta_2"] ** steps)
                     / (1 - hyper["beta_1"] ** steps))
        rates = np.where(steps > 0, rates, 0.0)
        return torch.tensor(rates, dtype=torch.float32).to(self.device)[..., None]

    def _step(self, X: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, active: torch.Tensor | None,
              rate: torch.Tensor) -> torch.Tensor:
        """One mini-batch for all members: forward, sklearn's loss and gradients, optimizer update.

        Padding rows (a member with fewer rows than the widest batch) carry mask 0: their error, and
        so their gradient and loss, is zero. Returns each member's summed batch loss (log-loss sum +
        alpha/2 * sum W^2), as sklearn weights it.
        """
        alpha = self._hyper["alpha"]
        count = mask.sum(dim=1)  # (members, 1)
        inverse = 1.0 / count.clamp(min=1.0)
        activations = [X]
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            activations.append(torch.relu(torch.baddbmm(b, activations[-1], w)))
        output, batch_loss = self._output_and_loss(
            torch.baddbmm(self.biases[-1], activations[-1], self.weights[-1]), y, mask)
        batch_loss += 0.5 * alpha.view(-1) * (self.params * self.params * self._decay).sum(dim=1)
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
        grad = torch.cat([g.view(self.n_members, -1) for g in (*weight_grads, *bias_grads)], dim=1)
        grad.addcmul_(self.params, self._decay * (alpha * inverse))
        grad.mul_(self._trainable)
        self._update(grad, active, rate)
        return batch_loss

    def _output_and_loss(self, z: torch.Tensor, y: torch.Tensor,
                         mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The output layer's activation and each member's summed loss over the batch's real rows:
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

    def _update(self, grad: torch.Tensor, active: torch.Tensor | None, rate: torch.Tensor) -> None:
        """sklearn's Adam (step size ``rate`` per member) or SGD (with Nesterov momentum or not) on
        the flat buffers, each member by its own solver; members without rows in this batch stay as
        they are."""
        h = self._hyper
        p, m, v = self.params, self._moment, self._moment2
        if self._solvers["adam"]:
            select = self._adam & active if active is not None else None if not self._solvers["sgd"] else self._adam
            new_m = h["beta_1"] * m + h["1-beta_1"] * grad
            new_v = h["beta_2"] * v + h["1-beta_2"] * grad * grad
            new_p = p - new_m / (new_v.sqrt() + h["epsilon"]) * rate
            _assign(m, new_m, select)
            _assign(v, new_v, select)
            _assign(p, new_p, select)
        if self._solvers["sgd"]:
            select = ~self._adam & active if active is not None else None if not self._solvers["adam"] else ~self._adam
            lr, mu = h["learning_rate_init"], h["momentum"]
            velocity = mu * m - lr * grad
            step = torch.where(self._nesterov, mu * velocity - lr * grad, velocity)
            _assign(m, velocity, select)
            _assign(p, p + step, select)

    def trial(self, position: int) -> TrialNetworks:
        """The fold networks of one kept trial (its position among the trials kept so far)."""
        return TrialNetworks(self, position)

    @torch.no_grad()
    def _predict(self, member: int, X: np.ndarray) -> np.ndarray:
        with self._cpu_settings():
            fold = self._member_folds[member]
            x = torch.as_tensor(np.asarray(X, dtype=np.float32), device=self.device)
            h = (x - self._mean[fold]) / self._scale[fold]
            for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
                h = torch.addmm(b[member], h, w[member])
                if layer < len(self.weights) - 1:
                    h = torch.relu(h)
            if self.task == "multiclass":
                return torch.softmax(h, dim=1).double().cpu().numpy()
            output = h if self.task == "regression" else torch.sigmoid(h)
            return output[:, 0].double().cpu().numpy()

    def _parameters(self, member: int, sizes: tuple[int, ...]) -> dict[str, Any]:
        """A member's network in its own shapes (padding and identity layers left out) as numpy arrays."""
        as_numpy = lambda tensor: tensor.detach().cpu().numpy().copy()  # noqa: E731
        fold = self._member_folds[member]
        own = list(pairwise([self._layers[0][0], *sizes, self.n_outputs]))
        place = [*range(len(sizes)), len(self._layers) - 1]
        return {"mean": as_numpy(self._mean[fold, 0]), "scale": as_numpy(self._scale[fold, 0]),
                "weights": [as_numpy(self.weights[layer][member, :fan_in, :fan_out])
                            for layer, (fan_in, fan_out) in zip(place, own, strict=True)],
                "biases": [as_numpy(self.biases[layer][member, 0, :fan_out])
                           for layer, (_, fan_out) in zip(place, own, strict=True)]}


def _padded_layers(n_features: int, shapes: Sequence[tuple[int, ...]], n_outputs: int) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of each layer of the shape every trial fits in: the deepest trial's depth,
    each hidden layer as wide as the widest trial's there (a shallower trial's identity layers are as
    wide as its last hidden layer)."""
    depth = max(len(sizes) for sizes in shapes)
    widths = [max(sizes[min(layer, len(sizes) - 1)] for sizes in shapes) for layer in range(depth)]
    return list(pairwise([n_features, *widths, n_outputs]))


@dataclass(frozen=True)
class TrialNetworks:
    """The k fold networks of one trial in a ``TrialBatchedMLP``: predictions and scores per fold."""

    model: TrialBatchedMLP
    position: int

    @property
    def task(self) -> str:
        return self.model.task

    @property
    def folds(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return self.model.folds

    def predict_output(self, fold: int, X: np.ndarray) -> np.ndarray:
        """Fold ``fold``'s network on raw (unstandardised) feature rows: P(label 1) (binary), the class
        probabilities (rows, K) (multi-class), or the predicted value (regression)."""
        return self.model._predict(self.position * self.model.n_folds + fold, X)

    def predict_proba(self, fold: int, X: np.ndarray) -> np.ndarray:
        """P(label 1) (binary) or the class probabilities (multi-class) of fold ``fold``'s network."""
        if self.task == "regression":
            raise ValueError("a regression network predicts values, not probabilities")
        return self.predict_output(fold, X)

    def fold_parameters(self, fold: int) -> dict[str, Any]:
        """Fold ``fold``'s network as numpy arrays: its scaler (mean, scale) and its layers' weights and
        biases, enough to predict without torch (``glasstune.objectives.mlp.final``)."""
        sizes = self.model.trial_settings[self.position].hidden_layer_sizes
        return self.model._parameters(self.position * self.model.n_folds + fold, sizes)

    def fold(self, fold: int) -> FoldEstimator:
        """One fold's network with sklearn's predict/predict_proba, for shared scoring code."""
        return FoldEstimator(self, fold)

    def held_out_scores(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Each fold's score on its own held-out rows (the pruner's signal): balanced accuracy, or
        Pearson r for a regression."""
        return self._scores(X, y, held_out=True)

    def training_scores(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Each fold's score, as ``held_out_scores``, on the rows it trained on: the other half of
        the memorisation gap, drawn beside the held-out score at every report."""
        return self._scores(X, y, held_out=False)

    def _scores(self, X: np.ndarray, y: np.ndarray, *, held_out: bool) -> np.ndarray:
        """Computed here in numpy: sklearn's metrics validate their input at a cost that, at every
        report of every trial, showed in a study's time."""
        from glasstune.objectives.mlp.scoring import pearson_r

        scores = []
        for fold, (train, test) in enumerate(self.folds):
            rows = test if held_out else train
            truth = np.asarray(y)[rows]
            if self.task == "regression":
                scores.append(pearson_r(truth, self.predict_output(fold, X[rows])))
                continue
            predicted = self.fold(fold).predict(X[rows])
            recalls = [np.mean(predicted[truth == c] == c) for c in np.unique(truth)]
            scores.append(float(np.mean(recalls)))
        return np.asarray(scores)


class FoldBatchedMLP(TrialBatchedMLP):
    """One trial's k fold networks trained together (a ``TrialBatchedMLP`` of one trial), with the
    fold networks' predictions and scores at hand."""

    def __init__(self, X: np.ndarray, y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]], *,
                 settings: MLPSettings, seed: int, device: str = "cpu", threads: int | None = 1,
                 task: str = "binary") -> None:
        super().__init__(X, y, folds, [(settings, seed)], device=device, threads=threads, task=task)
        self.settings = settings
        self._networks = TrialNetworks(self, 0)

    def predict_output(self, fold: int, X: np.ndarray) -> np.ndarray:
        return self._networks.predict_output(fold, X)

    def predict_proba(self, fold: int, X: np.ndarray) -> np.ndarray:
        return self._networks.predict_proba(fold, X)

    def fold_parameters(self, fold: int) -> dict[str, Any]:
        return self._networks.fold_parameters(fold)

    def fold(self, fold: int) -> FoldEstimator:
        return self._networks.fold(fold)

    def held_out_scores(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self._networks.held_out_scores(X, y)


@dataclass(frozen=True)
class FoldEstimator:
    """A read-only view of one fold's network that scores like a fitted sklearn classifier."""

    model: TrialNetworks | FoldBatchedMLP
    index: int

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = self.model.predict_proba(self.index, X)
        return p if p.ndim == 2 else np.column_stack([1 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.model.task == "regression":
            return self.model.predict_output(self.index, X)
        p = self.model.predict_proba(self.index, X)
        return (p.argmax(axis=1) if p.ndim == 2 else p > 0.5).astype(np.int64)


def _assign(target: torch.Tensor, value: torch.Tensor, select: torch.Tensor | None) -> None:
    """target <- value in place, only for the selected members when not all are."""
    target.copy_(value if select is None else torch.where(select, value, target))
