"""One trial's life: its seed, its MLflow run, the objective's call, and the run's end.

``TrialRunner`` is what Optuna calls as the objective function. It gives the study's objective a
``TrialContext``, maps the trial's outcome (value, pruned, failed, interrupted) onto the trial's
MLflow run, and after each trial decides whether the study goes on (budget, failures in a row).
"""

from __future__ import annotations

import logging
import math
import tempfile
from pathlib import Path
from typing import Any

from glasstune.config import trial_checkpoint_dir
from glasstune.errors import INTERRUPTED, TrialInterrupted, one_line
from glasstune.objectives.context import TrialContext
from glasstune.objectives.device import gpu_label
from glasstune.stores.doctor import close_orphan_runs
from glasstune.stores.names import Tag, TrialAttr, data_tags
from glasstune.stores.optuna_storage import best_trial_info, finished_trials
from glasstune.stores.start_gate import StartGate
from glasstune.study.progress import StudyProgress
from glasstune.study.seeds import original_trial_number, trial_seed
from glasstune.study.spec import Study

log = logging.getLogger(__name__)
MAX_CONSECUTIVE_FAILURES = 5


class TrialRunner:
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
            if TrialAttr.ERROR not in trial.user_attrs and not _is_pruned(error):
                trial.set_user_attr(TrialAttr.ERROR, one_line(error))
            raise

    def _interrupt(self, trial: Any) -> None:
        """Ctrl-C: the reason on the trial, its run ended KILLED; Optuna then records FAIL."""
        self.interrupted = True
        trial.set_user_attr(TrialAttr.ERROR, INTERRUPTED)
        trial.set_user_attr(TrialAttr.INTERRUPTED, True)
        run = self._runs.get(trial.number)
        if run is not None:
            run.log_params(trial.params)
            run.end("FAIL", INTERRUPTED, interrupted=True)
            self._follow(trial.number, run)

    def _run(self, trial: Any) -> float:
        import optuna

        close_orphan_runs(trial.study, self.tracker, self._checked_failures)
        seed = trial_seed(self.seed, original_trial_number(trial))
        trial.set_user_attr(TrialAttr.SEED, seed)
        trial.set_user_attr(TrialAttr.WORKER, self.worker)
        if self.gpu is not None:
            trial.set_user_attr(TrialAttr.GPU, self.gpu)
        run = self.tracker.start_trial(self.experiment_id, self.parent_id, self.spec.name, trial.number,
                                       tags=self._tags(seed), writer=self._live_writer())
        self._runs[trial.number] = run
        if run.run_id is not None:
            trial.set_user_attr(TrialAttr.RUN_ID, run.run_id)
        else:
            trial.set_user_attr(TrialAttr.RUN_ERROR, run.error or "MLflow run not created")
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
            trial.set_user_attr(TrialAttr.ERROR, reason)
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
        note = trial.user_attrs.get(TrialAttr.ERROR) or trial.user_attrs.get(TrialAttr.PRUNE_REASON) or ""
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
            self.last_error = trial.user_attrs.get(TrialAttr.ERROR, "unknown error")
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


def _is_pruned(error: BaseException) -> bool:
    import optuna

    return isinstance(error, optuna.TrialPruned)


def _log_traceback(run: Any, workdir: Path) -> None:
    import traceback

    path = workdir / "traceback.txt"
    path.write_text(traceback.format_exc())
    run.log_artifact(path)
