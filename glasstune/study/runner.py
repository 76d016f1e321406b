"""Run a study: create or resume the Optuna study, run trials until the budget is met, track each.

The budget is the total number of finished (complete or pruned) trials, so a re-run after an
interruption only adds what is missing. Failed trials do not count; several failures in a row stop
the study with the last error, since they point at a bug rather than a bad configuration.
Everything that can fail (data, stores) is checked before the first trial (``prepare_study``).
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from glasstune.data.provenance import provenance_label
from glasstune.data.sources import describe
from glasstune.errors import DataError, GlasstuneError, StoreError, StudyFileError, one_line
from glasstune.interrupts import deferred_signals
from glasstune.objectives.context import derive_seed
from glasstune.objectives.device import device_for
from glasstune.stores.names import StudyAttr, Tag, TrialAttr, data_tags
from glasstune.stores.optuna_storage import RETRY_PAUSES, best_trial_info, finished_trials, with_retries
from glasstune.stores.start_gate import StartGate
from glasstune.study.progress import StudyProgress
from glasstune.study.recovery import recover
from glasstune.study.spec import Study, default_pruner, describe_objective
from glasstune.study.trial import MAX_CONSECUTIVE_FAILURES, Outcome, TrialRunner
from glasstune.urls import redact

log = logging.getLogger(__name__)


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
    trials_per_batch: int | None = None


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
    """Why the run stopped: "budget", "timeout", "failures", "interrupted" or "already finished"."""
    timeout: float | None = None
    failed_stale: list[int] = field(default_factory=list)
    baseline: dict[str, Any] | None = None
    """The objective's baseline on the study's own folds (``objective.baseline``), if it has one."""
    data: str = ""
    """The data set in words, with its caveats ('[SYNTHETIC]', '[not equilibrated, ageing]'...)."""
    warm_start: dict[str, int] | None = None
    """Configurations queued from each sibling study when this one was made (0: not there yet)."""


def create_or_load(spec: Study, storage: Any, seed: int, worker: int = 0) -> Any:
    """The Optuna study, with the study file's sampler or a TPE sampler seeded from ``seed`` (and the
    worker): a new study draws the same configurations for the same seed. A study run again seeds its
    sampler from where it stands (its number of trials): seeded as on its first run, it would draw that
    run's random start-up configurations again."""
    import optuna

    sampler = spec.sampler or optuna.samplers.TPESampler(seed=seed + worker)
    pruner = spec.pruner or default_pruner()
    study = optuna.create_study(storage=storage, study_name=spec.name, direction=spec.direction,
                                sampler=sampler, pruner=pruner, load_if_exists=True)
    done = len(study.get_trials(deepcopy=False))
    if spec.sampler is None and done:
        study.sampler = optuna.samplers.TPESampler(seed=derive_seed(seed + worker, done))
    return study


@dataclass
class PreparedStudy:
    """A study ready for trials: data loaded, Optuna study and MLflow parent run in place."""

    study: Any
    data: Any
    provenance: dict
    storage: Any
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
    from glasstune.stores.optuna_storage import open_storage
    from glasstune.stores.tracking import Tracker

    data = spec.data.load()
    check_data = getattr(spec.objective, "check_data", None)
    if callable(check_data):
        check_data(data)  # the objective's own checks (enough rows for its folds...): now, not in trial 0
    provenance = getattr(data, "provenance", {})
    fingerprint = data.fingerprint() if callable(getattr(data, "fingerprint", None)) else None
    storage = open_storage(options.storage)
    tracker = Tracker.open(options.tracking_uri)
    # the experiment first: a store that cannot be written fails before the Optuna study exists
    experiment_id = _writing(tracker, lambda: tracker.experiment_id(spec.name))
    study = create_or_load(spec, storage, options.seed if options.seed is not None else spec.seed,
                           options.worker)
    _check_same_data(study, spec, fingerprint, provenance)
    _check_same_objective(study, spec)
    budget = options.n_trials or spec.n_trials
    known_parent = study.user_attrs.get(StudyAttr.PARENT_RUN)
    parent_run_id = known_parent
    needs_work = len(finished_trials(study)) < budget
    if needs_work:  # prove the store writable before this run writes anything to the study
        tags = {**data_tags(provenance), Tag.OPTUNA_STORAGE: redact(options.storage)}
        if not (options.worker and known_parent):  # a worker's coordinator made it and will close it
            parent_run_id = _writing(
                tracker, lambda: tracker.study_run(experiment_id, spec.name, known_parent, tags=tags))
        tracker.check_writable(parent_run_id, tags, _study_document(spec, study, options, budget, data))
    failed_stale = _fail_stale(study, storage, tracker) if options.fail_stale else []
    warm = _warm_start(study, spec, storage) if needs_work else None
    seed = _record_study(study, spec, options, data, fingerprint)
    if parent_run_id != known_parent:
        study.set_user_attr(StudyAttr.PARENT_RUN, parent_run_id)
        study.set_user_attr(StudyAttr.EXPERIMENT, experiment_id)
    done = len(finished_trials(study))
    summary = RunSummary(spec.name, budget, done, 0, experiment_id, parent_run_id=parent_run_id,
                         failed_stale=failed_stale, timeout=options.timeout or spec.timeout, warm_start=warm,
                         data=provenance_label(provenance) if provenance else "")
    if needs_work:
        summary.baseline = _baseline(spec, study, data, tracker, parent_run_id)
    else:
        summary.baseline = study.user_attrs.get(StudyAttr.BASELINE)
    prepared = PreparedStudy(study, data, provenance, storage, tracker, summary, seed)
    if not needs_work:
        summary.best = best_trial_info(study)
        summary.stopped_reason = "already finished"
    return prepared


def _warm_start(study: Any, spec: Study, storage: Any) -> dict[str, int] | None:
    """A new study first tries the best configurations of its finished siblings (``warm_start``):
    the landscapes of neighbouring temperatures are alike. Each queued trial names where it came
    from. Done once, when the study has no trial yet; a sibling not there yet is skipped."""
    import optuna
    from optuna.trial import TrialState

    from glasstune.stores.optuna_storage import study_names

    if not spec.warm_start or StudyAttr.WARM_STARTED in study.user_attrs or study.get_trials(deepcopy=False):
        return None
    known = set(study_names(storage))
    queued: dict[str, int] = {}
    for name in spec.warm_start:
        queued[name] = 0
        if name not in known:
            continue
        sibling = optuna.load_study(study_name=name, storage=storage)
        complete = sibling.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        best_first = sorted(complete, key=lambda t: t.value, reverse=sibling.direction.name == "MAXIMIZE")
        for trial in best_first[:spec.warm_start_top]:
            study.enqueue_trial(trial.params, user_attrs={TrialAttr.WARM_START: f"{name} trial {trial.number}"},
                                skip_if_exists=True)
            queued[name] += 1
    study.set_user_attr(StudyAttr.WARM_STARTED, queued)
    return queued


def _check_same_data(study: Any, spec: Study, fingerprint: str | None, provenance: dict) -> None:
    """A study is tuned on one data set: the same name run on other rows would mix two studies'
    scores in one ranking. Refused before anything is written."""
    recorded = study.user_attrs.get(StudyAttr.DATA_FINGERPRINT)
    if recorded is None or fingerprint is None or recorded == fingerprint:
        return
    before = (study.user_attrs.get(StudyAttr.PROVENANCE) or {}).get("name") or "other data"
    now = provenance.get("name") or "the data the study file names now"
    raise DataError(f"study {spec.name!r} was made on other data ({before}, fingerprint {recorded}) than "
                    f"{now} (fingerprint {fingerprint}); give the study another name in its study file to "
                    f"tune on these data, or run it on the data it was made with")


def _check_same_objective(study: Any, spec: Study) -> None:
    """Trials scored under other settings (folds, epochs cap, backend, protocol) are not comparable:
    refused before anything is written. Functions (the search space, a network factory) may change:
    Optuna allows a search space to grow, and says so when a parameter's kind changes."""
    recorded = study.user_attrs.get(StudyAttr.OBJECTIVE_SETTINGS)
    if not recorded:
        return
    now = describe_objective(spec.objective)
    changed = [key for key in sorted(set(recorded) | set(now))
               if recorded.get(key) != now.get(key) and now.get(key) != "auto"  # "auto": decided by the data
               and not callable(getattr(spec.objective, key, None))]
    if changed:
        shown = ", ".join(f"{key} {recorded.get(key)!r} -> {now.get(key)!r}" for key in changed[:3])
        raise StudyFileError(f"study {spec.name!r} was made with other objective settings ({shown}); its "
                             f"trials would not be comparable: give the study another name in its study file, "
                             f"or put the settings back")


def _baseline(spec: Study, study: Any, data: Any, tracker: Any, parent_run_id: str | None) -> dict[str, Any] | None:
    """The objective's baseline (``objective.baseline(data)``: e.g. the lab's linear SVM on the same
    folds), scored once when the study first runs, kept in the study and on its parent run."""
    recorded = study.user_attrs.get(StudyAttr.BASELINE)
    make = getattr(spec.objective, "baseline", None)
    if recorded is not None or not callable(make):
        return recorded
    baseline = make(data)
    if not baseline:
        return None
    study.set_user_attr(StudyAttr.BASELINE, baseline)
    scores = {f"baseline_{key}": value for key, value in baseline.items()
              if isinstance(value, (int, float)) and not isinstance(value, bool)}
    if parent_run_id and scores:
        _writing(tracker, lambda: tracker.log_study_metrics(parent_run_id, scores))
    return baseline


def _writing(tracker: Any, step: Any) -> Any:
    """A tracking step before the first trial: any failure is the store's, said in one line."""
    try:
        return step()
    except GlasstuneError:
        raise
    except Exception as error:
        raise StoreError(f"MLflow store {redact(tracker.tracking_uri)} is not writable: {one_line(error)}; "
                         f"check --tracking-uri or $MLFLOW_TRACKING_URI") from error


def _study_document(spec: Study, study: Any, options: RunOptions, budget: int, data: Any) -> dict[str, Any]:
    """``study.json`` on the parent run: what the study is, readable without Optuna."""
    seed = options.seed if options.seed is not None else study.user_attrs.get(StudyAttr.SEED, spec.seed)
    return {"study": spec.name, "description": spec.description, "budget": budget,
            "direction": spec.direction, "seed": seed, "objective": type(spec.objective).__name__,
            "metric": metric_name(spec.objective, data), "data": describe(spec.data),
            "provenance": getattr(data, "provenance", {}),
            "study_file": str(spec.source_file) if spec.source_file else None,
            "optuna_storage": redact(options.storage)}


def _fail_stale(study: Any, storage: Any, tracker: Any) -> list[int]:
    """``--fail-stale``: RUNNING trials no process runs any more become FAIL before the first trial."""
    from glasstune.stores.doctor import fail_stale_trials

    return fail_stale_trials(study, storage, tracker, everything_running=True)


def run_study(spec: Study, options: RunOptions) -> RunSummary:
    """Run trials in this process until the study has its budget of finished trials.

    Ctrl-C ends the running trial as FAIL ("interrupted (Ctrl-C)"; its run KILLED), closes the
    parent run if no other worker is running a trial, and raises KeyboardInterrupt: the study is
    intact and the same command resumes it."""
    from glasstune.stores.tracking import bound_http_retries
    from glasstune.stores.writer import BackgroundWriter

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
    device = device_for(spec.objective, options.device)
    batch = batch_size(spec, options, device)
    prepared = prepare_study(spec, options)
    summary, study = prepared.summary, prepared.study
    if prepared.finished:
        return summary
    if writer is not None:
        writer.open(options.tracking_uri)
    not_saved = None
    try:
        gate = StartGate(study, summary.budget, options.storage)
        with StudyProgress(spec.name, summary.budget, summary.finished, enabled=options.progress) as progress:
            runner = TrialRunner(spec, prepared.data, prepared.provenance, prepared.storage, prepared.tracker,
                                 summary.experiment_id, summary.parent_run_id, prepared.seed, device, progress,
                                 options.worker, writer)
            try:
                summary.stopped_reason, not_saved = _trials(prepared, runner, gate, options.timeout or spec.timeout,
                                                            batch)
            finally:
                gate.close()
                runner.check_tracking(wait=True)  # every run complete before the command says it is done
    except KeyboardInterrupt:  # between trials, or a second Ctrl-C (which also stops waiting for tracking)
        _close_parent_if_idle(prepared, "KILLED")
        raise
    except GlasstuneError:  # a store failed on the way: said in one line, the parent run not left open
        _close_parent_if_idle(prepared, "FAILED")
        raise
    if runner.interrupted is not None:
        _close_parent_if_idle(prepared, "KILLED")
        raise runner.interrupted
    _close_parent_if_idle(prepared, "FAILED" if not_saved else "FINISHED")
    if not_saved:
        raise GlasstuneError(not_saved, exit_code=1)
    summary.finished = len(finished_trials(study))
    summary.new_trials = runner.count
    summary.best = best_trial_info(study)
    if summary.stopped_reason == "failures":
        raise GlasstuneError(
            f"study {spec.name} stopped: {MAX_CONSECUTIVE_FAILURES} trials failed in a row; "
            f"last error: {runner.last_error}", exit_code=1)
    return summary


def batch_size(spec: Study, options: RunOptions, device: str) -> int:
    """Trials trained together: ``--trials-per-batch``, else the study file's ``trials_per_batch``,
    else the objective's own choice for the device; 1 for an objective without ``run_batch``."""
    wanted = options.trials_per_batch or spec.trials_per_batch
    can = callable(getattr(spec.objective, "run_batch", None))
    if wanted and wanted > 1 and not can:
        raise StudyFileError(f"{type(spec.objective).__name__} trains one trial at a time (it has no run_batch); "
                             f"leave trials_per_batch and --trials-per-batch out")
    if wanted:
        return int(wanted)
    choose = getattr(spec.objective, "trials_per_batch", None)
    return max(1, int(choose(device))) if can and callable(choose) else 1


def _trials(prepared: PreparedStudy, runner: TrialRunner, gate: StartGate, timeout: float | None,
            batch: int = 1) -> tuple[str, str | None]:
    """Ask, run, save, close, until the budget is met, time is up, a trial was interrupted or
    failures pile up; ``batch`` trials at a time for an objective that trains them together.
    Returns why it stopped, and what could not be saved (else None)."""
    study = prepared.study
    started = time.monotonic()
    # heartbeats are recorded by our own thread around each trial (glasstune.study.recovery)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    while True:
        if timeout is not None and time.monotonic() - started >= timeout:
            return "timeout", None
        trials = _ask(prepared, gate, batch)
        if not trials:  # finished trials and those running elsewhere fill the budget
            return "budget", None
        outcomes = runner.run(trials[0]) if len(trials) == 1 else runner.run_batch(trials)
        outcomes = [outcomes] if len(trials) == 1 else outcomes
        failure, stopped = None, False
        for trial, outcome in zip(trials, outcomes, strict=True):
            with deferred_signals(), _as_in_optimize(study) as stop_asked:  # the outcome is saved whole
                failure = failure or save_outcome(study, trial, outcome)
                runner.close(trial, outcome, not_saved=failure)
            runner.after(study, trial.number, outcome)
            stopped = stopped or stop_asked()
        if failure:
            return "not saved", failure
        if any(outcome.interrupted for outcome in outcomes):
            return "interrupted", None
        fatal = next((outcome for outcome in outcomes if outcome.fatal), None)
        if fatal is not None:
            raise StudyFileError(f"study {study.study_name!r}: {fatal.reason}")
        if stopped:
            return "exhausted", None
        if runner.failures_in_a_row >= MAX_CONSECUTIVE_FAILURES:
            return "failures", None


def _ask(prepared: PreparedStudy, gate: StartGate, batch: int) -> list[Any]:
    """Up to ``batch`` new trials, each started under the start gate (so workers together meet the
    budget exactly), after the trials of dead processes are failed and queued again."""
    trials = []
    with deferred_signals():  # a stop waits until the trials are made (or not): no half-written trial
        recover(prepared.study, prepared.storage, prepared.tracker)
        while len(trials) < batch and gate.admit():
            try:
                trials.append(prepared.study.ask())  # an enqueued retry first, else a new trial from the sampler
            finally:
                gate.release()  # the trial is RUNNING: another worker counts it now
    return trials


@contextlib.contextmanager
def _as_in_optimize(study: Any) -> Iterator[Callable[[], bool]]:
    """Let a sampler stop the study as it would inside ``Study.optimize``: a grid or brute-force
    sampler calls ``study.stop()`` once every configuration has been tried."""
    local = getattr(study, "_thread_local", None)
    if local is None:
        yield lambda: False
        return
    before = getattr(local, "in_optimize_loop", False)
    local.in_optimize_loop, study._stop_flag = True, False
    try:
        yield lambda: bool(study._stop_flag)
    finally:
        local.in_optimize_loop = before


def save_outcome(study: Any, trial: Any, outcome: Outcome, pauses: tuple[float, ...] = RETRY_PAUSES) -> str | None:
    """Tell Optuna the trial's outcome, retrying a storage that is locked or away; None once saved,
    else a line saying what is lost and where the value is kept."""
    from optuna.trial import TrialState

    state = {"COMPLETE": TrialState.COMPLETE, "PRUNED": TrialState.PRUNED, "FAIL": TrialState.FAIL}[outcome.state]
    attempts = 0

    def tell() -> None:
        nonlocal attempts
        attempts += 1
        if attempts > 1 and _already_saved(study, trial.number):  # the last attempt's write went through
            return
        study.tell(trial, outcome.value if state == TrialState.COMPLETE else None, state=state)

    try:
        with_retries(tell, f"saving trial {trial.number}", pauses)
    except Exception as error:
        kept = f" (value {outcome.value:.6g} kept in its MLflow run)" if outcome.value is not None else ""
        return (f"trial {trial.number}'s result could not be saved in the Optuna storage after {attempts} "
                f"attempts: {one_line(error)}{kept}; the trial is redone when the study runs again (same command)")
    return None


def _already_saved(study: Any, number: int) -> bool:
    from optuna.trial import TrialState

    found = next(t for t in study.get_trials(deepcopy=False) if t.number == number)
    return found.state != TrialState.RUNNING


def _close_parent_if_idle(prepared: PreparedStudy, status: str) -> None:
    """The last worker out closes the parent run; a later run of the study opens it again."""
    from optuna.trial import TrialState

    if not prepared.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        prepared.tracker.finish_study_run(prepared.summary.parent_run_id, status)


def metric_name(objective: Any, data: Any) -> str:
    """The name of the score a trial's value is, as the data decide it ("auto" resolved)."""
    resolve = getattr(objective, "metric_for", None)
    if callable(resolve) and hasattr(data, "task"):
        return str(resolve(data.task))
    return str(getattr(objective, "metric", "value"))


def _record_study(study: Any, spec: Study, options: RunOptions, data: Any, fingerprint: str | None) -> int:
    """First run: remember seed, data, objective and study file; later runs use the recorded seed."""
    attrs = study.user_attrs
    if fingerprint is not None and StudyAttr.DATA_FINGERPRINT not in attrs:
        study.set_user_attr(StudyAttr.DATA_FINGERPRINT, fingerprint)
    if StudyAttr.OBJECTIVE_SETTINGS not in attrs:
        study.set_user_attr(StudyAttr.OBJECTIVE_SETTINGS, describe_objective(spec.objective))
    if StudyAttr.SEED not in attrs or options.seed is not None:
        study.set_user_attr(StudyAttr.SEED, options.seed if options.seed is not None else spec.seed)
    if StudyAttr.DATA not in attrs:
        study.set_user_attr(StudyAttr.DATA, describe(spec.data))
        study.set_user_attr(StudyAttr.PROVENANCE, getattr(data, "provenance", {}))
        study.set_user_attr(StudyAttr.OBJECTIVE, type(spec.objective).__name__)
        study.set_user_attr(StudyAttr.METRIC, metric_name(spec.objective, data))
        study.set_user_attr(StudyAttr.SUMMARY_COLUMNS, list(getattr(spec.objective, "summary_columns", ())))
    if spec.source_file is not None:
        study.set_user_attr(StudyAttr.STUDY_FILE, str(spec.source_file))
    return int(study.user_attrs[StudyAttr.SEED])
