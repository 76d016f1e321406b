"""The lab's problem B: a CNN that tells glass from liquid configuration images, tuned by Optuna.

The network and protocol are the lab's (``network``, ``loop``). The score
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
from dataclasses import KW_ONLY, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from glasstune.errors import GlasstuneError
from glasstune.objectives.context import TrialContext, derive_seed

if TYPE_CHECKING:
    import optuna
    from torch import nn

    from glasstune.data.image_sets import ImageSet
    from glasstune.objectives.cnn.loop import TrainingProtocol

NetworkFactory = Callable[[tuple[int, int], Mapping[str, Any]], "nn.Module"]
DEFAULT_NETWORK = "glasstune.objectives.cnn.network:lab_network"
LEGACY_NETWORKS = {"glasstune.models.cnn:lab_network": DEFAULT_NETWORK}
"""Network names recorded in checkpoints made before the package's layout changed."""
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
    summary_columns: ClassVar[tuple[str, ...]] = ("val_accuracy", "test_accuracy", "final_val_accuracy", "collapsed")
    """What ``glasstune trials`` shows of each trial beside its value."""

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

    def training_protocol(self) -> TrainingProtocol:
        """How each replicate is trained and measured: this objective's fields of the same names."""
        from glasstune.objectives.cnn.loop import TrainingProtocol

        names = {item.name for item in fields(TrainingProtocol)}
        return TrainingProtocol(**{name: getattr(self, name) for name in names if hasattr(self, name)})

    def check_data(self, data: Any) -> None:
        """Before the first trial: glass/liquid images, enough of each class for the 70/15/15 split."""
        from glasstune.data.image_sets import ImageSet
        from glasstune.objectives.cnn.images import stratified_split

        if not isinstance(data, ImageSet):
            raise GlasstuneError(f"CNNObjective needs an image set (glasstune.data.images(...)), "
                                 f"got {type(data).__name__}")
        stratified_split(data.labels, seed=self.split_seed)

    def __call__(self, ctx: TrialContext) -> float:
        from glasstune.objectives.cnn.session import Job, TrialSession

        params = self.space(ctx.trial)
        seeds = [derive_seed(ctx.seed, index) for index in range(self.replicates)]
        session = TrialSession(ctx, ctx.data, self, self.network)
        ctx.log_params({f"cnn.{key}": value for key, value in params.items()})
        ctx.log_params({
            "cnn.iterations": self.iterations, "cnn.replicates": self.replicates,
            "cnn.eval_examples": self.eval_examples, "cnn.image_size": "x".join(map(str, session.image_size)),
            "cnn.split_seed": self.split_seed, "cnn.network": session.network_name,
        })
        jobs = [
            Job(index, params, seed, self.iterations, ctx.checkpoint_dir / f"rep{index}")
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
    from glasstune.objectives.cnn.checkpoints import BEST, LATEST, load_checkpoint
    from glasstune.objectives.cnn.session import Job, TrialSession

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
        jobs.append(Job(index, dict(identity["params"]), int(identity["seed"]), total, target, must_resume=True))
    assert settings is not None
    objective = replace(objective or CNNObjective(), **settings["protocol"], split_seed=int(settings["split_seed"]),
                        iterations=max(job.iterations for job in jobs), replicates=len(jobs))
    factory = network or _import_factory(settings["network"])
    session = TrialSession(ctx, data, objective, factory, network_name=settings["network"])
    if session.data_signature != settings["data"]:
        raise GlasstuneError(
            f"{checkpoint_dir}: these checkpoints were trained on other data "
            f"({settings['data']} vs {session.data_signature}); load the trial's data set"
        )
    return session.run(jobs, report=False, prune_on_collapse=False, summarize=False)


def replicate_dirs(checkpoint_dir: Path) -> list[Path]:
    from glasstune.objectives.cnn.checkpoints import LATEST

    if (checkpoint_dir / LATEST).exists():
        return [checkpoint_dir]
    found = sorted(
        (path.parent for path in checkpoint_dir.glob(f"rep*/{LATEST}")),
        key=lambda path: int(path.name[3:]) if path.name[3:].isdigit() else 0,
    )
    if not found:
        raise GlasstuneError(f"{checkpoint_dir}: no {LATEST} here or in rep*/ folders; is it a CNN trial's folder?")
    return found


def factory_name(factory: Any) -> str:
    module = getattr(factory, "__module__", None)
    qualname = getattr(factory, "__qualname__", None) or type(factory).__qualname__
    return f"{module}:{qualname}" if module else repr(factory)


def _import_factory(name: str) -> NetworkFactory:
    import importlib

    module_name, _, attribute = LEGACY_NETWORKS.get(name, name).partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as error:
        raise GlasstuneError(
            f"the checkpoint was trained with network {name!r}, which cannot be imported here; pass network="
        ) from error
    return target
