"""Run a study: create or resume the Optuna study, run trials until the budget is met, track each.

The budget is the total number of finished (complete or pruned) trials, so a re-run after an
interruption only adds what is missing. Failed trials do not count; several failures in a row stop
the study with the last error, since they point at a bug rather than a bad configuration.
"""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glasstune.config import STORE_DIR
from glasstune.data.provenance import is_synthetic
from glasstune.data.sources import describe
from glasstune.data.table import FeatureTable, check_rows_for_folds
from glasstune.errors import GlasstuneError
from glasstune.objectives.base import TrialContext
from glasstune.progress import StudyProgress
from glasstune.spec import Study
from glasstune.urls import redact

MAX_CONSECUTIVE_FAILURES = 5
ATTR = "glasstune."


@dataclass
class RunOptions:
    storage: str
    tracking_uri: str
    n_trials: int | None = None
    timeout: float | None = None
    seed: int | None = None
    device: str = "auto"
    progress: bool = True
    worker: int = 0


@dataclass
class RunSummary:
    study_name: str
    budget: int
    finished: int
    new_trials: int
    experiment_id: str | None = None
    parent_run_id: str | None = None
    best: dict[str, Any] | None = None
    states: dict[str, int] = field(default_factory=dict)
    stopped_reason: str | None = None


def trial_seed(study_seed: int, trial_number: int) -> int:
    """A per-trial seed that depends only on the study seed and the trial number."""
    import numpy as np

    return int(np.random.SeedSequence([study_seed, trial_number]).generate_state(1)[0] % (2**31 - 1))


def finished_trials(study: Any) -> list[Any]:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def quiet_libraries(debug: bool = False) -> None:
    """Optuna and MLflow talk a lot at INFO; the progress display says what matters."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.INFO if debug else optuna.logging.ERROR)
    for name in ("alembic", "mlflow", "urllib3"):
        logging.getLogger(name).setLevel(logging.INFO if debug else logging.WARNING)


def create_or_load(spec: Study, storage: Any, seed: int, worker: int = 0) -> Any:
    import optuna

    sampler = spec.sampler or optuna.samplers.TPESampler(seed=seed + worker)
    pruner = spec.pruner or optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    return optuna.create_study(storage=storage, study_name=spec.name, direction=spec.direction,
                               sampler=sampler, pruner=pruner, load_if_exists=True)


@dataclass
class PreparedStudy:
    """A study ready for trials: data loaded, Optuna study and MLflow parent run in place."""

    study: Any
    data: Any
    provenance: dict
    tracker: Any
    summary: RunSummary
    seed: int

    @property
    def finished(self) -> bool:
        return self.summary.stopped_reason == "already finished"


def prepare_study(spec: Study, options: RunOptions) -> PreparedStudy:
    """Everything before the first trial, so bad data or stores fail before any work is done."""
    from glasstune.storage import open_storage
    from glasstune.tracking import Tracker

    data = spec.data.load()
    n_folds = getattr(spec.objective, "n_folds", None)
    if n_folds and isinstance(data, FeatureTable):
        check_rows_for_folds(data, n_folds)  # fail now, not in trial 0
    provenance = getattr(data, "provenance", {})
    storage = open_storage(options.storage)
    tracker = Tracker.open(options.tracking_uri)
    study = create_or_load(spec, storage, options.seed if options.seed is not None else spec.seed,
                           options.worker)
    seed = _record_study(study, spec, options, provenance)
    budget = options.n_trials or spec.n_trials
    done = len(finished_trials(study))
    experiment_id = tracker.experiment_id(spec.name)
    summary = RunSummary(spec.name, budget, done, 0, experiment_id)
    prepared = PreparedStudy(study, data, provenance, tracker, summary, seed)
    known_parent = study.user_attrs.get(ATTR + "mlflow_parent_run_id")
    if done >= budget:
        summary.parent_run_id = known_parent
        summary.best = best_trial_info(study)
        summary.stopped_reason = "already finished"
        return prepared
    if options.worker and known_parent:
        summary.parent_run_id = known_parent  # the coordinator made it and will close it
        return prepared
    summary.parent_run_id = tracker.study_run(
        experiment_id, spec.name, known_parent,
        tags={"glasstune.synthetic": str(is_synthetic(provenance)).lower(),
              "glasstune.data": str(provenance.get("name", "")),
              "glasstune.optuna_storage": redact(options.storage)},
    )
    study.set_user_attr(ATTR + "mlflow_parent_run_id", summary.parent_run_id)
    study.set_user_attr(ATTR + "mlflow_experiment_id", experiment_id)
    return prepared


def run_study(spec: Study, options: RunOptions) -> RunSummary:
    """Run trials in this process until the study has its budget of finished trials."""
    prepared = prepare_study(spec, options)
    summary, study = prepared.summary, prepared.study
    if prepared.finished:
        return summary
    device = _device_for(spec.objective, options.device)
    with StudyProgress(spec.name, summary.budget, summary.finished, enabled=options.progress) as progress:
        runner = _TrialRunner(spec, prepared.data, prepared.provenance, prepared.tracker, summary.experiment_id,
                              summary.parent_run_id, prepared.seed, device, progress, summary.budget,
                              options.worker)
        study.optimize(runner, timeout=options.timeout or spec.timeout, catch=(Exception,),
                       callbacks=[runner.after_trial])
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):  # the last worker out closes it
        prepared.tracker.finish_study_run(summary.parent_run_id)
    summary.finished = len(finished_trials(study))
    summary.new_trials = runner.count
    summary.best = best_trial_info(study)
    summary.stopped_reason = runner.stop_reason
    if runner.stop_reason and runner.stop_reason.startswith("failures"):
        raise GlasstuneError(
            f"study {spec.name} stopped: {MAX_CONSECUTIVE_FAILURES} trials failed in a row; "
            f"last error: {runner.last_error}", exit_code=1)
    return summary


def _record_study(study: Any, spec: Study, options: RunOptions, provenance: dict) -> int:
    """First run: remember seed, data and study file; later runs use the recorded seed."""
    attrs = study.user_attrs
    if ATTR + "seed" not in attrs or options.seed is not None:
        study.set_user_attr(ATTR + "seed", options.seed if options.seed is not None else spec.seed)
    if ATTR + "data" not in attrs:
        study.set_user_attr(ATTR + "data", describe(spec.data))
        study.set_user_attr(ATTR + "provenance", provenance)
        study.set_user_attr(ATTR + "objective", type(spec.objective).__name__)
        study.set_user_attr(ATTR + "metric", getattr(spec.objective, "metric", "value"))
    if spec.source_file is not None:
        study.set_user_attr(ATTR + "study_file", str(spec.source_file))
    return int(study.user_attrs[ATTR + "seed"])


def _device_for(objective: Any, requested: str) -> str:
    if not getattr(objective, "uses_device", False):
        return "cpu"
    from glasstune.training.device import resolve_device

    return resolve_device(requested)


def best_trial_info(study: Any) -> dict[str, Any] | None:
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    best = study.best_trial
    return {"number": best.number, "value": best.value, "params": best.params,
            "user_attrs": best.user_attrs}


class _TrialRunner:
    """Optuna's objective function: one tracked trial per call."""

    def __init__(self, spec: Study, data: Any, provenance: dict, tracker: Any, experiment_id: str,
                 parent_id: str, seed: int, device: str, progress: StudyProgress, budget: int,
                 worker: int = 0) -> None:
        self.spec, self.data, self.provenance = spec, data, provenance
        self.tracker, self.experiment_id, self.parent_id = tracker, experiment_id, parent_id
        self.seed, self.device, self.progress, self.budget = seed, device, progress, budget
        self.worker = worker
        self.count = 0
        self.failures_in_a_row = 0
        self.last_error = ""
        self.stop_reason: str | None = None
        self._runs: dict[int, Any] = {}
        self._checked_failures: set[str] = set()

    def __call__(self, trial: Any) -> float:
        self.progress.trial_started(trial.number)
        try:
            return self._run(trial)
        except BaseException as error:
            if "error" not in trial.user_attrs and not _is_pruned(error):
                trial.set_user_attr("error", _one_line(error))
            raise

    def _run(self, trial: Any) -> float:
        import optuna

        close_orphan_runs(trial.study, self.tracker, self._checked_failures)
        seed = trial_seed(self.seed, original_trial_number(trial))
        trial.set_user_attr("seed", seed)
        trial.set_user_attr("worker", self.worker)
        run = self.tracker.start_trial(self.experiment_id, self.parent_id, self.spec.name, trial.number,
                                       tags=self._tags(seed))
        self._runs[trial.number] = run
        trial.set_user_attr("mlflow_run_id", run.run_id)
        with tempfile.TemporaryDirectory(prefix=f"glasstune-trial{trial.number}-") as workdir:
            ctx = TrialContext(
                trial=trial, data=self.data, seed=seed, workdir=Path(workdir),
                checkpoint_dir=self._checkpoint_dir(trial), sink=run, device=self.device,
                on_status=lambda text: self.progress.status(trial.number, text),
            )
            try:
                value = float(self.spec.objective(ctx))
                if not math.isfinite(value):
                    raise ValueError(f"objective returned {value}")
            except optuna.TrialPruned as pruned:
                run.log_params(trial.params)
                run.end("PRUNED", str(pruned) or "pruned")
                raise
            except BaseException as error:
                reason = _one_line(error)
                trial.set_user_attr("error", reason)
                run.log_params(trial.params)
                _log_traceback(run, Path(workdir))
                run.end("FAIL", reason)
                raise
            run.log_params(trial.params)
            run.log_metrics([("objective_value", value, None)])
            run.end("COMPLETE")
            return value

    def after_trial(self, study: Any, trial: Any) -> None:
        from optuna.trial import TrialState

        self.count += 1
        state = trial.state.name
        note = trial.user_attrs.get("error") or trial.user_attrs.get("prune_reason") or ""
        run = self._runs.pop(trial.number, None)
        if run is not None and run.failures:
            note = f"{note} [{run.failures} MLflow logging error(s)]".strip()
        best = best_trial_info(study)
        finished = len(finished_trials(study))
        running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        self.progress.trial_finished(trial.number, state, trial.value, best and best["value"], note,
                                     finished_count=finished)
        if trial.state == TrialState.FAIL:
            self.failures_in_a_row += 1
            self.last_error = trial.user_attrs.get("error", "unknown error")
        else:
            self.failures_in_a_row = 0
        if finished + running >= self.budget:  # other workers' running trials will fill the budget
            self.stop_reason = "budget"
            study.stop()
        elif self.failures_in_a_row >= MAX_CONSECUTIVE_FAILURES:
            self.stop_reason = "failures"
            study.stop()

    def _tags(self, seed: int) -> dict[str, str]:
        return {
            "glasstune.seed": str(seed),
            "glasstune.data": str(self.provenance.get("name", "")),
            "glasstune.synthetic": str(is_synthetic(self.provenance)).lower(),
            "glasstune.data_generator": str(self.provenance.get("generator", self.provenance.get("engine", ""))),
            "glasstune.device": self.device,
            "glasstune.worker": str(self.worker),
        }

    def _checkpoint_dir(self, trial: Any) -> Path:
        """Keyed by the original trial number, so a retried trial finds its predecessor's files."""
        number = original_trial_number(trial)
        path = STORE_DIR / "checkpoints" / self.spec.name / f"trial-{number:04d}"
        path.mkdir(parents=True, exist_ok=True)
        return path


def close_orphan_runs(study: Any, tracker: Any, checked: set[str]) -> int:
    """A worker killed mid-trial leaves a RUNNING MLflow run; once Optuna has failed its stale trial
    (heartbeat), end that run FAILED. ``checked`` holds run ids already looked at, so each failed
    trial costs one MLflow lookup per process, not one per trial. Returns how many runs were closed."""
    from optuna.trial import TrialState

    closed = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        run_id = trial.user_attrs.get("mlflow_run_id")
        if not run_id or trial.user_attrs.get("error") or run_id in checked:
            continue  # a failure our own runner saw has its run closed already
        checked.add(run_id)
        try:
            if tracker.client.get_run(run_id).info.status == "RUNNING":
                tracker.client.set_tag(run_id, "glasstune.state", "FAIL")
                tracker.client.set_tag(run_id, "glasstune.error", "worker stopped (no heartbeat); trial retried")
                tracker.client.set_terminated(run_id, status="FAILED")
                closed += 1
        except Exception:
            continue
    return closed


def original_trial_number(trial: Any) -> int:
    """A retried trial (its worker died) counts as the trial it retries: same seed, same checkpoints."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
    original = RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)
    return trial.number if original is None else int(original)


def _is_pruned(error: BaseException) -> bool:
    import optuna

    return isinstance(error, optuna.TrialPruned)


def _one_line(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]


def _log_traceback(run: Any, workdir: Path) -> None:
    import traceback

    path = workdir / "traceback.txt"
    path.write_text(traceback.format_exc())
    run.log_artifact(path)
