"""The lab's problem B: a CNN that tells glass from liquid configuration images, tuned by Optuna.

The network and protocol are the lab's (``glasstune.models.cnn``, ``glasstune.training``). The score
is the validation accuracy of the best-validation checkpoint, measured on the whole validation set;
test accuracy at that checkpoint and the final model's accuracies ("optimal" vs "final", as the lab
reported them) are recorded beside it. Runs with the same hyperparameters differed wildly in the lab
(best validation 47% to 99.9%), so a configuration can be trained with several seeds (replicates)
and scored by their mean. Runs that learned and then fell back to chance are flagged as collapsed.

torch loads only when a trial runs: importing this module is cheap.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from glasstune.data.provenance import provenance_label
from glasstune.errors import GlasstuneError
from glasstune.objectives.base import TrialContext

if TYPE_CHECKING:
    import numpy as np
    import optuna
    from torch import nn

    from glasstune.data.image_sets import ImageSet
    from glasstune.training.loop import Trainer, TrainResult

NetworkFactory = Callable[[tuple[int, int], Mapping[str, Any]], "nn.Module"]
DEFAULT_NETWORK = "glasstune.models.cnn:lab_network"
REQUIRED = ("batch_size", "learning_rate")


def default_search_space(trial: optuna.Trial) -> dict[str, Any]:
    """Batch 10-250, Adam's rate, dropout, L2 beta around the lab's 0.01, a schedule, augmentation.

    The schedule's own parameters exist only when it is chosen (define-by-run). The threshold
    schedule's final rate is a fraction of the initial one (the lab used 1e-3 -> 1e-4).
    """
    params: dict[str, Any] = {
        "batch_size": trial.suggest_int("batch_size", 10, 250, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-2, log=True),
        "dropout": trial.suggest_float("dropout", 0.1, 0.5),
        "l2_beta": trial.suggest_float("l2_beta", 1e-3, 1e-1, log=True),
        "schedule": trial.suggest_categorical("schedule", ["constant", "threshold", "warmup_exp"]),
        "augment": trial.suggest_categorical("augment", [True, False]),
    }
    if params["schedule"] == "threshold":
        ratio = trial.suggest_float("lr_final_ratio", 0.01, 0.5, log=True)
        params["lr_final"] = params["learning_rate"] * ratio
        params["lr_threshold"] = trial.suggest_float("lr_threshold", 0.80, 0.97)
    elif params["schedule"] == "warmup_exp":
        params["warmup_iterations"] = trial.suggest_int("warmup_iterations", 0, 10)
        params["lr_decay"] = trial.suggest_float("lr_decay", 0.95, 0.999)
    return params


@dataclass(frozen=True)
class CNNObjective:
    """Train the glass/liquid CNN on one configuration (``replicates`` seeds); return the mean
    best-checkpoint validation accuracy.

    ``iterations`` defaults to the lab's 1,500 (10 batches each). ``network`` is a factory
    ``(image_size, params) -> nn.Module`` (default: the lab's network); ``prune_on_collapse`` stops a
    trial as soon as one replicate collapses. Intermediate values (best validation accuracy so far,
    averaged with finished replicates) are reported every ``report_every`` iterations.

    Measurements use up to ``eval_examples`` train and validation images and ``test_curve_examples``
    test images (fixed subsets); final scores use the whole validation and test sets. Checkpoints go to
    ``ctx.checkpoint_dir/rep{i}`` at most every ``checkpoint_every`` iterations and
    ``checkpoint_seconds`` seconds; a retried trial resumes from them. ``keep_latest=False`` deletes a
    finished or pruned trial's ``latest.pt`` (0.9 GB at 250 px; ``best.pt`` stays), after which it
    cannot be continued. ``precision`` 'auto' is bf16
    autocast on CUDA and fp32 on CPU; ``threads`` (CPU intra-op threads) defaults to the free cores.
    """

    search_space: Callable[[optuna.Trial], dict[str, Any]] | None = None
    _: KW_ONLY
    iterations: int = 1500
    replicates: int = 1
    prune_on_collapse: bool = False
    network: NetworkFactory | None = None
    eval_examples: int = 1000
    test_curve_examples: int = 250
    batches_per_iteration: int = 10
    report_every: int = 5
    checkpoint_every: int = 10
    checkpoint_seconds: float = 60.0
    keep_latest: bool = True
    collapse_threshold: float = 0.90
    split_seed: int = 0
    precision: str = "auto"
    threads: int | None = None
    metric: str = field(default="val_accuracy", init=False)
    uses_device: ClassVar[bool] = True

    def __post_init__(self) -> None:
        for name in ("iterations", "replicates", "batches_per_iteration", "report_every", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise GlasstuneError(f"CNNObjective: {name} must be at least 1, got {getattr(self, name)}")
        if self.eval_examples < 1:
            raise GlasstuneError("CNNObjective: eval_examples must be at least 1")

    def smoke(self) -> CNNObjective:
        return replace(
            self, iterations=min(self.iterations, 3), replicates=min(self.replicates, 2),
            eval_examples=min(self.eval_examples, 64), test_curve_examples=min(self.test_curve_examples, 32),
            report_every=1, checkpoint_every=1, checkpoint_seconds=0.0,
        )

    def space(self, trial: optuna.Trial) -> dict[str, Any]:
        """The parameters of one configuration, checked."""
        params = (self.search_space or default_search_space)(trial)
        return check_params(params)

    def __call__(self, ctx: TrialContext) -> float:
        params = self.space(ctx.trial)
        seeds = [replicate_seed(ctx.seed, index) for index in range(self.replicates)]
        session = _Session(ctx, ctx.data, self, self.network)
        ctx.log_params({f"cnn.{key}": value for key, value in params.items()})
        ctx.log_params({
            "cnn.iterations": self.iterations, "cnn.replicates": self.replicates,
            "cnn.eval_examples": self.eval_examples, "cnn.image_size": "x".join(map(str, session.image_size)),
            "cnn.split_seed": self.split_seed, "cnn.network": session.network_name,
        })
        jobs = [
            _Job(index, params, seed, self.iterations, ctx.checkpoint_dir / f"rep{index}")
            for index, seed in enumerate(seeds)
        ]
        summary = session.run(jobs, report=True, prune_on_collapse=self.prune_on_collapse)
        return summary["val_accuracy"]


def check_params(params: Any) -> dict[str, Any]:
    """A search space must return a dict with at least a batch size and a learning rate."""
    if not isinstance(params, Mapping):
        raise GlasstuneError(f"the CNN search space must return a dict of parameters, got {type(params).__name__}")
    missing = [key for key in REQUIRED if key not in params]
    if missing:
        raise GlasstuneError(f"the CNN search space returned no {', '.join(missing)}; see default_search_space")
    if int(params["batch_size"]) < 1 or float(params["learning_rate"]) <= 0:
        raise GlasstuneError("the CNN search space needs batch_size >= 1 and learning_rate > 0")
    return dict(params)


def replicate_seed(seed: int, index: int) -> int:
    """Replicate ``index``'s seed, derived from the trial's seed (the only thing replicates change)."""
    import numpy as np

    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0] % (2**31 - 1))


def continue_training(
    checkpoint_dir: Path,
    data: ImageSet,
    extra_iterations: int,
    ctx: TrialContext,
    *,
    network: NetworkFactory | None = None,
    objective: CNNObjective | None = None,
) -> dict[str, Any]:
    """Train a finished (or interrupted) trial's model(s) for ``extra_iterations`` more iterations.

    ``objective`` is the study's (precision, threads, checkpoint cadence...); what defines the run
    (protocol, split seed) comes from the checkpoint, so the continuation is the same training.

    ``checkpoint_dir`` is the trial's checkpoint folder (with ``rep0/``, ``rep1/``, ... or a
    ``latest.pt`` of its own). Training continues exactly where it stopped (optimizer, RNG, history,
    best-so-far); new checkpoints go to ``ctx.checkpoint_dir`` (the same folder, or a copy is made
    there first). Curves and artifacts go to ``ctx``'s sink. Returns the same summary as a trial.
    """
    from glasstune.training.checkpoints import BEST, LATEST, load_checkpoint

    if extra_iterations < 1:
        raise GlasstuneError("continue_training: extra_iterations must be at least 1")
    checkpoint_dir = Path(checkpoint_dir)
    sources = replicate_dirs(checkpoint_dir)
    jobs = []
    settings = None
    for index, source in enumerate(sources):
        payload = load_checkpoint(source / LATEST)
        if payload is None:
            raise GlasstuneError(f"{source / LATEST}: missing or unreadable checkpoint")
        identity = payload["identity"]
        settings = settings or identity
        target = Path(ctx.checkpoint_dir) / source.relative_to(checkpoint_dir)
        if target.resolve() != source.resolve():
            target.mkdir(parents=True, exist_ok=True)
            for name in (LATEST, BEST):
                if (source / name).exists():
                    shutil.copy2(source / name, target / name)
        total = int(payload["iteration"]) + int(extra_iterations)
        jobs.append(_Job(index, dict(identity["params"]), int(identity["seed"]), total, target, must_resume=True))
    assert settings is not None
    protocol = settings["protocol"]
    objective = replace(
        objective or CNNObjective(),
        iterations=max(job.iterations for job in jobs), replicates=len(jobs),
        eval_examples=int(protocol["eval_examples"]), test_curve_examples=int(protocol["test_curve_examples"]),
        batches_per_iteration=int(protocol["batches_per_iteration"]), split_seed=int(settings["split_seed"]),
    )
    factory = network or _import_factory(settings["network"])
    session = _Session(ctx, data, objective, factory, network_name=settings["network"])
    if session.data_signature != settings["data"]:
        raise GlasstuneError(
            f"{checkpoint_dir}: these checkpoints were trained on other data "
            f"({settings['data']} vs {session.data_signature}); load the trial's data set"
        )
    return session.run(jobs, report=False, prune_on_collapse=False, summarize=False)


def replicate_dirs(checkpoint_dir: Path) -> list[Path]:
    from glasstune.training.checkpoints import LATEST

    if (checkpoint_dir / LATEST).exists():
        return [checkpoint_dir]
    found = sorted(
        (path.parent for path in checkpoint_dir.glob(f"rep*/{LATEST}")),
        key=lambda path: int(path.name[3:]) if path.name[3:].isdigit() else 0,
    )
    if not found:
        raise GlasstuneError(f"{checkpoint_dir}: no {LATEST} here or in rep*/ folders; is it a CNN trial's folder?")
    return found


def _factory_name(factory: Any) -> str:
    module = getattr(factory, "__module__", None)
    qualname = getattr(factory, "__qualname__", None) or type(factory).__qualname__
    return f"{module}:{qualname}" if module else repr(factory)


def _import_factory(name: str) -> NetworkFactory:
    import importlib

    module_name, _, attribute = name.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as error:
        raise GlasstuneError(
            f"the checkpoint was trained with network {name!r}, which cannot be imported here; pass network="
        ) from error
    return target


@dataclass
class _Job:
    index: int
    params: dict[str, Any]
    seed: int
    iterations: int
    checkpoint_dir: Path
    must_resume: bool = False


@dataclass
class _Outcome:
    """One replicate's result, measured on whole validation and test sets."""

    index: int
    seed: int
    result: TrainResult
    val_accuracy: float
    test_accuracy: float
    final_val_accuracy: float
    final_test_accuracy: float
    confusion: np.ndarray


class _Session:
    """One trial's (or continuation's) replicates: data on the device, training, logging, artifacts."""

    def __init__(self, ctx: TrialContext, data: Any, objective: CNNObjective, network: NetworkFactory | None,
                 network_name: str | None = None) -> None:
        from glasstune.data.image_sets import ImageSet
        from glasstune.models.cnn import lab_network
        from glasstune.training.data import DeviceImages, data_signature, stratified_split
        from glasstune.training.device import resolve_device, resolve_precision
        from glasstune.training.loop import Protocol

        if not isinstance(data, ImageSet):
            raise GlasstuneError(
                f"the CNN objective needs an image set (glass/liquid images), got {type(data).__name__}; "
                "use SyntheticImages or load_image_set"
            )
        self.ctx, self.data, self.objective = ctx, data, objective
        self.factory = network or lab_network
        self.network_name = network_name or (DEFAULT_NETWORK if network is None else _factory_name(network))
        self.device = resolve_device(ctx.device)
        self.precision = resolve_precision(objective.precision, self.device.split(":")[0])
        self.split = stratified_split(data.labels, seed=objective.split_seed)
        self.images = DeviceImages(data, self.device, self.split.train)
        self.image_size = data.image_size
        self.data_signature = data_signature(data)
        self.label = provenance_label(data.provenance)
        self.protocol = Protocol(
            batches_per_iteration=objective.batches_per_iteration, eval_examples=objective.eval_examples,
            test_curve_examples=objective.test_curve_examples, checkpoint_every=objective.checkpoint_every,
            checkpoint_seconds=objective.checkpoint_seconds, precision=objective.precision,
            collapse_threshold=objective.collapse_threshold,
        )
        self.outcomes: list[_Outcome] = []
        self.trainer: Trainer | None = None
        self.best_state: dict[str, Any] | None = None
        self.best_replicate = 0

    @property
    def title(self) -> str:
        number = getattr(self.ctx.trial, "number", None)
        trial = f"trial {number} · " if isinstance(number, int) else ""
        return f"{trial}{self.label}"

    def prefix(self, job: _Job, count: int) -> str:
        return f"rep{job.index}/" if count > 1 else ""

    # -- running --------------------------------------------------------------------------------

    def run(self, jobs: list[_Job], *, report: bool, prune_on_collapse: bool, summarize: bool = True) -> dict:
        import optuna

        from glasstune.training.device import training_environment

        self.ctx.set_tags({
            "glasstune.objective": "cnn", "glasstune.replicates": len(jobs),
            "glasstune.precision": self.precision, "glasstune.network": self.network_name,
        })
        try:
            with training_environment(self.device, self.objective.threads):
                for job in jobs:
                    self.outcomes.append(self._train(job, jobs, report, prune_on_collapse))
        except optuna.TrialPruned:
            self._log_partial(jobs)
            self._drop_latest(jobs)
            raise
        summary = self._summary(jobs)
        self._log_results(jobs, summary)
        self._drop_latest(jobs)
        if summarize:
            extra = {}
            if len(jobs) > 1:
                extra = {"val_accuracy_std": summary["val_accuracy_std"],
                         "val_accuracy_worst": summary["val_accuracy_worst"]}
            self.ctx.summarize(
                val_accuracy=summary["val_accuracy"], test_accuracy=summary["test_accuracy"],
                final_val_accuracy=summary["final_val_accuracy"],
                final_test_accuracy=summary["final_test_accuracy"], collapsed=summary["collapsed"], **extra,
            )
        return summary

    def _train(self, job: _Job, jobs: list[_Job], report: bool, prune_on_collapse: bool) -> _Outcome:
        import torch

        from glasstune.training.loop import CURVES, Trainer

        torch.manual_seed(job.seed)
        try:
            model = self.factory(self.image_size, job.params)
        except ValueError as error:
            raise GlasstuneError(f"network for images of {self.image_size}: {error}") from error
        if not isinstance(model, torch.nn.Module):
            raise GlasstuneError(f"the network factory returned {type(model).__name__}, not a torch.nn.Module")
        prefix = self.prefix(job, len(jobs))
        done = [outcome.val_accuracy for outcome in self.outcomes]
        label = f"rep {job.index + 1}/{len(jobs)} · " if len(jobs) > 1 else ""
        stride = job.iterations + 1
        noticed = {"collapse": False}

        def hook(record: dict[str, float], trainer: Trainer) -> None:
            step = int(record["step"])
            self.ctx.log_metrics({prefix + key: record[key] for key in CURVES}, step=step)
            self.ctx.status(f"{label}iteration {step}/{job.iterations} · val {record['val_acc']:.3f}")
            if record["collapsed"] and not noticed["collapse"]:
                noticed["collapse"] = True
                self._collapsed(prefix, trainer, step, prune_on_collapse)
            if report and step > 0 and (step % self.objective.report_every == 0 or step == job.iterations):
                running = (sum(done) + record["best_val_acc"]) / (len(done) + 1)
                self.ctx.report(running, step=job.index * stride + step)

        identity = {
            "data": self.data_signature, "image_size": list(self.image_size), "split_seed": self.objective.split_seed,
            "network": self.network_name,
        }
        trainer = Trainer(
            model, self.images, self.split, job.params, seed=job.seed, protocol=self.protocol,
            checkpoint_dir=job.checkpoint_dir, identity=identity, hooks=[hook],
        )
        self.trainer = trainer
        resumed = trainer.resume()
        if job.must_resume and not resumed:
            raise GlasstuneError(
                f"{job.checkpoint_dir}: the checkpoint cannot be resumed (best.pt missing, or the network, "
                "parameters or protocol differ here); nothing was trained"
            )
        if resumed:
            restored = trainer.history
            self.ctx.log_metrics({prefix + "resumed_from": trainer.iteration}, step=None)
            self.ctx.set_tags({f"glasstune.{prefix}resumed_from".replace("/", "."): trainer.iteration})
            for step in range(len(restored["val_acc"])):
                self.ctx.log_metrics({prefix + key: restored[key][step] for key in CURVES}, step=step)
            if trainer.collapse.collapsed:
                noticed["collapse"] = True
                self._collapsed(prefix, trainer, trainer.collapse.collapse_step or 0, prune_on_collapse)
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(self.device)
        result = trainer.run(job.iterations)
        return self._measure(job, trainer, result)

    def _collapsed(self, prefix: str, trainer: Trainer, step: int, prune: bool) -> None:
        import optuna

        reason = (prefix.rstrip("/") + ": " if prefix else "") + trainer.collapse.reason
        self.ctx.set_tags({"glasstune.collapsed": "true", "glasstune.collapse_reason": reason})
        self.ctx.log_metrics({prefix + "collapsed": 1.0}, step=step)
        if prune:
            if hasattr(self.ctx.trial, "set_user_attr"):
                self.ctx.trial.set_user_attr("prune_reason", reason)
            raise optuna.TrialPruned(reason)

    def _measure(self, job: _Job, trainer: Trainer, result: TrainResult) -> _Outcome:
        """Final model, then best checkpoint, on the whole validation and test sets."""
        from glasstune.training.inspect import confusion

        final_val = trainer.accuracy(self.split.val)
        final_test = trainer.accuracy(self.split.test)
        final_state = {key: value.detach().clone() for key, value in trainer.model.state_dict().items()}
        trainer.load_weights(result.best_state)
        val = trainer.accuracy(self.split.val)
        test = trainer.accuracy(self.split.test)
        matrix = confusion(self.data.labels[self.split.test], trainer.predict(self.split.test))
        if not self.outcomes or val > max(outcome.val_accuracy for outcome in self.outcomes):
            self.best_state = {key: value.detach().cpu().clone() for key, value in result.best_state.items()}
            self.best_replicate = len(self.outcomes)
        trainer.load_weights(final_state)
        return _Outcome(job.index, job.seed, result, val, test, final_val, final_test, matrix)

    # -- results and artifacts ------------------------------------------------------------------

    def _summary(self, jobs: list[_Job]) -> dict[str, Any]:
        import numpy as np

        def values(name: str) -> np.ndarray:
            return np.array([getattr(outcome, name) for outcome in self.outcomes], dtype=float)

        val = values("val_accuracy")
        collapsed = [outcome.result.collapsed for outcome in self.outcomes]
        seconds = sum(outcome.result.train_seconds for outcome in self.outcomes)
        images = sum(outcome.result.train_images for outcome in self.outcomes)
        summary: dict[str, Any] = {
            "val_accuracy": float(val.mean()),
            "test_accuracy": float(values("test_accuracy").mean()),
            "final_val_accuracy": float(values("final_val_accuracy").mean()),
            "final_test_accuracy": float(values("final_test_accuracy").mean()),
            "val_accuracy_std": float(val.std(ddof=0)),
            "val_accuracy_worst": float(val.min()),
            "test_accuracy_std": float(values("test_accuracy").std(ddof=0)),
            "collapsed": bool(any(collapsed)),
            "collapsed_replicates": int(sum(collapsed)),
            "replicates": len(self.outcomes),
            "best_replicate": int(self.best_replicate),
            "train_images_per_second": images / seconds if seconds > 0 else float("nan"),
            "iterations": max(outcome.result.iterations for outcome in self.outcomes),
            "per_replicate": [self._replicate_record(outcome) for outcome in self.outcomes],
        }
        if self.device.startswith("cuda"):
            import torch

            summary["gpu_peak_memory_mb"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        return summary

    def _replicate_record(self, outcome: _Outcome) -> dict[str, Any]:
        result = outcome.result
        return {
            "replicate": outcome.index, "seed": outcome.seed, "val_accuracy": outcome.val_accuracy,
            "test_accuracy": outcome.test_accuracy, "final_val_accuracy": outcome.final_val_accuracy,
            "final_test_accuracy": outcome.final_test_accuracy, "best_iteration": result.best_step,
            "best_val_accuracy_subset": result.best_val_accuracy, "collapsed": result.collapsed,
            "collapse_reason": result.collapse_reason, "iterations": result.iterations,
            "resumed_from": result.resumed_from, "batch_size": result.batch_size,
            "train_images_per_second": result.images_per_second,
            "confusion_matrix_test": outcome.confusion.tolist(),
        }

    def _log_results(self, jobs: list[_Job], summary: dict[str, Any]) -> None:
        import torch

        from glasstune.plots.cnn import confusion_matrix

        ctx = self.ctx
        final = {key: summary[key] for key in (
            "val_accuracy", "test_accuracy", "final_val_accuracy", "final_test_accuracy",
            "train_images_per_second", "iterations")}
        final["collapsed"] = float(summary["collapsed"])
        if len(jobs) > 1:
            final.update({key: summary[key] for key in (
                "val_accuracy_std", "val_accuracy_worst", "test_accuracy_std", "collapsed_replicates")})
            for record in summary["per_replicate"]:
                for key in ("val_accuracy", "test_accuracy", "final_val_accuracy", "final_test_accuracy"):
                    final[f"rep{record['replicate']}/{key}"] = record[key]
        else:
            final["best_iteration"] = summary["per_replicate"][0]["best_iteration"]
        if "gpu_peak_memory_mb" in summary:
            final["gpu_peak_memory_mb"] = summary["gpu_peak_memory_mb"]
        ctx.log_metrics(final)
        ctx.set_tags({"glasstune.collapsed": str(summary["collapsed"]).lower()})
        self._log_curves(jobs)
        if self.trainer is not None and self.best_state is not None:
            self.trainer.load_weights(self.best_state)
            self._log_inspection(self.trainer)
        best = self.outcomes[self.best_replicate]
        ctx.log_figure(
            confusion_matrix(best.confusion, title=f"test set, best checkpoint · {self.title}"),
            "confusion_matrix.png",
        )
        path = Path(ctx.workdir) / "model_best.pt"
        torch.save(self.best_state, path)
        ctx.log_file(path)
        ctx.log_json({
            "summary": {key: value for key, value in summary.items() if key != "per_replicate"},
            "replicates": summary["per_replicate"], "params": jobs[0].params,
            "network": self.network_name, "image_size": list(self.image_size), "device": self.device,
            "precision": self.precision, "protocol": self.protocol.__dict__, "split_seed": self.objective.split_seed,
            "split_sizes": {"train": len(self.split.train), "val": len(self.split.val), "test": len(self.split.test)},
            "data": self.data.provenance,
        }, "results.json")

    def _log_curves(self, jobs: list[_Job]) -> None:
        """Curves of every replicate trained so far (or interrupted by pruning), and the history table."""
        import pandas as pd

        from glasstune.plots.cnn import replicate_curves, training_curves

        histories = [(outcome.index, outcome.result.history, outcome.result.best_step,
                      outcome.result.collapse_step) for outcome in self.outcomes]
        if self.trainer is not None and len(histories) < len(jobs) and self.trainer.history["val_acc"]:
            trainer = self.trainer
            histories.append((len(histories), trainer.history, trainer.best_step, trainer.collapse.collapse_step))
        if not histories:
            return
        many = len(jobs) > 1
        frames = []
        for index, history, best_step, collapse_step in histories:
            name = f"curves_rep{index}.png" if many else "curves.png"
            title = (f"replicate {index} · " if many else "") + self.title
            figure = training_curves(history, title=title, best_step=best_step, collapse_step=collapse_step)
            self.ctx.log_figure(figure, name)
            frame = pd.DataFrame(history)
            frame.insert(0, "iteration", range(len(frame)))
            frame.insert(0, "replicate", index)
            frames.append(frame)
        if many:
            curves = [history["val_acc"] for _, history, _, _ in histories]
            self.ctx.log_figure(replicate_curves(curves, title=self.title), "replicates.png")
        self.ctx.log_table(pd.concat(frames, ignore_index=True), "history.csv")

    def _drop_latest(self, jobs: list[_Job]) -> None:
        from glasstune.training.checkpoints import LATEST

        if not self.objective.keep_latest:
            for job in jobs:
                (job.checkpoint_dir / LATEST).unlink(missing_ok=True)

    def _log_partial(self, jobs: list[_Job]) -> None:
        """A pruned trial still shows its curves (a collapse is worth seeing)."""
        try:
            self._log_curves(jobs)
        except Exception as error:  # a plotting problem must not hide why the trial stopped
            self.ctx.set_tags({"glasstune.partial_artifacts_error": str(error)[:200]})

    def _log_inspection(self, trainer: Trainer) -> None:
        """Augmented training examples and first-layer maps of the best model so far."""
        import numpy as np
        import torch

        from glasstune.data.image_sets import GLASS, LIQUID
        from glasstune.plots.cnn import augmentation_grid, channel_maps
        from glasstune.training.augment import augment_batch
        from glasstune.training.device import autocast
        from glasstune.training.inspect import first_conv_maps

        labels = self.data.labels
        train = self.split.train
        picks = np.concatenate([train[labels[train] == GLASS][:4], train[labels[train] == LIQUID][:4]])
        generator = torch.Generator(device=self.images.device)
        generator.manual_seed(int(self.ctx.seed))
        pixels = self.images.images[self.images.index(picks)]
        augmented = augment_batch(pixels, generator)
        on = bool(trainer.params.get("augment", False))
        title = ("augmentation (on in this trial)" if on else "augmentation (off in this trial; shown for checking)")
        self.ctx.log_figure(
            augmentation_grid(
                self.data.images[picks], augmented.permute(0, 2, 3, 1).cpu().numpy(), labels[picks],
                title=f"{title} · {self.title}",
            ),
            "augmentation.png",
        )
        if not any(isinstance(module, torch.nn.Conv2d) for module in trainer.model.modules()):
            return  # a study's own network without convolutions: nothing to show
        test = self.split.test
        examples = [int(test[labels[test] == GLASS][0]), int(test[labels[test] == LIQUID][0])]
        inputs = self.images.normalise(self.images.images[self.images.index(np.array(examples))])
        with autocast(self.images.device.type, self.precision):
            maps = first_conv_maps(trainer.model, inputs)
        self.ctx.log_figure(
            channel_maps([self.data.images[i] for i in examples], list(maps), ["glass", "liquid"],
                         title=f"first convolution, best checkpoint · {self.title}"),
            "conv1_maps.png",
        )

