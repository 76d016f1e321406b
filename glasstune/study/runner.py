"""Run a study: create or resume the Optuna study, run trials until the budget is met, track each.

The budget is the total number of finished (complete or pruned) trials, so a re-run after an
interruption only adds what is missing. Failed trials do not count; several failures in a row stop
the study with the last error, since they point at a bug rather than a bad configuration.
Everything that can fail (data, stores) is checked before the first trial (``prepare_study``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from glasstune.data.sources import describe
from glasstune.errors import DataError, GlasstuneError, StoreError, one_line
from glasstune.objectives.device import device_for
from glasstune.stores.names import StudyAttr, Tag, data_tags
from glasstune.stores.optuna_storage import best_trial_info, finished_trials
from glasstune.stores.start_gate import StartGate
from glasstune.study.progress import StudyProgress
from glasstune.study.spec import Study, default_pruner, describe_objective
from glasstune.study.trial import MAX_CONSECUTIVE_FAILURES, TrialRunner
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
    budget = options.n_trials or spec.n_trials
    known_parent = study.user_attrs.get(StudyAttr.PARENT_RUN)
    parent_run_id = known_parent
    needs_work = len(finished_trials(study)) < budget
    if needs_work:  # prove the store writable before this run writes anything to the study
        tags = {**data_tags(provenance), Tag.OPTUNA_STORAGE: redact(options.storage)}
        if not (options.worker and known_parent):  # a worker's coordinator made it and will close it
            parent_run_id = _writing(
                tracker, lambda: tracker.study_run(experiment_id, spec.name, known_parent, tags=tags))
        tracker.check_writable(parent_run_id, tags, _study_document(spec, study, options, budget, provenance))
    failed_stale = _fail_stale(study, storage, tracker) if options.fail_stale else []
    seed = _record_study(study, spec, options, provenance, fingerprint)
    if parent_run_id != known_parent:
        study.set_user_attr(StudyAttr.PARENT_RUN, parent_run_id)
        study.set_user_attr(StudyAttr.EXPERIMENT, experiment_id)
    done = len(finished_trials(study))
    summary = RunSummary(spec.name, budget, done, 0, experiment_id, parent_run_id=parent_run_id,
                         failed_stale=failed_stale, timeout=options.timeout or spec.timeout)
    if needs_work:
        summary.baseline = _baseline(spec, study, data, tracker, parent_run_id)
    else:
        summary.baseline = study.user_attrs.get(StudyAttr.BASELINE)
    prepared = PreparedStudy(study, data, provenance, tracker, summary, seed)
    if not needs_work:
        summary.best = best_trial_info(study)
        summary.stopped_reason = "already finished"
    return prepared


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


def _study_document(spec: Study, study: Any, options: RunOptions, budget: int, provenance: dict) -> dict[str, Any]:
    """``study.json`` on the parent run: what the study is, readable without Optuna."""
    seed = options.seed if options.seed is not None else study.user_attrs.get(StudyAttr.SEED, spec.seed)
    return {"study": spec.name, "description": spec.description, "budget": budget,
            "direction": spec.direction, "seed": seed, "objective": type(spec.objective).__name__,
            "metric": getattr(spec.objective, "metric", "value"), "data": describe(spec.data),
            "provenance": provenance, "study_file": str(spec.source_file) if spec.source_file else None,
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
            runner = TrialRunner(spec, prepared.data, prepared.provenance, prepared.tracker,
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
    summary.stopped_reason = runner.stop_reason or ("timeout" if summary.finished < summary.budget else "budget")
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


def _record_study(study: Any, spec: Study, options: RunOptions, provenance: dict, fingerprint: str | None) -> int:
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
        study.set_user_attr(StudyAttr.PROVENANCE, provenance)
        study.set_user_attr(StudyAttr.OBJECTIVE, type(spec.objective).__name__)
        study.set_user_attr(StudyAttr.METRIC, getattr(spec.objective, "metric", "value"))
        study.set_user_attr(StudyAttr.SUMMARY_COLUMNS, list(getattr(spec.objective, "summary_columns", ())))
    if spec.source_file is not None:
        study.set_user_attr(StudyAttr.STUDY_FILE, str(spec.source_file))
    return int(study.user_attrs[StudyAttr.SEED])
