"""Continue training a finished CNN trial's model for more iterations, as a new MLflow run.

The search compared trials on their recorded budgets, so a continuation is not a new Optuna trial
and never changes one: trial N's record in Optuna and its own checkpoint folder stay as they were.
The continued model is trained from trial N's ``latest.pt`` (optimizer, RNG, history and best-so-far
included), its checkpoints go to a folder of its own beside the trial's, and its curves and
artifacts go to a new MLflow run, a child of the study's parent run that names the run it continues.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from glasstune.errors import GlasstuneError
from glasstune.objectives.context import TrialContext
from glasstune.stores.names import Role, StudyAttr, Tag, TrialAttr, data_tags
from glasstune.study.spec import Study


@dataclass(frozen=True)
class ContinuationResult:
    """What a continuation did, enough for the one-line summary and for tests."""

    study_name: str
    trial_number: int
    run_id: str
    continued_from_run: str | None
    val_accuracy_before: float | None
    val_accuracy_after: float
    iterations_before: int
    iterations_after: int
    checkpoint_dir: Path

    def line(self) -> str:
        """One line: best-validation accuracy and iterations before -> after, and the new run."""
        before = "n/a" if self.val_accuracy_before is None else f"{self.val_accuracy_before:.4f}"
        return (f"trial {self.trial_number} of {self.study_name} continued: best-validation accuracy "
                f"{before} -> {self.val_accuracy_after:.4f}, iterations {self.iterations_before} -> "
                f"{self.iterations_after}; MLflow run {self.run_id} (trial {self.trial_number} in Optuna "
                f"unchanged)")


def continue_trial(
    spec: Study,
    trial_number: int,
    iterations: int,
    *,
    storage: str,
    tracking_uri: str,
    device: str = "auto",
    on_status: Callable[[str], None] | None = None,
) -> ContinuationResult:
    """Train trial ``trial_number`` of ``spec``'s study for ``iterations`` more iterations.

    Every check that can fail (trial, checkpoints, tracking store, device, data) runs before the
    MLflow run exists, so a refused continuation records nothing. The study's data is loaded from
    the study file as ``glasstune run`` loads it; checkpoints trained on other data are refused.
    """
    from glasstune.config import trial_checkpoint_dir
    from glasstune.errors import one_line
    from glasstune.objectives.cnn.objective import CNNObjective, continue_training, replicate_dirs
    from glasstune.objectives.device import device_for
    from glasstune.results.trials import load_study
    from glasstune.stores.tracking import Tracker
    from glasstune.study.seeds import original_trial_number, trial_seed

    if int(iterations) < 1:
        raise GlasstuneError(f"--iterations {iterations}: give the number of iterations to add (at least 1)")
    study = load_study(spec.name, storage)
    trial = _find_trial(study, trial_number)
    number = original_trial_number(SimpleNamespace(study=study, number=trial.number))
    source = trial_checkpoint_dir(spec.name, number)
    if not isinstance(spec.objective, CNNObjective):
        raise GlasstuneError(
            f"trial {trial_number} of {spec.name} has no checkpoints: its objective is "
            f"{type(spec.objective).__name__}, and only CNN trials keep checkpoints to continue from")
    try:
        replicate_dirs(source)
    except GlasstuneError as error:
        raise GlasstuneError(
            f"trial {trial_number} of {spec.name} has no checkpoints to continue from: no latest.pt in "
            f"{source} or its rep*/ folders (deleted, kept with keep_latest=False, or another working "
            f"folder: run glasstune continue where the study ran)") from error

    tracker = Tracker.open(tracking_uri)
    original_run = trial.user_attrs.get(TrialAttr.RUN_ID)
    experiment_id, parent_id = _placement(study, tracker, original_run, spec.name)
    device = device_for(spec.objective, device)
    data = spec.data.load()
    provenance = getattr(data, "provenance", {}) or {}
    seed = int(trial.user_attrs.get(TrialAttr.SEED, trial_seed(int(study.user_attrs.get(StudyAttr.SEED, spec.seed)),
                                                                number)))

    target = source.with_name(f"{source.name}-continued-{uuid.uuid4().hex[:8]}")
    tags = {
        Tag.PARENT: parent_id,
        Tag.ROLE: Role.CONTINUATION,
        Tag.STUDY: spec.name,
        Tag.TRIAL_NUMBER: str(trial_number),
        Tag.CONTINUED_FROM: original_run or "",
        Tag.STATE: "RUNNING",
        Tag.EXTRA_ITERATIONS: str(iterations),
        Tag.CHECKPOINT_DIR: str(target),
        Tag.SEED: str(seed),
        Tag.DEVICE: device,
        **data_tags(provenance),
    }
    sink = _LazyRun(tracker, experiment_id, f"trial-{trial_number:03d}-continued",
                    {key: value for key, value in tags.items() if value})
    network = spec.objective.network
    with tempfile.TemporaryDirectory(prefix=f"glasstune-continue{trial_number}-") as workdir:
        ctx = TrialContext(trial=trial, data=data, seed=seed, workdir=Path(workdir), checkpoint_dir=target,
                           sink=sink, device=device, on_status=on_status)
        try:
            summary = continue_training(source, data, int(iterations), ctx, network=network,
                                        objective=spec.objective)
        except BaseException as error:
            shutil.rmtree(target, ignore_errors=True)  # a half-done continuation cannot be resumed
            if sink.run is not None:
                sink.run.end("FAIL", one_line(error))
            if isinstance(error, GlasstuneError):  # e.g. other data: say which trial it is about
                raise GlasstuneError(f"cannot continue trial {trial_number} of {spec.name}: {error}",
                                     exit_code=error.exit_code) from error
            raise
        run = sink.require()
        run.log_params({**trial.params, "continued.extra_iterations": int(iterations),
                        "continued.from_trial": trial_number})
        run.log_metrics([("objective_value", float(summary["val_accuracy"]), None)])
        run.end("COMPLETE")
    before = [record.get("resumed_from") for record in summary["per_replicate"]]
    return ContinuationResult(
        study_name=spec.name, trial_number=trial_number, run_id=run.run_id, continued_from_run=original_run,
        val_accuracy_before=_recorded_score(trial), val_accuracy_after=float(summary["val_accuracy"]),
        iterations_before=max(int(value) for value in before if value is not None),
        iterations_after=int(summary["iterations"]), checkpoint_dir=target,
    )


def _find_trial(study: Any, number: int) -> Any:
    """A copy of trial ``number``: what the continuation may read, never a handle to write through."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=True)
    found = next((trial for trial in trials if trial.number == number), None)
    if found is None:
        known = f"trials 0-{max(t.number for t in trials)}" if trials else "no trials yet"
        raise GlasstuneError(f"study {study.study_name!r} has no trial {number} ({known}); "
                             f"see glasstune trials {study.study_name}")
    if found.state in (TrialState.RUNNING, TrialState.WAITING):
        raise GlasstuneError(f"trial {number} of {study.study_name} is {found.state.name.lower()}; "
                             f"continue it once it has finished")
    return found


def _placement(study: Any, tracker: Any, original_run: str | None, name: str) -> tuple[str, str]:
    """The study's experiment and parent run, as recorded by ``glasstune run`` (checked to exist here)."""
    experiment_id = study.user_attrs.get(StudyAttr.EXPERIMENT)
    parent_id = study.user_attrs.get(StudyAttr.PARENT_RUN)
    if original_run:
        run_experiment, run_parent = tracker.run_placement(original_run)
        experiment_id = experiment_id or run_experiment
        parent_id = parent_id or run_parent
    if not experiment_id or not parent_id:
        raise GlasstuneError(f"study {name} has no MLflow parent run recorded; was it run with glasstune run?")
    return str(experiment_id), str(parent_id)


def _recorded_score(trial: Any) -> float | None:
    """The trial's own best-checkpoint validation accuracy, as the search saw it."""
    value = trial.user_attrs.get("val_accuracy", trial.value)
    return None if value is None else float(value)


class _LazyRun:
    """A sink whose MLflow run is made on first use, so checks that fail before training record nothing."""

    def __init__(self, tracker: Any, experiment_id: str, run_name: str, tags: Mapping[str, str]) -> None:
        self.tracker, self.experiment_id, self.run_name, self.tags = tracker, experiment_id, run_name, dict(tags)
        self.run: Any = None

    def require(self) -> Any:
        if self.run is None:
            self.run = self.tracker.new_run(self.experiment_id, self.run_name, self.tags)
        return self.run

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.require().log_params(params)

    def log_metrics(self, metrics: Any) -> None:
        self.require().log_metrics(metrics)

    def log_artifact(self, path: Path, artifact_dir: str | None = None) -> None:
        self.require().log_artifact(path, artifact_dir)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.require().set_tags(tags)
