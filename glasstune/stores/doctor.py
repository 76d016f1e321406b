"""Check that a study's Optuna storage and MLflow store tell the same story, and repair what is safe.

Every trial that started should have exactly one MLflow child run (the trial's user attribute
``mlflow_run_id``), whose status matches the trial's state (COMPLETE -> FINISHED, PRUNED -> KILLED,
FAIL -> FAILED, or KILLED when the trial was interrupted); no run should stay RUNNING once its trial
has ended, no trial should stay RUNNING once its process is gone, and no trial run should exist
that no trial claims. Workers killed mid-trial, a tracking store that hiccuped, or a crash between
Optuna and MLflow leave exactly these marks.

``examine`` only reads and returns findings; ``repair`` changes only what is safe: stale trials
become FAIL through Optuna (and are retried with the same parameters, as after a heartbeat), runs
of finished trials get the matching status, orphan runs are tagged ``glasstune.orphan=true``.
Nothing is ever deleted. Runs that lost records (a full disk, a store that went away: tagged
``glasstune.records_lost``, or a COMPLETE trial's run without its final value) are found and
reported; no repair can bring the records back. The CLI (``glasstune doctor``) prints the findings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from glasstune.errors import GlasstuneError
from glasstune.stores.names import Role, StudyAttr, Tag, TrialAttr
from glasstune.stores.owners import owner_is_gone
from glasstune.stores.tracking import OWNER_GONE_REASON, STALE_REASON, end_run, expected_run_status

# kinds of finding, in the order they are listed
STALE, NO_RUN, RUN_MISSING, RUN_RUNNING, STATUS, TAGS, DUPLICATE, ORPHAN, PARENT, RECORDS = (
    "stale trial", "no run", "run missing", "run still running", "status mismatch", "run tags",
    "duplicate run", "orphan run", "parent run", "records lost")


@dataclass(frozen=True)
class Finding:
    """One disagreement between the stores. ``fix`` says what ``repair`` would do (None: nothing
    is safe to do), ``fixed`` whether it was done."""

    kind: str
    detail: str
    trial: int | None = None
    run_id: str | None = None
    fix: str | None = None
    fixed: bool = False


@dataclass
class Examination:
    """What ``examine`` saw: the findings, and counts to put them in proportion."""

    study: str
    trials: int
    runs: int
    heartbeat: bool
    findings: list[Finding] = field(default_factory=list)
    running_unjudged: int = 0
    """RUNNING trials on a storage without heartbeats and no ``stale_after``: alive or not, unknown."""
    acknowledged_orphans: int = 0


def examine(study: Any, tracker: Any, *, heartbeat: bool, stale_after: float | None = None,
            now: dt.datetime | None = None) -> Examination:
    """Compare the study's trials with its experiment's runs; change nothing.

    ``heartbeat``: the storage records heartbeats, so stale RUNNING trials are those Optuna itself
    would fail. Without heartbeats a RUNNING trial counts as stale only when it started more than
    ``stale_after`` seconds ago (``now`` for tests)."""
    from optuna.trial import TrialState

    client = tracker.client
    trials = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
    experiment_id = _experiment_id(study, client)
    runs = _runs(client, experiment_id) if experiment_id else []
    result = Examination(study.study_name, len(trials), len(runs), heartbeat)
    if experiment_id is None:
        if trials:
            result.findings.append(Finding(NO_RUN, f"the MLflow store has no experiment {study.study_name!r}; "
                                           f"are --tracking-uri and --storage the study's?"))
        return result
    by_id = {run.info.run_id: run for run in runs}
    stale = _stale_trial_numbers(study, trials, heartbeat, stale_after, now)
    for trial in trials:
        result.findings.extend(_check_trial(trial, study.study_name, by_id, client, trial.number in stale))
        if trial.state == TrialState.RUNNING and not heartbeat and trial.number not in stale:
            result.running_unjudged += 1
    orphans, acknowledged = _check_unclaimed(study, trials, runs)
    result.findings.extend(orphans)
    result.acknowledged_orphans = acknowledged
    result.findings.extend(_check_parent(study, trials, by_id, client, stale))
    result.findings.sort(key=lambda f: (f.trial if f.trial is not None else 1 << 30, f.kind))
    return result


def repair(study: Any, tracker: Any, storage: Any, findings: Iterable[Finding], *, heartbeat: bool,
           stale_after: float | None = None) -> list[Finding]:
    """Do the safe fix of every finding that has one; return the findings marked ``fixed``.

    Stale trials go first (Optuna's ``fail_stale_trials`` on a storage with heartbeats), so that
    their runs are then seen as runs of failed trials and ended FAILED in the same repair."""
    findings = list(findings)
    done: list[Finding] = []
    stale = [f for f in findings if f.kind == STALE and f.fix]
    if stale:
        failed = fail_stale_trials(study, storage, tracker, everything_running=False, stale_after=stale_after,
                                   heartbeat=heartbeat, only={f.trial for f in stale})
        done += [replace(f, fixed=f.trial in failed) for f in stale]
        again = examine(study, tracker, heartbeat=heartbeat, stale_after=stale_after)
        findings = [f for f in again.findings if f.kind != STALE]
    else:
        findings = [f for f in findings if f.kind != STALE]
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    for finding in findings:
        fixed = False
        if finding.fix:
            trial = trials.get(finding.trial) if finding.trial is not None else None
            fixed = _fix(finding, trial, tracker.client, study.study_name)
        done.append(replace(finding, fixed=fixed))
    return done


def fail_stale_trials(study: Any, storage: Any, tracker: Any, *, everything_running: bool,
                      stale_after: float | None = None, heartbeat: bool | None = None,
                      only: set[int | None] | None = None) -> list[int]:
    """Mark stale RUNNING trials FAIL, retry each once more with the same parameters (as Optuna does
    after a missed heartbeat) and end their MLflow runs FAILED. Returns the failed trial numbers.

    On a storage with heartbeats, Optuna's own ``fail_stale_trials`` decides and acts, whatever
    ``everything_running`` says: it is safe while other workers run. Without heartbeats a trial is
    stale when its owner on this machine is gone, when it started more than ``stale_after`` seconds
    ago, or, with ``everything_running`` (``glasstune run --fail-stale``: the user says no other
    process runs the study), always."""
    import optuna
    from optuna.trial import TrialState

    from glasstune.stores.optuna_storage import has_heartbeat

    heartbeat = has_heartbeat(storage) if heartbeat is None else heartbeat
    gone = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if owner_is_gone(t.user_attrs.get(TrialAttr.OWNER)) and (only is None or t.number in only)]
    failed = fail_trials(study, tracker, gone, OWNER_GONE_REASON)
    if heartbeat:
        stale = _stale_trial_numbers(study, study.get_trials(deepcopy=False), True, None, None)
        optuna.storages.fail_stale_trials(study)  # the storage's callback retries them
        states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
        by_heartbeat = sorted(n for n in stale if states.get(n) == TrialState.FAIL and n not in failed)
        _end_failed_runs(study, tracker, by_heartbeat, STALE_REASON)
        return sorted(failed + by_heartbeat)
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not everything_running:
        stale = _stale_trial_numbers(study, running, False, stale_after, None)
        running = [t for t in running if t.number in stale and (only is None or t.number in only)]
    return sorted(failed + fail_trials(study, tracker, [t.number for t in running], STALE_REASON))


def fail_trials(study: Any, tracker: Any, numbers: Iterable[int], reason: str) -> list[int]:
    """Mark these RUNNING trials FAIL with ``reason``, retry each with the same parameters (and so
    the same seed: the retry counts as the trial it retries), end their runs FAILED. A trial that
    finished meanwhile is left alone. Returns the trial numbers failed here."""
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    from glasstune.stores.optuna_storage import MAX_RETRIES

    retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)
    failed = []
    for number in numbers:
        trial = next(t for t in study.get_trials(deepcopy=False) if t.number == number)
        try:
            optuna.trial.Trial(study, trial._trial_id).set_user_attr(TrialAttr.ERROR, reason)
            study.tell(number, state=TrialState.FAIL)
        except (ValueError, RuntimeError):  # finished meanwhile
            continue
        failed.append(number)
        retry(study, next(t for t in study.get_trials(deepcopy=False) if t.number == number))
    _end_failed_runs(study, tracker, failed, reason)
    return failed


def _end_failed_runs(study: Any, tracker: Any, numbers: list[int], reason: str) -> None:
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    for number in numbers:
        run_id = trials[number].user_attrs.get(TrialAttr.RUN_ID)
        if run_id:
            end_run(tracker.client, run_id, "FAIL", "FAILED", {Tag.ERROR: reason,
                                                                Tag.DOCTOR: "trial was stale: marked FAIL"})


def _check_trial(trial: Any, study_name: str, runs: dict[str, Any], client: Any, stale: bool) -> list[Finding]:
    state = trial.state.name
    number = trial.number
    run_id = trial.user_attrs.get(TrialAttr.RUN_ID)
    findings = []
    if stale:
        findings.append(Finding(STALE, f"RUNNING since {_when(trial.datetime_start)} but its worker is gone",
                                number, run_id, "mark FAIL in Optuna, retry it, end its run FAILED"))
    if not run_id:
        if state != "RUNNING":
            why = trial.user_attrs.get(TrialAttr.RUN_ERROR, "no mlflow_run_id recorded")
            findings.append(Finding(NO_RUN, f"{state} trial has no MLflow run ({why})", number))
        return findings
    run = runs.get(run_id) or _get_run(client, run_id)
    if run is None or run.info.lifecycle_stage != "active":
        what = "deleted" if run is not None else "not in the MLflow store"
        findings.append(Finding(RUN_MISSING, f"its run is {what}", number, run_id))
        return findings
    status, tags = run.info.status, run.data.tags
    if state == "RUNNING":
        if status != "RUNNING":
            findings.append(Finding(STATUS, f"trial RUNNING but its run is {status}", number, run_id))
    else:
        expected = expected_run_status(state, trial.user_attrs, tags)
        if tags.get(Tag.RECORDS_LOST):
            findings.append(Finding(RECORDS, f"its run lost records: {tags[Tag.RECORDS_LOST]}", number, run_id))
        elif state == "COMPLETE" and status != "RUNNING" and "objective_value" not in run.data.metrics:
            findings.append(Finding(RECORDS, "COMPLETE trial, but its run has no objective_value: its records "
                                    "were not all written", number, run_id))
        if status == "RUNNING":
            findings.append(Finding(RUN_RUNNING, f"trial {state} but its run is still RUNNING", number, run_id,
                                    f"end the run {expected}"))
        elif status != expected or tags.get(Tag.STATE) != state:
            findings.append(Finding(STATUS, f"trial {state}: run should be {expected} (tag {state}), is {status} "
                                    f"(tag {tags.get(Tag.STATE)})", number, run_id,
                                    f"set the run {expected}"))
    wrong = {key: want for key, want in ((Tag.TRIAL_NUMBER, str(number)), (Tag.STUDY, study_name))
             if tags.get(key) != want}
    if wrong:
        said = ", ".join(f"{key}={tags.get(key)!r}" for key in wrong)
        findings.append(Finding(TAGS, f"run tagged {said}", number, run_id,
                                "set " + ", ".join(f"{k}={v}" for k, v in wrong.items())))
    return findings


def _check_unclaimed(study: Any, trials: list[Any], runs: list[Any]) -> tuple[list[Finding], int]:
    """Trial runs (and extra parent runs) that no trial claims."""
    parent = study.user_attrs.get(StudyAttr.PARENT_RUN)
    claimed = {t.user_attrs.get(TrialAttr.RUN_ID): t for t in trials}
    by_number = {t.number: t for t in trials}
    findings, acknowledged = [], 0
    for run in runs:
        run_id, tags, status = run.info.run_id, run.data.tags, run.info.status
        role = tags.get(Tag.ROLE)
        if run_id in claimed or run_id == parent:
            continue
        if role not in (Role.TRIAL, Role.STUDY, None) or (role is None and tags.get(Tag.PARENT) != parent):
            continue  # another feature's run (a continuation, a transfer...) or not glasstune's at all
        if tags.get(Tag.ORPHAN) == "true" and status != "RUNNING":
            acknowledged += 1
            continue
        number_text = tags.get(Tag.TRIAL_NUMBER, "")
        trial = by_number.get(int(number_text)) if number_text.isdigit() else None
        end = ", end it KILLED" if status == "RUNNING" else ""
        if role == Role.STUDY:
            findings.append(Finding(ORPHAN, f"a second parent run of the study ({status})", None, run_id,
                                    f"tag {Tag.ORPHAN}=true{end}"))
        elif trial is not None and trial.user_attrs.get(TrialAttr.RUN_ID) is None:
            if trial.state.name == "RUNNING":
                continue  # its trial is starting right now and will claim it
            findings.append(Finding(ORPHAN, f"run for trial {trial.number}, which never recorded it ({status})",
                                    trial.number, run_id, f"tag {Tag.ORPHAN}=true{end}"))
        elif trial is not None:
            findings.append(Finding(DUPLICATE, f"a second run for trial {trial.number} ({status}); the trial's run is "
                                    f"{trial.user_attrs.get(TrialAttr.RUN_ID)}", trial.number, run_id,
                                    f"tag {Tag.ORPHAN}=true{end}"))
        else:
            what = f"trial {number_text}, which the study does not have" if number_text else "no trial number"
            findings.append(Finding(ORPHAN, f"run for {what} ({status})", None, run_id, f"tag {Tag.ORPHAN}=true{end}"))
    return findings, acknowledged


def _check_parent(study: Any, trials: list[Any], runs: dict[str, Any], client: Any, stale: set[int]) -> list[Finding]:
    parent_id = study.user_attrs.get(StudyAttr.PARENT_RUN)
    if not trials:
        return []
    if not parent_id:
        return [Finding(PARENT, "the study records no parent run (the next glasstune run makes one)")]
    parent = runs.get(parent_id) or _get_run(client, parent_id)
    if parent is None or parent.info.lifecycle_stage != "active":
        return [Finding(PARENT, "the study's parent run is deleted or gone (the next glasstune run makes one)",
                        None, parent_id)]
    live = [t for t in trials if t.state.name == "RUNNING" and t.number not in stale]
    if parent.info.status == "RUNNING" and not live:
        return [Finding(PARENT, "parent run RUNNING but no trial is running", None, parent_id,
                        "end it KILLED (the next glasstune run reopens it)")]
    return []


def _stale_trial_numbers(study: Any, trials: list[Any], heartbeat: bool, stale_after: float | None,
                         now: dt.datetime | None) -> set[int]:
    running = [t for t in trials if t.state.name == "RUNNING"]
    if not running:
        return set()
    gone = {t.number for t in running if owner_is_gone(t.user_attrs.get(TrialAttr.OWNER))}
    if heartbeat:
        # Optuna's own test (heartbeat older than the grace period); only read here, never changed
        ids = set(study._storage._get_stale_trial_ids(study._study_id))
        return gone | {t.number for t in running if t._trial_id in ids}
    if stale_after is None:
        return gone
    now = now or dt.datetime.now()
    return gone | {t.number for t in running
                   if t.datetime_start is not None and (now - t.datetime_start).total_seconds() > stale_after}


def _fix(finding: Finding, trial: Any, client: Any, study_name: str) -> bool:
    reason = f"glasstune doctor {dt.datetime.now():%Y-%m-%d %H:%M}: {finding.kind}: {finding.detail}"[:5000]
    try:
        if finding.kind in (RUN_RUNNING, STATUS) and trial is not None and trial.state.name != "RUNNING":
            state = trial.state.name
            extra = {Tag.DOCTOR: reason}
            if state == "FAIL":
                extra[Tag.ERROR] = trial.user_attrs.get(TrialAttr.ERROR) or STALE_REASON
                if trial.user_attrs.get(TrialAttr.INTERRUPTED):
                    extra[Tag.INTERRUPTED] = "true"
            tags = client.get_run(finding.run_id).data.tags
            end_run(client, finding.run_id, state, expected_run_status(state, trial.user_attrs, tags), extra)
            return True
        if finding.kind == TAGS and trial is not None:
            client.set_tag(finding.run_id, Tag.TRIAL_NUMBER, str(trial.number))
            client.set_tag(finding.run_id, Tag.STUDY, study_name)
            client.set_tag(finding.run_id, Tag.DOCTOR, reason)
            return True
        if finding.kind in (ORPHAN, DUPLICATE) and finding.run_id:
            client.set_tag(finding.run_id, Tag.ORPHAN, "true")
            client.set_tag(finding.run_id, Tag.DOCTOR, reason)
            if client.get_run(finding.run_id).info.status == "RUNNING":
                client.set_terminated(finding.run_id, status="KILLED")
            return True
        if finding.kind == PARENT and finding.run_id:
            client.set_tag(finding.run_id, Tag.DOCTOR, reason)
            client.set_terminated(finding.run_id, status="KILLED")
            return True
    except Exception:  # the store refused: the finding stays a problem and the next run shows it
        return False
    return False


def _experiment_id(study: Any, client: Any) -> str | None:
    known = study.user_attrs.get(StudyAttr.EXPERIMENT)
    experiment = client.get_experiment_by_name(study.study_name)
    if experiment is not None and experiment.lifecycle_stage == "active":
        return experiment.experiment_id
    return known if known and experiment is None and _experiment_exists(client, known) else None


def _experiment_exists(client: Any, experiment_id: str) -> bool:
    try:
        return client.get_experiment(experiment_id).lifecycle_stage == "active"
    except Exception:
        return False


def _runs(client: Any, experiment_id: str) -> list[Any]:
    """Every active run of the experiment, page by page."""
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _get_run(client: Any, run_id: str) -> Any:
    try:
        return client.get_run(run_id)
    except Exception:
        return None


def _when(moment: dt.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else "?"


@dataclass
class DoctorResult:
    """A whole doctor visit: what was found, what was fixed, what still holds afterwards."""

    before: Examination
    repaired: list[Finding] | None
    after: Examination

    @property
    def remaining(self) -> list[Finding]:
        return self.after.findings


def check_study(name: str, storage_url: str, tracking_uri: str, *, fix: bool = False,
                stale_after: float | None = None) -> DoctorResult:
    """Open both stores, examine the study, repair if asked, and examine again."""
    import optuna

    from glasstune.stores.optuna_storage import has_heartbeat, open_storage, study_names
    from glasstune.stores.tracking import Tracker
    from glasstune.urls import redact

    if stale_after is not None and stale_after <= 0:
        raise GlasstuneError(f"--stale-after {stale_after:g}: give the age in seconds (more than 0) "
                             f"after which a RUNNING trial counts as abandoned")
    storage = open_storage(storage_url)
    known = study_names(storage)
    if name not in known:
        hint = f"known studies: {', '.join(known[:8])}" if known else "the storage holds no study yet"
        raise GlasstuneError(f"no study named {name!r} in {redact(storage_url)}; {hint}")
    study = optuna.load_study(study_name=name, storage=storage)
    tracker = Tracker.open(tracking_uri)
    heartbeat = has_heartbeat(storage)
    before = examine(study, tracker, heartbeat=heartbeat, stale_after=stale_after)
    if not fix:
        return DoctorResult(before, None, before)
    repaired = repair(study, tracker, storage, before.findings, heartbeat=heartbeat, stale_after=stale_after)
    after = examine(study, tracker, heartbeat=heartbeat, stale_after=stale_after)
    return DoctorResult(before, repaired, after)


def close_orphan_runs(study: Any, tracker: Any, checked: set[str]) -> int:
    """A worker killed mid-trial leaves a RUNNING MLflow run; once Optuna has failed its stale trial
    (heartbeat), end that run FAILED. ``checked`` holds run ids already looked at, so each failed
    trial costs one MLflow lookup per process, not one per trial. Returns how many runs were closed."""
    from optuna.trial import TrialState

    from glasstune.stores.tracking import STALE_REASON, end_run

    closed = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        run_id = trial.user_attrs.get(TrialAttr.RUN_ID)
        if not run_id or trial.user_attrs.get(TrialAttr.ERROR) or run_id in checked:
            continue  # a failure our own runner saw has its run closed already
        checked.add(run_id)
        try:
            if tracker.client.get_run(run_id).info.status == "RUNNING":
                end_run(tracker.client, run_id, "FAIL", "FAILED", {Tag.ERROR: STALE_REASON})
                closed += 1
        except Exception:
            continue
    return closed
