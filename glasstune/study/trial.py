"""One trial's life: its owner and seed, its MLflow run, the objective's call, and the run's end.

``TrialRunner.run`` gives the study's objective a ``TrialContext`` and returns what became of the
trial (an ``Outcome``: complete with a value, pruned, failed, interrupted) without raising: Ctrl-C,
SIGTERM and ``sys.exit`` in study code end the trial like any failure. The loop (``runner``) then
saves the outcome in Optuna and only after that calls ``close``, which ends the trial's MLflow run
with the matching status: a run never says FINISHED for a result Optuna does not have.
"""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glasstune.config import trial_checkpoint_dir
from glasstune.errors import one_line
from glasstune.interrupts import deferred_signals, interrupted_reason
from glasstune.objectives.context import TrialContext
from glasstune.objectives.device import gpu_label
from glasstune.stores.doctor import close_orphan_runs
from glasstune.stores.names import Tag, TrialAttr, data_tags
from glasstune.stores.optuna_storage import best_trial_info, finished_trials, with_retries
from glasstune.stores.owners import owner
from glasstune.study.progress import StudyProgress
from glasstune.study.recovery import heartbeat
from glasstune.study.seeds import original_trial_number, trial_seed
from glasstune.study.spec import Study

log = logging.getLogger(__name__)
MAX_CONSECUTIVE_FAILURES = 5
CHANGED_KIND = "Cannot set different distribution kind to the same parameter name"


@dataclass
class Outcome:
    """What became of a trial: state COMPLETE (with ``value``), PRUNED or FAIL, and why."""

    state: str
    value: float | None = None
    reason: str = ""
    interrupted: bool = False
    fatal: bool = False
    """The same failure would end every later trial (the search space no longer fits the study)."""


class TrialRunner:
    """Runs the study's trials one at a time, each with its tracked MLflow run."""

    def __init__(self, spec: Study, data: Any, provenance: dict, storage: Any, tracker: Any, experiment_id: str,
                 parent_id: str, seed: int, device: str, progress: StudyProgress, worker: int = 0,
                 writer: Any = None) -> None:
        self.spec, self.data, self.provenance, self.storage = spec, data, provenance, storage
        self.tracker, self.experiment_id, self.parent_id = tracker, experiment_id, parent_id
        self.seed, self.device, self.progress = seed, device, progress
        self.worker = worker
        self.gpu = gpu_label(device)
        self.count = 0
        self.failures_in_a_row = 0
        self.last_error = ""
        self.interrupted: BaseException | None = None
        self.writer = writer
        self._runs: dict[int, tuple[Any, Path]] = {}
        """trial number -> (its MLflow run, its folder of artifacts) while the trial is open"""
        self._writing: dict[str, tuple[int, Any, int]] = {}
        """run id -> (trial number, run, the writer's mark) of runs whose records are still being written"""
        self._checked_failures: set[str] = set()

    def run(self, trial: Any) -> Outcome:
        """Run the objective on ``trial``; its MLflow run stays open until ``close``."""
        ctx = self._open(trial)
        try:
            with heartbeat(self.storage, [trial._trial_id]):
                value: float | BaseException = self.spec.objective(ctx)
        except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM, SIGHUP: end this trial, then the study
            return self._interrupted(trial, stop)
        except BaseException as error:  # SystemExit from study code too: the trial fails, the study goes on
            value = error
        return self._judge(trial, value)

    def run_batch(self, trials: list[Any]) -> list[Outcome]:
        """Run the objective on several trials at once (``objective.run_batch``): each trial has its
        own context, MLflow run and outcome, exactly as when it runs alone."""
        contexts = [self._open(trial) for trial in trials]
        for trial in trials:
            _record(trial, {TrialAttr.TRIALS_TOGETHER: len(trials)})
        try:
            with heartbeat(self.storage, [trial._trial_id for trial in trials]):
                results = list(self.spec.objective.run_batch(contexts))
        except KeyboardInterrupt as stop:
            return [self._interrupted(trial, stop) for trial in trials]
        except BaseException as error:  # the batch as a whole failed: every trial in it did
            results = [error] * len(trials)
        if len(results) != len(trials):
            error = RuntimeError(f"run_batch returned {len(results)} results for {len(trials)} trials")
            results = [error] * len(trials)
        return [self._judge(trial, result) for trial, result in zip(trials, results, strict=True)]

    def _open(self, trial: Any) -> TrialContext:
        """The trial's owner and seed recorded, its MLflow run made, its context ready."""
        self.progress.trial_started(trial.number)
        close_orphan_runs(trial.study, self.tracker, self._checked_failures)
        seed = trial_seed(self.seed, original_trial_number(trial))
        _record(trial, {TrialAttr.OWNER: owner(), TrialAttr.SEED: seed, TrialAttr.WORKER: self.worker,
                        **({TrialAttr.GPU: self.gpu} if self.gpu is not None else {})})
        run = self.tracker.start_trial(self.experiment_id, self.parent_id, self.spec.name, trial.number,
                                       tags=self._tags(seed, trial), writer=self._live_writer())
        workdir = Path(tempfile.mkdtemp(prefix=f"glasstune-trial{trial.number}-"))  # the run's files, until logged
        self._runs[trial.number] = (run, workdir)
        _record(trial, {TrialAttr.RUN_ID: run.run_id} if run.run_id is not None
                else {TrialAttr.RUN_ERROR: run.error or "MLflow run not created"})
        return TrialContext(
            trial=trial, data=self.data, seed=seed, workdir=workdir,
            checkpoint_dir=self._checkpoint_dir(trial), sink=run, device=self.device,
            on_status=lambda text: self.progress.status(trial.number, text),
        )

    def _interrupted(self, trial: Any, stop: BaseException) -> Outcome:
        self.interrupted = stop
        reason = interrupted_reason(stop)
        _record(trial, {TrialAttr.ERROR: reason, TrialAttr.INTERRUPTED: True}, must=False)
        return Outcome("FAIL", reason=reason, interrupted=True)

    def _judge(self, trial: Any, result: float | BaseException) -> Outcome:
        """What the objective's value, or the exception that ended the trial, makes of the trial."""
        import optuna

        if isinstance(result, optuna.TrialPruned):
            return Outcome("PRUNED", reason=str(result) or "pruned")
        if not isinstance(result, BaseException):
            try:
                value = float(result)
            except (TypeError, ValueError) as error:
                result = TypeError(f"objective returned {result!r}, not a number ({error})")
            else:
                if math.isfinite(value):
                    return Outcome("COMPLETE", value=value)
                result = ValueError(f"objective returned {value}")
        if isinstance(result, ValueError) and CHANGED_KIND in str(result):
            reason = ("the search space changed: a parameter is drawn with another kind (int, float, categorical) "
                      "than in this study's earlier trials; give the study another name in its study file")
            _record(trial, {TrialAttr.ERROR: reason}, must=False)
            return Outcome("FAIL", reason=reason, fatal=True)
        reason = one_line(result)
        _record(trial, {TrialAttr.ERROR: reason}, must=False)
        run, workdir = self._runs[trial.number]
        _log_traceback(run, workdir, result)
        return Outcome("FAIL", reason=reason)

    def close(self, trial: Any, outcome: Outcome, not_saved: str | None = None) -> None:
        """End the trial's run as its outcome says, once Optuna has the outcome; ``not_saved``: the
        storage refused the outcome, so the run says FAILED with why, and keeps the value."""
        run, workdir = self._runs[trial.number]
        try:
            run.log_params(trial.params)
            if outcome.value is not None:
                run.log_metrics([("objective_value", outcome.value, None)])
            if not_saved is not None:
                run.end("FAIL", not_saved)
            elif outcome.state == "PRUNED":
                run.end("PRUNED", outcome.reason)
            elif outcome.state == "FAIL":
                run.end("FAIL", outcome.reason, interrupted=outcome.interrupted)
            else:
                run.end("COMPLETE")
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
                    self.progress.note(f"trial {number:>3}: {run.failures} MLflow record(s) not written ({run.error}); "
                                       f"its run {run.run_id} is marked FAILED ({Tag.RECORDS_LOST})")

    def after(self, study: Any, number: int, outcome: Outcome) -> None:
        """The trial's line on the display; count failures in a row (a bug, not a configuration)."""
        self.count += 1
        self.check_tracking()
        run, _ = self._runs.pop(number)
        note = outcome.reason
        if run.failures:
            note = f"{note} [{run.failures} MLflow logging error(s)]".strip()
        try:
            best, finished = best_trial_info(study), len(finished_trials(study))
        except Exception:  # a storage that cannot be read now: the display waits for the next trial
            best, finished = None, None
        self.progress.trial_finished(number, outcome.state, outcome.value, best and best["value"], note,
                                     finished_count=finished)
        if outcome.state == "FAIL" and not outcome.interrupted:
            self.failures_in_a_row += 1
            self.last_error = outcome.reason
        else:
            self.failures_in_a_row = 0

    def _tags(self, seed: int, trial: Any) -> dict[str, str]:
        warm = trial.user_attrs.get(TrialAttr.WARM_START)
        return {
            **({Tag.WARM_START: warm} if warm else {}),
            Tag.SEED: str(seed),
            **data_tags(self.provenance),
            Tag.DEVICE: self.device,
            Tag.WORKER: str(self.worker),
            **({Tag.GPU: self.gpu} if self.gpu is not None else {}),
        }

    def _checkpoint_dir(self, trial: Any) -> Path:
        """Keyed by the original trial number, so a retried trial finds its predecessor's files."""
        path = trial_checkpoint_dir(self.spec.name, original_trial_number(trial))
        path.mkdir(parents=True, exist_ok=True)
        return path


def _record(trial: Any, attrs: dict[str, Any], *, must: bool = True) -> None:
    """Trial attributes, each retried while the storage is locked or away. ``must=False``: a failure's
    reason, which the run's tags also carry, is not worth losing the outcome over."""
    for key, value in attrs.items():
        try:
            with deferred_signals():
                with_retries(lambda key=key, value=value: trial.set_user_attr(key, value), f"recording {key}")
        except Exception:
            if must:
                raise
            log.warning("trial %s: %s not recorded in the Optuna storage", trial.number, key)


def _log_traceback(run: Any, workdir: Path, error: BaseException) -> None:
    import traceback

    path = workdir / "traceback.txt"
    path.write_text("".join(traceback.format_exception(error)))
    run.log_artifact(path)
