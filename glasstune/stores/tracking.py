"""MLflow tracking on ``MlflowClient`` with explicit run ids: safe with several workers.

One experiment and one parent run per study (the same parent when a study is resumed), one child
run per trial. Optuna's trial state decides the run's status. A store that cannot be read or written
stops the study before its first trial (``Tracker.open`` and ``Tracker.check_writable``); tracking
problems mid-study are reported but never lose a trial's result in Optuna: the sink swallows and
counts its own failures, even when the trial's run cannot be created at all.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from glasstune.config import sqlite_path
from glasstune.errors import StoreError, one_line
from glasstune.figures import save_figure
from glasstune.locks import creation_lock
from glasstune.stores.names import Role, Tag
from glasstune.urls import redact

log = logging.getLogger(__name__)

RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
"""MLflow's UI opens such experiments on its model-training pages (runs, metrics), not its GenAI ones."""
MAX_BATCH = 1000
# MLflow's own HTTP defaults retry 7 times with backoff (minutes against a dead server). A study
# keeps a few quick retries for hiccups; the check before the first trial makes one bounded try.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
HTTP_PROBE = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def expected_run_status(state: str, user_attrs: Mapping[str, Any] | None = None,
                        tags: Mapping[str, str] | None = None) -> str:
    """The MLflow status a trial's run should end with: an interrupted (Ctrl-C) trial is FAIL in
    Optuna, so the study redoes it, and KILLED in MLflow, because nothing went wrong in it. A run
    that lost records (a full disk, a store that went away) is FAILED whatever its trial's state:
    its metrics or files are not all there, and its status says so."""
    if (tags or {}).get(Tag.RECORDS_LOST):
        return "FAILED"
    if state == "FAIL" and (user_attrs or {}).get("interrupted"):
        return "KILLED"
    return RUN_STATUS.get(state, "FAILED")


def records_lost_tag(count: int, first_error: str) -> dict[str, str]:
    """The tag of a run some of whose records could not be written."""
    return {Tag.RECORDS_LOST: f"{count} record(s) not written, first: {first_error}"[:5000]}


STALE_REASON = "worker stopped (no heartbeat); trial failed and retried"
OWNER_GONE_REASON = ("its process stopped without ending it (killed, out of memory or power loss); "
                     "trial failed and retried with the same parameters and seed")


def end_run(client: Any, run_id: str, state: str, status: str, tags: Mapping[str, str]) -> None:
    """Give a run its trial's state and status after the fact (a dead worker's run, a repair);
    an error the run already states is kept."""
    run = client.get_run(run_id)
    client.set_tag(run_id, Tag.STATE, state)
    for key, value in tags.items():
        if key == Tag.ERROR and run.data.tags.get(key):
            continue
        client.set_tag(run_id, key, value)
    if run.info.status == "RUNNING":
        client.set_terminated(run_id, status=status)
    else:
        client.update_run(run_id, status=status)


def readable(value: float) -> float:
    """A metric at 4 significant digits, whole numbers as they are: a balanced accuracy on a few
    hundred held-out rows is noise beyond its third decimal, and MLflow's UI shows every digit
    (0.33399999141693115 for a float32 0.334)."""
    value = float(value)
    if not math.isfinite(value) or value.is_integer():
        return value
    return float(f"{value:.4g}")


STORE_AWAY = ("Connection refused", "Max retries exceeded", "Connection aborted", "RemoteDisconnected",
              "Connection reset", "timed out", "503", "502", "504", "database is locked")
"""Errors of a store that is away for a moment (a tracking server restarting, a locked SQLite file),
as opposed to a refusal of the call itself (a deleted run, a bad value), which no retry mends."""
AWAY_PAUSES = (1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0, 30.0, 30.0)
"""Seconds between attempts while the store is away: about two minutes in all."""


def is_away(error: BaseException) -> bool:
    """Whether ``error`` says the store could not be reached, rather than that it refused the call."""
    return any(marker in str(error) for marker in STORE_AWAY)


def while_away(function: Any, *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, tried again after each pause while the store is away (a
    tracking server restarting), for about two minutes."""
    for pause in [*AWAY_PAUSES, None]:
        try:
            return function(*args, **kwargs)
        except Exception as error:
            if pause is None or not is_away(error):
                raise
            time.sleep(pause)
    raise AssertionError("unreachable")


def bound_http_retries() -> None:
    """Keep MLflow's HTTP retries short unless the user chose otherwise (workers inherit this)."""
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)


def database_file(tracking_uri: str) -> Path | None:
    """The SQLite file behind a tracking URI, also for ``sqlite:///file:/path?mode=ro&uri=true``."""
    path = sqlite_path(tracking_uri)
    if path is None:
        return None
    text = str(path)
    if text.startswith("file:"):
        text = text[len("file:"):].split("?", 1)[0]
    return Path(text)


class Tracker:
    """The MLflow side of a study."""

    def __init__(self, tracking_uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri)
        if os.environ.get("MLFLOW_LOGGING_LEVEL", "").upper() not in ("DEBUG", "INFO"):
            # it logs a store error with a traceback, then raises it: we say it in one line (--debug shows all)
            logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)

    @classmethod
    def open(cls, tracking_uri: str) -> Tracker:
        """Connect and prove the store answers, before any trial runs (one bounded try on HTTP)."""
        database = database_file(tracking_uri)
        if database is not None:
            try:
                database.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"MLflow store {tracking_uri}: cannot create {database.parent} ({error})") from error
        plain_path = "://" not in tracking_uri and not tracking_uri.startswith("databricks")
        if tracking_uri.startswith("file:") or plain_path:
            raise StoreError(
                f"MLflow store {redact(tracking_uri)}: the file store is deprecated; "
                f"use sqlite:///mlruns/mlflow.db or an http(s) tracking server"
            )
        bound_http_retries()
        try:
            # the first use creates (or migrates) the store's tables: one process at a time
            with creation_lock(tracking_uri, database):
                tracker = cls(tracking_uri)
                with _environment(HTTP_PROBE if tracking_uri.startswith(("http://", "https://")) else {}):
                    tracker.client.search_experiments(max_results=1)
        except Exception as error:
            raise StoreError(f"MLflow store {redact(tracking_uri)} is not usable: {_store_reason(error)}; "
                             f"check --tracking-uri or $MLFLOW_TRACKING_URI") from error
        return tracker

    def check_writable(self, parent_run_id: str, tags: Mapping[str, str], document: Mapping[str, Any]) -> None:
        """Write to the store and to the artifact store once, so a read-only one stops the study
        before its first trial instead of failing every trial's logging: the parent run's tags and
        ``study.json`` (what the study is, in plain words) are written again on every start."""
        from mlflow.entities import RunTag

        try:
            self.client.log_batch(parent_run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])
        except Exception as error:
            raise StoreError(f"MLflow store {redact(self.tracking_uri)} is not writable: "
                             f"{one_line(error)}") from error
        location = "the artifact store"
        try:
            location = self.client.get_run(parent_run_id).info.artifact_uri
            with tempfile.TemporaryDirectory(prefix="glasstune-study-") as folder:
                path = Path(folder) / "study.json"
                path.write_text(json.dumps(document, indent=2, default=str))
                self.client.log_artifact(parent_run_id, str(path))
        except Exception as error:
            raise StoreError(f"MLflow artifacts cannot be written to {redact(location)}: {one_line(error)}; "
                             f"fix its permissions or use another tracking store") from error

    def artifact_root(self) -> str | None:
        """Artifacts of an SQLite store go in an ``artifacts`` folder beside the database."""
        database = database_file(self.tracking_uri)
        return (database.parent.resolve() / "artifacts").as_uri() if database else None

    def experiment_id(self, name: str) -> str:
        """The study's experiment, created on first use (another worker may win the race)."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                raise StoreError(
                    f"MLflow experiment {name!r} was deleted; restore it (mlflow experiments restore) "
                    f"or run the study under another name"
                )
            return experiment.experiment_id
        root = self.artifact_root()
        try:
            location = f"{root}/{name}" if root else None
            return self.client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_TAGS)
        except Exception:
            experiment = self.client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return experiment.experiment_id

    def study_run(self, experiment_id: str, study_name: str, known_run_id: str | None,
                  tags: Mapping[str, str]) -> str:
        """The parent run of the study: the recorded one if it still exists, else a new one."""
        if known_run_id:
            try:
                run = self.client.get_run(known_run_id)
                if run.info.lifecycle_stage == "active":
                    if run.info.status != "RUNNING":
                        self.client.update_run(known_run_id, status="RUNNING")
                    return known_run_id
            except Exception:
                log.warning("parent run %s is gone; starting a new one", known_run_id)
        existing = self.client.search_runs(
            [experiment_id], f"tags.`{Tag.ROLE}` = '{Role.STUDY}' and tags.`{Tag.STUDY}` = '{study_name}'",
            max_results=1, order_by=["attributes.start_time ASC"])
        if existing:  # another worker made it first
            return existing[0].info.run_id
        run = self.client.create_run(
            experiment_id, run_name=study_name, tags={Tag.ROLE: Role.STUDY, Tag.STUDY: study_name, **tags}
        )
        return run.info.run_id

    def start_trial(self, experiment_id: str, parent_run_id: str, study_name: str, trial_number: int,
                    tags: Mapping[str, str], writer: Any = None) -> TrialRun:
        """The trial's run (its records then go through ``writer`` if given); if the store fails now
        (and is not merely away for a moment), a run without id that logs nothing and counts the
        failure, so the trial still runs and its result still reaches Optuna."""
        tags = {Tag.PARENT: parent_run_id, Tag.ROLE: Role.TRIAL, Tag.STUDY: study_name,
                Tag.TRIAL_NUMBER: str(trial_number), Tag.STATE: "RUNNING", **tags}
        try:  # a store that is away for a moment (a server restarting) is waited for: the trial has not started
            run = while_away(self.client.create_run, experiment_id, run_name=f"trial-{trial_number:03d}", tags=tags)
        except Exception as error:
            log.warning("MLflow run for trial %s not created: %s", trial_number, one_line(error))
            detached = TrialRun(self.client, None)
            detached.failures = 1
            detached.error = one_line(error)
            return detached
        return TrialRun(self.client, run.info.run_id, writer)

    def find_experiment(self, name: str) -> str | None:
        """The id of the active experiment called ``name``, or None."""
        experiment = self.client.get_experiment_by_name(name)
        return experiment.experiment_id if experiment is not None and experiment.lifecycle_stage == "active" else None

    def run_placement(self, run_id: str) -> tuple[str, str | None]:
        """(experiment id, parent run id) of a run; a run that is not in this store is a StoreError."""
        try:
            run = self.client.get_run(run_id)
        except Exception as error:
            raise StoreError(f"MLflow run {run_id} is not in {redact(self.tracking_uri)}; pass the "
                             f"--tracking-uri the study ran with") from error
        return run.info.experiment_id, run.data.tags.get(Tag.PARENT)

    def new_run(self, experiment_id: str, run_name: str, tags: Mapping[str, str]) -> TrialRun:
        """A run of the experiment written from this process (a continuation, an analysis)."""
        created = self.client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
        return TrialRun(self.client, created.info.run_id)

    def log_folder(self, run_id: str, folder: Path, artifact_path: str | None = None) -> None:
        """Every file of ``folder`` as the run's artifacts (under ``artifact_path``)."""
        self.client.log_artifacts(run_id, str(folder), artifact_path)

    def log_analysis_run(self, experiment: str, run_name: str, *, tags: Mapping[str, str],
                         params: Mapping[str, str], metrics: Mapping[str, float], note: str, folder: Path) -> str:
        """A finished run of its own for an analysis of several studies (``glasstune transfer``):
        its parameters, final metrics, a note shown on the run's page, and every file of ``folder``."""
        from mlflow.entities import Metric, Param, RunTag

        run_id = self.client.create_run(self.experiment_id(experiment), run_name=run_name, tags=dict(tags)).info.run_id
        now = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(key, float(value), now, 0) for key, value in metrics.items()],
                              params=[Param(key, str(value)[:6000]) for key, value in params.items()],
                              tags=[RunTag("mlflow.note.content", note[:5000])])
        self.client.log_artifacts(run_id, str(folder))
        self.client.set_terminated(run_id, status="FINISHED")
        return run_id

    def log_study_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        """Final values on the study's parent run (the baseline's scores...)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(key, float(value), now, 0) for key, value in metrics.items()])

    def finish_study_run(self, run_id: str | None, status: str = "FINISHED") -> None:
        """End the parent run; a failure here is logged, never raised (every trial is stored)."""
        if not run_id:
            return
        try:
            self.client.set_terminated(run_id, status=status)
        except Exception as error:
            log.warning("MLflow parent run %s not ended: %s", run_id, one_line(error))


class TrialRun:
    """One trial's MLflow run, as a ``TrialSink``. Metrics are buffered and sent in batches.

    With a ``writer`` (a study's ``BackgroundWriter``) every call after the run's creation is made
    by the writer's child process, in order, while this process trains the next trial; its failures
    come back later through ``note_failure``. Without one, calls are made here, as they come.
    """

    def __init__(self, client: Any, run_id: str | None, writer: Any = None) -> None:
        self.client = client
        self.run_id = run_id
        self.writer = writer
        self.keeps_artifacts = run_id is not None  # a run never created keeps nothing: draw nothing for it
        self.failures = 0
        self.error: str | None = None
        self._metrics: list[Any] = []
        self._params: dict[str, str] = {}

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        fresh = {k: str(v)[:6000] for k, v in params.items() if k not in self._params}
        if fresh:
            self._safely("log_batch", self.run_id, params=[Param(k, v) for k, v in fresh.items()])
            self._params.update(fresh)

    def log_metrics(self, metrics: Iterable[tuple[str, float, int | None]]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._metrics.extend(Metric(key, readable(value), now, step or 0) for key, value, step in metrics)
        if len(self._metrics) >= MAX_BATCH:
            self.flush()

    def log_artifact(self, path: Path, artifact_dir: str | None = None) -> None:
        self._safely("log_artifact", self.run_id, str(path), artifact_dir)

    def log_figure(self, figure: Any, path: Path) -> None:
        """Draw the figure to ``path`` and log it; with a writer, both happen in its child."""
        try:
            if self.run_id is not None and self.writer is not None:
                self.writer.figure(self.run_id, figure, path)
                return
            save_figure(figure, path)
        except Exception as error:  # a figure that cannot be drawn or sent is a lost record, not a lost trial
            self.note_failure(one_line(error))
            return
        self.log_artifact(path)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self._safely("log_batch", self.run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])

    def flush(self) -> None:
        pending, self._metrics = self._metrics, []
        for start in range(0, len(pending), MAX_BATCH):
            self._safely("log_batch", self.run_id, metrics=pending[start:start + MAX_BATCH])

    def end(self, state: str, reason: str | None = None, *, interrupted: bool = False) -> None:
        """Close the run with the status that matches Optuna's trial state (KILLED if interrupted)."""
        self.flush()
        tags = {Tag.STATE: state}
        if reason:
            tags[Tag.PRUNE_REASON if state == "PRUNED" else Tag.ERROR] = reason
        if interrupted:
            tags[Tag.INTERRUPTED] = "true"
        if self.failures and self.writer is None:  # (the writer's process judges the calls it makes)
            tags.update(records_lost_tag(self.failures, self.error or ""))
        self.set_tags(tags)
        status = expected_run_status(state, {"interrupted": interrupted}, tags)
        self._safely("set_terminated", self.run_id, status=status)

    def discard(self, folder: Path) -> None:
        """Delete the trial's artifact folder once its files are logged (after ``end``)."""
        if self.writer is not None:
            self.writer.remove(folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)

    def note_failure(self, error: str) -> None:
        """Count a record that was not written; the first error is the one said (the rest repeat it)."""
        self.failures += 1
        self.error = self.error or error

    def _safely(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self.run_id is None:  # the run was never created: nothing to log to
            return
        if self.writer is not None:
            self.writer.call(self.run_id, method, *args, **kwargs)
            return
        try:
            getattr(self.client, method)(*args, **kwargs)
        except Exception as error:  # tracking must never cost a trial its result
            self.note_failure(one_line(error))


class _environment:
    """Environment variables set for the duration of a block, then restored."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        self.saved = {key: os.environ.get(key) for key in self.values}
        os.environ.update(self.values)

    def __exit__(self, *exc: Any) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _store_reason(error: BaseException) -> str:
    """Why a store did not answer, in the words a user acts on, not urllib3's."""
    text = str(error)
    for marker, reason in (("Connection refused", "nothing answers there (connection refused)"),
                           ("timed out", "no answer in time (timed out)"),
                           ("Name or service not known", "unknown host"),
                           ("Temporary failure in name resolution", "unknown host")):
        if marker in text:
            return reason
    if "unsupported URI" in text:
        return ("unsupported URI scheme; use sqlite:///path/mlflow.db, http(s)://host:port "
                "or a database URL (postgresql://...)")
    return one_line(error)
