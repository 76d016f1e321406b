"""Run a study: create or resume the Optuna study, run trials until the budget is met, track each.

The budget is the total number of finished (complete or pruned) trials, so a re-run after an
interruption only adds what is missing. Failed trials do not count; several failures in a row stop
the study with the last error, since they point at a bug rather than a bad configuration.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glasstune.config import STORE_DIR
from glasstune.data.provenance import is_synthetic
from glasstune.data.sources import describe
from glasstune.data.table import FeatureTable, check_rows_for_folds
from glasstune.errors import GlasstuneError, StoreError
from glasstune.objectives.base import TrialContext
from glasstune.progress import StudyProgress
from glasstune.spec import Study
from glasstune.start_gate import StartGate
from glasstune.urls import redact

log = logging.getLogger(__name__)
MAX_CONSECUTIVE_FAILURES = 5
ATTR = "glasstune."
INTERRUPTED = "interrupted (Ctrl-C)"


class TrialInterrupted(Exception):
    """Ctrl-C during a trial, once the trial's run is closed: an ordinary exception, so Optuna
    records the trial FAIL through its normal path and calls the callbacks, which stop the study."""


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
    fail_stale: bool = False


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
    failed_stale: list[int] = field(default_factory=list)


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


def default_pruner() -> Any:
    """Prune a trial whose intermediate value is in the bottom quarter of the trials' values at the
    same step, from its first report, once 5 trials have finished. Why not the median: held-out
    scores after a few epochs are noisy, and median pruning dropped good short configurations with
    them (on the lab's T = 0.45 set it missed the grid's best in 1 of 8 seeds, 121 of 144 trials
    pruned); the bottom quarter never missed and was as fast (benchmarks/README.md)."""
    import optuna

    return optuna.pruners.PercentilePruner(75.0, n_startup_trials=5, n_warmup_steps=1)


def create_or_load(spec: Study, storage: Any, seed: int, worker: int = 0) -> Any:
    import optuna

    sampler = spec.sampler or optuna.samplers.TPESampler(seed=seed + worker)
    pruner = spec.pruner or default_pruner()
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
    """Everything before the first trial, so bad data or stores fail before any work is done.

    The MLflow store is read, then written (experiment, parent run, its tags and ``study.json``)
    before any trial: a store that is unreachable or read-only stops here with one line."""
    from glasstune.storage import open_storage
    from glasstune.tracking import Tracker

    data = spec.data.load()
    n_folds = getattr(spec.objective, "n_folds", None)
    if n_folds and isinstance(data, FeatureTable):
        check_rows_for_folds(data, n_folds)  # fail now, not in trial 0
    provenance = getattr(data, "provenance", {})
    storage = open_storage(options.storage)
    tracker = Tracker.open(options.tracking_uri)
    # the experiment first: a store that cannot be written fails before the Optuna study exists
    experiment_id = _writing(tracker, lambda: tracker.experiment_id(spec.name))
    study = create_or_load(spec, storage, options.seed if options.seed is not None else spec.seed,
                           options.worker)
    budget = options.n_trials or spec.n_trials
    known_parent = study.user_attrs.get(ATTR + "mlflow_parent_run_id")
    parent_run_id = known_parent
    needs_work = len(finished_trials(study)) < budget
    if needs_work:  # prove the store writable before this run writes anything to the study
        tags = {"glasstune.synthetic": str(is_synthetic(provenance)).lower(),
                "glasstune.data": str(provenance.get("name", "")),
                "glasstune.optuna_storage": redact(options.storage)}
        if not (options.worker and known_parent):  # a worker's coordinator made it and will close it
            parent_run_id = _writing(
                tracker, lambda: tracker.study_run(experiment_id, spec.name, known_parent, tags=tags))
        tracker.check_writable(parent_run_id, tags, _study_document(spec, study, options, budget, provenance))
    failed_stale = _fail_stale(study, storage, tracker) if options.fail_stale else []
    seed = _record_study(study, spec, options, provenance)
    if parent_run_id != known_parent:
        study.set_user_attr(ATTR + "mlflow_parent_run_id", parent_run_id)
        study.set_user_attr(ATTR + "mlflow_experiment_id", experiment_id)
    done = len(finished_trials(study))
    summary = RunSummary(spec.name, budget, done, 0, experiment_id, parent_run_id=parent_run_id,
                         failed_stale=failed_stale)
    prepared = PreparedStudy(study, data, provenance, tracker, summary, seed)
    if not needs_work:
        summary.best = best_trial_info(study)
        summary.stopped_reason = "already finished"
    return prepared


def _writing(tracker: Any, step: Any) -> Any:
    """A tracking step before the first trial: any failure is the store's, said in one line."""
    from glasstune.tracking import first_line

    try:
        return step()
    except GlasstuneError:
        raise
    except Exception as error:
        raise StoreError(f"MLflow store {redact(tracker.tracking_uri)} is not writable: {first_line(error)}; "
                         f"check --tracking-uri or $MLFLOW_TRACKING_URI") from error


def _study_document(spec: Study, study: Any, options: RunOptions, budget: int, provenance: dict) -> dict[str, Any]:
    """``study.json`` on the parent run: what the study is, readable without Optuna."""
    seed = options.seed if options.seed is not None else study.user_attrs.get(ATTR + "seed", spec.seed)
    return {"study": spec.name, "description": spec.description, "budget": budget,
            "direction": spec.direction, "seed": seed, "objective": type(spec.objective).__name__,
            "metric": getattr(spec.objective, "metric", "value"), "data": describe(spec.data),
            "provenance": provenance, "study_file": str(spec.source_file) if spec.source_file else None,
            "optuna_storage": redact(options.storage)}


def _fail_stale(study: Any, storage: Any, tracker: Any) -> list[int]:
    """``--fail-stale``: RUNNING trials no process runs any more become FAIL before the first trial."""
    from glasstune.doctor import fail_stale_trials

    return fail_stale_trials(study, storage, tracker.client, everything_running=True)


def run_study(spec: Study, options: RunOptions) -> RunSummary:
    """Run trials in this process until the study has its budget of finished trials.

    Ctrl-C ends the running trial as FAIL ("interrupted (Ctrl-C)"; its run KILLED), closes the
    parent run if no other worker is running a trial, and raises KeyboardInterrupt: the study is
    intact and the same command resumes it."""
    from glasstune.tracking import bound_http_retries
    from glasstune.tracking_writer import BackgroundWriter

    bound_http_retries()  # the writer's process inherits them
    try:
        writer = BackgroundWriter()  # it imports MLflow while the study is prepared
    except (OSError, ValueError) as error:  # no child process here: records are written in this one
        log.warning("MLflow records are written in the study's process (%s)", error)
        writer = None
    try:
        return _run_trials(spec, options, writer)
    finally:
        if writer is not None:
            writer.close()


def _run_trials(spec: Study, options: RunOptions, writer: Any) -> RunSummary:
    prepared = prepare_study(spec, options)
    summary, study = prepared.summary, prepared.study
    if prepared.finished:
        return summary
    device = device_for(spec.objective, options.device)
    if writer is not None:
        writer.open(options.tracking_uri)
    try:
        gate = StartGate(study, summary.budget, options.storage)
        with StudyProgress(spec.name, summary.budget, summary.finished, enabled=options.progress) as progress:
            runner = _TrialRunner(spec, prepared.data, prepared.provenance, prepared.tracker,
                                  summary.experiment_id, summary.parent_run_id, prepared.seed, device, progress,
                                  gate, options.worker, writer)
            try:
                if gate.admit():
                    study.optimize(runner, timeout=options.timeout or spec.timeout, catch=(Exception,),
                                   callbacks=[runner.after_trial])
                else:  # other workers' running trials fill the budget
                    runner.stop_reason = "budget"
            finally:
                gate.close()
                runner.check_tracking(wait=True)  # every run complete before the command says it is done
    except KeyboardInterrupt:  # between trials, or a second Ctrl-C (which also stops waiting for tracking)
        _close_parent_if_idle(prepared, "KILLED")
        raise
    except GlasstuneError:  # a store failed on the way: said in one line, the parent run not left open
        _close_parent_if_idle(prepared, "FAILED")
        raise
    if runner.interrupted:
        _close_parent_if_idle(prepared, "KILLED")
        raise KeyboardInterrupt
    _close_parent_if_idle(prepared, "FINISHED")
    summary.finished = len(finished_trials(study))
    summary.new_trials = runner.count
    summary.best = best_trial_info(study)
    summary.stopped_reason = runner.stop_reason
    if runner.stop_reason and runner.stop_reason.startswith("failures"):
        raise GlasstuneError(
            f"study {spec.name} stopped: {MAX_CONSECUTIVE_FAILURES} trials failed in a row; "
            f"last error: {runner.last_error}", exit_code=1)
    return summary


def _close_parent_if_idle(prepared: PreparedStudy, status: str) -> None:
    """The last worker out closes the parent run; a later run of the study opens it again."""
    from optuna.trial import TrialState

    if not prepared.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        prepared.tracker.finish_study_run(prepared.summary.parent_run_id, status)


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


def device_for(objective: Any, requested: str) -> str:
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
                 parent_id: str, seed: int, device: str, progress: StudyProgress, gate: StartGate,
                 worker: int = 0, writer: Any = None) -> None:
        self.spec, self.data, self.provenance = spec, data, provenance
        self.tracker, self.experiment_id, self.parent_id = tracker, experiment_id, parent_id
        self.seed, self.device, self.progress, self.gate = seed, device, progress, gate
        self.worker = worker
        self.gpu = gpu_label(device)
        self.count = 0
        self.failures_in_a_row = 0
        self.last_error = ""
        self.stop_reason: str | None = None
        self.interrupted = False
        self.writer = writer
        self._runs: dict[int, Any] = {}
        self._writing: dict[str, tuple[int, Any, int]] = {}
        """run id -> (trial number, run, the writer's mark) of runs whose records are still being written"""
        self._checked_failures: set[str] = set()

    def __call__(self, trial: Any) -> float:
        self.gate.release()  # the trial is RUNNING: another worker may count it now
        self.progress.trial_started(trial.number)
        try:
            return self._run(trial)
        except KeyboardInterrupt as error:
            self._interrupt(trial)
            raise TrialInterrupted(INTERRUPTED) from error
        except BaseException as error:
            if "error" not in trial.user_attrs and not _is_pruned(error):
                trial.set_user_attr("error", one_line(error))
            raise

    def _interrupt(self, trial: Any) -> None:
        """Ctrl-C: the reason on the trial, its run ended KILLED; Optuna then records FAIL."""
        self.interrupted = True
        trial.set_user_attr("error", INTERRUPTED)
        trial.set_user_attr("interrupted", True)
        run = self._runs.get(trial.number)
        if run is not None:
            run.log_params(trial.params)
            run.end("FAIL", INTERRUPTED, interrupted=True)
            self._follow(trial.number, run)

    def _run(self, trial: Any) -> float:
        import optuna

        close_orphan_runs(trial.study, self.tracker, self._checked_failures)
        seed = trial_seed(self.seed, original_trial_number(trial))
        trial.set_user_attr("seed", seed)
        trial.set_user_attr("worker", self.worker)
        if self.gpu is not None:
            trial.set_user_attr("gpu", self.gpu)
        run = self.tracker.start_trial(self.experiment_id, self.parent_id, self.spec.name, trial.number,
                                       tags=self._tags(seed), writer=self._live_writer())
        self._runs[trial.number] = run
        if run.run_id is not None:
            trial.set_user_attr("mlflow_run_id", run.run_id)
        else:
            trial.set_user_attr("mlflow_error", run.error or "MLflow run not created")
        workdir = Path(tempfile.mkdtemp(prefix=f"glasstune-trial{trial.number}-"))  # the run's files, until logged
        ctx = TrialContext(
            trial=trial, data=self.data, seed=seed, workdir=workdir,
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
        except KeyboardInterrupt:
            raise  # __call__ closes the run as interrupted
        except BaseException as error:
            reason = one_line(error)
            trial.set_user_attr("error", reason)
            run.log_params(trial.params)
            _log_traceback(run, workdir)
            run.end("FAIL", reason)
            raise
        else:
            run.log_params(trial.params)
            run.log_metrics([("objective_value", value, None)])
            run.end("COMPLETE")
            return value
        finally:
            run.discard(workdir)
            self._follow(trial.number, run)

    def _live_writer(self) -> Any:
        """The background writer while it lives; if its process has died, records are written here."""
        if self.writer is not None and not self.writer.alive:
            self.progress.note("the MLflow writing process stopped; later trials' records are written in this "
                               "process (glasstune doctor STUDY finds runs it left unfinished)")
            self.writer = None
        return self.writer

    def _follow(self, number: int, run: Any) -> None:
        """Watch the writer until this run's records are written, to say if any failed."""
        if run.writer is not None and run.run_id is not None:
            self._writing[run.run_id] = (number, run, run.writer.mark())

    def check_tracking(self, wait: bool = False) -> None:
        """Take in the writer's reports; a trial whose records are all written and some failed gets
        a line (the trial's own line came before its records were written). ``wait``: drain first."""
        if self.writer is None:
            return
        if wait and not self.writer.drain():
            self.progress.note("the MLflow writing process stopped before it wrote every record; "
                               "glasstune doctor STUDY finds the runs it left unfinished")
        self.writer.poll()
        for run_id, error in self.writer.errors():
            if run_id in self._writing:
                self._writing[run_id][1].note_failure(error)
            elif run_id is None:
                log.warning("MLflow store: %s", error)
                self.progress.note(f"MLflow store: {error}")
        for run_id, (number, run, mark) in list(self._writing.items()):
            if self.writer.synced >= mark:
                del self._writing[run_id]
                if run.failures:
                    self.progress.note(f"trial {number:>3} [{run.failures} MLflow logging error(s)] {run.error}")

    def after_trial(self, study: Any, trial: Any) -> None:
        from optuna.trial import TrialState

        self.count += 1
        self.check_tracking()
        state = trial.state.name
        note = trial.user_attrs.get("error") or trial.user_attrs.get("prune_reason") or ""
        run = self._runs.pop(trial.number, None)
        if run is not None and run.failures:
            note = f"{note} [{run.failures} MLflow logging error(s)]".strip()
        best = best_trial_info(study)
        finished = len(finished_trials(study))
        self.progress.trial_finished(trial.number, state, trial.value, best and best["value"], note,
                                     finished_count=finished)
        if self.interrupted:
            self.stop_reason = "interrupted"
            study.stop()
            return
        if trial.state == TrialState.FAIL:
            self.failures_in_a_row += 1
            self.last_error = trial.user_attrs.get("error", "unknown error")
        else:
            self.failures_in_a_row = 0
        if not self.gate.admit():  # finished trials and those running elsewhere fill the budget
            self.stop_reason = "budget"
            study.stop()
        elif self.failures_in_a_row >= MAX_CONSECUTIVE_FAILURES:
            self.gate.release()
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
            **({"glasstune.gpu": self.gpu} if self.gpu is not None else {}),
        }

    def _checkpoint_dir(self, trial: Any) -> Path:
        """Keyed by the original trial number, so a retried trial finds its predecessor's files."""
        path = trial_checkpoint_dir(self.spec.name, original_trial_number(trial))
        path.mkdir(parents=True, exist_ok=True)
        return path


def trial_checkpoint_dir(study_name: str, trial_number: int) -> Path:
    """Where a trial keeps its checkpoints (``glasstune resume`` reads them from here)."""
    return STORE_DIR / "checkpoints" / study_name / f"trial-{trial_number:04d}"


def close_orphan_runs(study: Any, tracker: Any, checked: set[str]) -> int:
    """A worker killed mid-trial leaves a RUNNING MLflow run; once Optuna has failed its stale trial
    (heartbeat), end that run FAILED. ``checked`` holds run ids already looked at, so each failed
    trial costs one MLflow lookup per process, not one per trial. Returns how many runs were closed."""
    from optuna.trial import TrialState

    from glasstune.tracking import STALE_REASON, end_run

    closed = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        run_id = trial.user_attrs.get("mlflow_run_id")
        if not run_id or trial.user_attrs.get("error") or run_id in checked:
            continue  # a failure our own runner saw has its run closed already
        checked.add(run_id)
        try:
            if tracker.client.get_run(run_id).info.status == "RUNNING":
                end_run(tracker.client, run_id, "FAIL", "FAILED", {"glasstune.error": STALE_REASON})
                closed += 1
        except Exception:
            continue
    return closed


def gpu_label(device: str) -> str | None:
    """Which GPU a CUDA device is, as the machine numbers them: this process's CUDA_VISIBLE_DEVICES
    (set per worker by ``--workers``/``--gpus``, or by a scheduler), else the device's index."""
    if not device.startswith("cuda"):
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    index = int(device.partition(":")[2] or 0)
    if visible:
        ids = [part.strip() for part in visible.split(",") if part.strip()]
        return ids[index] if index < len(ids) else visible
    return str(index)


def original_trial_number(trial: Any) -> int:
    """A retried trial (its worker died) counts as the trial it retries: same seed, same checkpoints."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
    original = RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)
    return trial.number if original is None else int(original)


def _is_pruned(error: BaseException) -> bool:
    import optuna

    return isinstance(error, optuna.TrialPruned)


def one_line(error: BaseException) -> str:
    if isinstance(error, (KeyboardInterrupt, TrialInterrupted)):
        return INTERRUPTED
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]


def _log_traceback(run: Any, workdir: Path) -> None:
    import traceback

    path = workdir / "traceback.txt"
    path.write_text(traceback.format_exc())
    run.log_artifact(path)
