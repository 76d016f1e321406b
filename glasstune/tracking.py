"""MLflow tracking on ``MlflowClient`` with explicit run ids: safe with several workers.

One experiment and one parent run per study (the same parent when a study is resumed), one child
run per trial. Optuna's trial state decides the run's status. Tracking problems mid-study are
reported but never lose a trial's result in Optuna: the sink swallows and counts its own failures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from glasstune.config import sqlite_path
from glasstune.errors import StoreError
from glasstune.urls import redact

log = logging.getLogger(__name__)

RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
ROLE_TAG, STUDY_TAG = "glasstune.role", "glasstune.study"
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
"""MLflow's UI opens such experiments on its model-training pages (runs, metrics), not its GenAI ones."""
MAX_BATCH = 1000


class Tracker:
    """The MLflow side of a study."""

    def __init__(self, tracking_uri: str) -> None:
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri)

    @classmethod
    def open(cls, tracking_uri: str) -> Tracker:
        """Connect and prove the store answers, before any trial runs."""
        database = sqlite_path(tracking_uri)
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
        try:
            tracker = cls(tracking_uri)
            tracker.client.search_experiments(max_results=1)
        except Exception as error:
            raise StoreError(f"MLflow store {redact(tracking_uri)} is not usable: {_first_line(error)}") from error
        return tracker

    def artifact_root(self) -> str | None:
        """Artifacts of an SQLite store go in an ``artifacts`` folder beside the database."""
        database = sqlite_path(self.tracking_uri)
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
            [experiment_id], f"tags.`{ROLE_TAG}` = 'study' and tags.`{STUDY_TAG}` = '{study_name}'",
            max_results=1, order_by=["attributes.start_time ASC"])
        if existing:  # another worker made it first
            return existing[0].info.run_id
        run = self.client.create_run(
            experiment_id, run_name=study_name, tags={ROLE_TAG: "study", STUDY_TAG: study_name, **tags}
        )
        return run.info.run_id

    def start_trial(self, experiment_id: str, parent_run_id: str, study_name: str, trial_number: int,
                    tags: Mapping[str, str]) -> TrialRun:
        run = self.client.create_run(
            experiment_id,
            run_name=f"trial-{trial_number:03d}",
            tags={
                "mlflow.parentRunId": parent_run_id,
                ROLE_TAG: "trial",
                STUDY_TAG: study_name,
                "glasstune.trial_number": str(trial_number),
                "glasstune.state": "RUNNING",
                **tags,
            },
        )
        return TrialRun(self.client, run.info.run_id)

    def finish_study_run(self, run_id: str) -> None:
        self.client.set_terminated(run_id, status="FINISHED")


class TrialRun:
    """One trial's MLflow run, as a ``TrialSink``. Metrics are buffered and sent in batches."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self.failures = 0
        self._metrics: list[Any] = []
        self._params: dict[str, str] = {}

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        fresh = {k: str(v)[:6000] for k, v in params.items() if k not in self._params}
        if fresh:
            self._safely(self.client.log_batch, self.run_id,
                         params=[Param(k, v) for k, v in fresh.items()])
            self._params.update(fresh)

    def log_metrics(self, metrics: Iterable[tuple[str, float, int | None]]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._metrics.extend(Metric(key, value, now, step or 0) for key, value, step in metrics)
        if len(self._metrics) >= MAX_BATCH:
            self.flush()

    def log_artifact(self, path: Path, artifact_dir: str | None = None) -> None:
        self._safely(self.client.log_artifact, self.run_id, str(path), artifact_dir)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self._safely(self.client.log_batch, self.run_id,
                     tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])

    def flush(self) -> None:
        pending, self._metrics = self._metrics, []
        for start in range(0, len(pending), MAX_BATCH):
            self._safely(self.client.log_batch, self.run_id, metrics=pending[start:start + MAX_BATCH])

    def end(self, state: str, reason: str | None = None) -> None:
        """Close the run with the status that matches Optuna's trial state."""
        self.flush()
        tags = {"glasstune.state": state}
        if reason:
            tags["glasstune.prune_reason" if state == "PRUNED" else "glasstune.error"] = reason
        self.set_tags(tags)
        self._safely(self.client.set_terminated, self.run_id, status=RUN_STATUS.get(state, "FAILED"))

    def _safely(self, call: Any, *args: Any, **kwargs: Any) -> None:
        try:
            call(*args, **kwargs)
        except Exception as error:  # tracking must never cost a trial its result
            self.failures += 1
            log.warning("MLflow logging failed for run %s: %s", self.run_id, _first_line(error))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
