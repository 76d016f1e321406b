"""One CNN trial (or continuation) at work: its replicates trained on the device and measured.

A session puts the data on the device once, trains each replicate with the hooks it needs (curves,
status, collapse, pruner), measures the best checkpoint and the final model on the whole validation
and test sets, and summarises the replicates; ``artifacts`` turns the results into the run's files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glasstune.data.provenance import provenance_label
from glasstune.errors import GlasstuneError
from glasstune.objectives.cnn.artifacts import log_partial, log_results
from glasstune.objectives.cnn.objective import DEFAULT_NETWORK, CNNObjective, NetworkFactory, factory_name
from glasstune.objectives.context import TrialContext
from glasstune.stores.names import Tag, replicate_tag

if TYPE_CHECKING:
    import numpy as np

    from glasstune.objectives.cnn.loop import Trainer, TrainResult


@dataclass
class Job:
    index: int
    params: dict[str, Any]
    seed: int
    iterations: int
    checkpoint_dir: Path
    must_resume: bool = False


@dataclass
class Outcome:
    """One replicate's result, measured on whole validation and test sets."""

    index: int
    seed: int
    result: TrainResult
    val_accuracy: float
    test_accuracy: float
    final_val_accuracy: float
    final_test_accuracy: float
    confusion: np.ndarray


class TrialSession:
    """One trial's (or continuation's) replicates: data on the device, training, logging, artifacts."""

    def __init__(self, ctx: TrialContext, data: Any, objective: CNNObjective, network: NetworkFactory | None,
                 network_name: str | None = None) -> None:
        from glasstune.data.image_sets import ImageSet
        from glasstune.objectives.cnn.images import DeviceImages, stratified_split
        from glasstune.objectives.cnn.network import lab_network
        from glasstune.objectives.device import resolve_device, resolve_precision

        if not isinstance(data, ImageSet):
            raise GlasstuneError(
                f"the CNN objective needs an image set (glass/liquid images), got {type(data).__name__}; "
                "use SyntheticImages or load_image_set"
            )
        self.ctx, self.data, self.objective = ctx, data, objective
        self.factory = network or lab_network
        self.network_name = network_name or (DEFAULT_NETWORK if network is None else factory_name(network))
        self.device = resolve_device(ctx.device)
        self.precision = resolve_precision(objective.precision, self.device.split(":")[0])
        self.split = stratified_split(data.labels, seed=objective.split_seed)
        self.images = DeviceImages(data, self.device, self.split.train)
        self.image_size = data.image_size
        self.data_signature = data.fingerprint()
        self.label = provenance_label(data.provenance)
        self.protocol = objective.training_protocol()
        self.outcomes: list[Outcome] = []
        self.trainer: Trainer | None = None
        self.best_state: dict[str, Any] | None = None
        self.best_replicate = 0
        self.report_every: int | None = None
        """Every how many iterations the pruner was told the running score (None: it was not)."""

    @property
    def title(self) -> str:
        number = getattr(self.ctx.trial, "number", None)
        trial = f"trial {number} · " if isinstance(number, int) else ""
        return f"{trial}{self.label}"

    # -- running --------------------------------------------------------------------------------

    def run(self, jobs: list[Job], *, report: bool, prune_on_collapse: bool, summarize: bool = True) -> dict:
        import optuna

        from glasstune.objectives.device import training_environment

        self.report_every = self.objective.report_every if report else None
        self.ctx.set_tags({
            Tag.OBJECTIVE: "cnn", Tag.REPLICATES: len(jobs),
            Tag.PRECISION: self.precision, Tag.NETWORK: self.network_name,
        })
        try:
            with training_environment(self.device, self.objective.threads):
                for job in jobs:
                    self.outcomes.append(self._train(job, jobs, report, prune_on_collapse))
        except optuna.TrialPruned:
            log_partial(self, jobs)
            self._drop_latest(jobs)
            raise
        summary = self._summary(jobs)
        log_results(self, jobs, summary)
        self._drop_latest(jobs)
        if summarize:
            extra = {}
            if len(jobs) > 1:
                extra = {"val_accuracy_std": summary["val_accuracy_std"],
                         "val_accuracy_worst": summary["val_accuracy_worst"]}
            self.ctx.summarize(
                val_accuracy=summary["val_accuracy"], test_accuracy=summary["test_accuracy"],
                val_accuracy_ci95=summary["val_accuracy_ci95"], test_accuracy_ci95=summary["test_accuracy_ci95"],
                test_images=summary["test_images"],
                final_val_accuracy=summary["final_val_accuracy"],
                final_test_accuracy=summary["final_test_accuracy"], collapsed=summary["collapsed"], **extra,
            )
        return summary

    def _train(self, job: Job, jobs: list[Job], report: bool, prune_on_collapse: bool) -> Outcome:
        import torch

        from glasstune.objectives.cnn.hooks import hooks_for
        from glasstune.objectives.cnn.loop import Trainer

        torch.manual_seed(job.seed)
        try:
            model = self.factory(self.image_size, job.params)
        except ValueError as error:
            raise GlasstuneError(f"network for images of {self.image_size}: {error}") from error
        if not isinstance(model, torch.nn.Module):
            raise GlasstuneError(f"the network factory returned {type(model).__name__}, not a torch.nn.Module")
        hooks, curves, collapse = hooks_for(
            self.ctx, index=job.index, count=len(jobs), iterations=job.iterations,
            report_every=self.objective.report_every if report else None, prune_on_collapse=prune_on_collapse,
            finished=[outcome.val_accuracy for outcome in self.outcomes])
        identity = {
            "data": self.data_signature, "image_size": list(self.image_size), "split_seed": self.objective.split_seed,
            "network": self.network_name,
        }
        trainer = Trainer(
            model, self.images, self.split, job.params, seed=job.seed, protocol=self.protocol,
            checkpoint_dir=job.checkpoint_dir, identity=identity, hooks=hooks,
        )
        self.trainer = trainer
        restored = trainer.restore()
        if job.must_resume and not restored:
            raise GlasstuneError(
                f"{job.checkpoint_dir}: the checkpoint cannot be resumed (best.pt missing, or the network, "
                "parameters or protocol differ here); nothing was trained"
            )
        if restored:
            self.ctx.log_metrics({curves.prefix + "resumed_from": trainer.iteration}, step=None)
            if self.device == "cpu" and self.objective.threads is None and trainer.restored_threads:
                # float sums depend on the thread count: go on as the trial began, not as the load says now
                torch.set_num_threads(int(trainer.restored_threads))
            self.ctx.set_tags({replicate_tag(Tag.RESUMED_FROM, curves.prefix): trainer.iteration})
            curves.replay(trainer.history)
            if trainer.collapse.collapsed:
                collapse.flag(trainer, trainer.collapse.collapse_step or 0)
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(self.device)
        result = trainer.run(job.iterations)
        return self._measure(job, trainer, result)

    def _measure(self, job: Job, trainer: Trainer, result: TrainResult) -> Outcome:
        """Final model, then best checkpoint, on the whole validation and test sets."""
        from glasstune.objectives.cnn.inspect import confusion

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
        return Outcome(job.index, job.seed, result, val, test, final_val, final_test, matrix)

    # -- results and artifacts ------------------------------------------------------------------

    def _summary(self, jobs: list[Job]) -> dict[str, Any]:
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
            **self._intervals(float(val.mean()), float(values("test_accuracy").mean())),
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

    def _intervals(self, val: float, test: float) -> dict[str, Any]:
        """Set sizes and 95 % intervals of the accuracies: how finely these sets resolve them."""
        from glasstune.objectives.cnn.inspect import accuracy_interval

        n_val, n_test = len(self.split.val), len(self.split.test)
        return {"val_images": n_val, "test_images": n_test,
                "val_accuracy_ci95": list(accuracy_interval(val, n_val)),
                "test_accuracy_ci95": list(accuracy_interval(test, n_test))}

    def _replicate_record(self, outcome: Outcome) -> dict[str, Any]:
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

    def _drop_latest(self, jobs: list[Job]) -> None:
        from glasstune.objectives.cnn.checkpoints import LATEST

        if not self.objective.keep_latest:
            for job in jobs:
                (job.checkpoint_dir / LATEST).unlink(missing_ok=True)

