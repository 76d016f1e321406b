"""Serve MLflow's UI over the study store, bound to 127.0.0.1 by default, opening on the study's trials.

``glasstune ui STUDY`` saves a view of the study's runs table in its experiment (its trial runs, flat,
best score first, with the score, gap, state and prune-reason columns) and prints the address that
opens it: the first screen answers which trial is best, whether it memorises and why trials stopped.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from glasstune.config import sqlite_path
from glasstune.errors import GlasstuneError
from glasstune.results.words import METRICS, metric_name
from glasstune.stores.names import Role, Tag
from glasstune.urls import redact

log = logging.getLogger(__name__)


def mlflow_ui_command(tracking_uri: str, host: str, port: int) -> list[str]:
    """The server's command line; the store's URI (which may hold a password) is not on it: every
    user of the machine can read a command line (``ps``). It goes in the environment (``server_env``)."""
    command = [sys.executable, "-m", "mlflow", "server", "--host", host, "--port", str(port), "--workers", "1"]
    database = sqlite_path(tracking_uri)
    if database is not None:
        if not database.exists():
            raise GlasstuneError(f"no MLflow store at {database}; run a study first (glasstune run ...)")
        command += ["--default-artifact-root", (database.parent.resolve() / "artifacts").as_uri()]
    return command


def runs_url(host: str, port: int, experiment_id: str | None, query: str = "") -> str:
    """The table of training runs (the experiment's default page shows GenAI traces instead);
    ``query``: the view to open it with."""
    base = f"http://{host}:{port}/"
    if not experiment_id:
        return base
    return f"{base}#/experiments/{experiment_id}/runs" + (f"?{query}" if query else "")


VIEW_ID = "glasstune-trials"
SCORE_COLUMNS = ("memorisation_gap", "test_accuracy", "final_val_accuracy")
"""Metrics shown beside the score when the trial runs have them (the MLP's memorisation gap, the CNN's
test accuracy and its final model's validation accuracy)."""
TAG_COLUMNS = (Tag.STATE, Tag.PRUNE_REASON, Tag.COLLAPSE_REASON, Tag.ERROR, Tag.SYNTHETIC)
CHARACTER_PX = 7
"""About one character of a column header, in pixels, for the view's column widths."""


@dataclass
class TrialsView:
    """How the study's runs table opens: its trials only (not the study's parent run, so they are not
    folded under it), best score first, the score, gap, state and prune reason as columns."""

    metric: str
    maximise: bool = True
    metrics: tuple[str, ...] = ()
    tags: tuple[str, ...] = (Tag.STATE,)

    @property
    def search_filter(self) -> str:
        return f"tags.`{Tag.ROLE}` = '{Role.TRIAL}'"

    @property
    def order_by(self) -> str:
        return _column("metrics", self.metric)

    def state(self) -> dict[str, Any]:
        """MLflow's view state: filter, sort, columns and their widths."""
        columns = [_column("metrics", self.metric), *(_column("metrics", key) for key in self.metrics),
                   *(_column("tags", key) for key in self.tags)]
        widths = {column: _width(column) for column in columns}
        return {"searchFilter": self.search_filter, "orderByKey": self.order_by, "orderByAsc": not self.maximise,
                "startTime": "ALL", "lifecycleFilter": "Active", "datasetsFilter": [],
                "modelVersionFilter": "All Runs", "selectedColumns": columns, "columnOrder": columns,
                "columnWidths": widths}

    def query(self, saved: bool) -> str:
        """The address's query: the saved view, or (when it could not be saved) filter and sort alone."""
        if saved:
            return urlencode({"viewStateShareKey": VIEW_ID, "workflowType": "machine_learning"})
        return urlencode({"workflowType": "machine_learning", "searchFilter": self.search_filter,
                          "orderByKey": self.order_by, "orderByAsc": str(not self.maximise).lower()},
                         quote_via=quote)


def trials_view(tracker: Any, experiment_id: str, metric: str, maximise: bool) -> TrialsView:
    """The view of this experiment's trials, with the columns its trial runs actually have."""
    from glasstune.stores.views import trial_run_keys

    metrics, tags = trial_run_keys(tracker, experiment_id)
    return TrialsView(metric, maximise, tuple(key for key in SCORE_COLUMNS if key in metrics and key != metric),
                      tuple(key for key in TAG_COLUMNS if key in tags))


def open_trials(tracker: Any, experiment_id: str, study: str, storage: str | None) -> tuple[str, str]:
    """Save the study's trials view in its experiment and return (the address's query, what it
    shows). A store that cannot be written still gets an address that filters and sorts."""
    from glasstune.stores.views import save_runs_view

    metric, maximise = _study_metric(study, storage)
    view = trials_view(tracker, experiment_id, metric, maximise)
    words = METRICS.get(metric, metric)
    name = f"trials by {words}"
    try:
        save_runs_view(tracker, experiment_id, VIEW_ID, name, view.state())
    except Exception as error:  # a read-only store: the address still filters and sorts
        log.warning("MLflow view not saved: %s", error)
        return view.query(saved=False), f"the trials of {study} by {words}; add columns with \"Columns\""
    return view.query(saved=True), f"the trials of {study} by {words} (view \"{name}\")"


def _study_metric(study: str, storage: str | None) -> tuple[str, bool]:
    """The study's metric and direction from its Optuna record; the runner's ``objective_value`` when
    the storage does not have the study (a missing SQLite file is not created to find out)."""
    database = sqlite_path(storage) if storage else None
    if not storage or (database is not None and not database.exists()):
        return "objective_value", True
    from glasstune.results.trials import load_study

    try:
        loaded = load_study(study, storage)
    except GlasstuneError:
        return "objective_value", True
    metric = metric_name(loaded)
    return (metric if metric != "value" else "objective_value"), loaded.direction.name == "MAXIMIZE"


def _column(kind: str, key: str) -> str:
    return f"{kind}.`{key}`"


def _width(column: str) -> int:
    """Wide enough for the header (up to 40 characters); prune reasons get room to be read."""
    key = column.split("`")[1]
    if key in (Tag.PRUNE_REASON, Tag.ERROR, Tag.COLLAPSE_REASON):
        return 560
    return min(40, len(key)) * CHARACTER_PX + 34  # the header's padding and sort arrow


def serve_mlflow(tracking_uri: str, *, host: str, port: int, study: str | None, console: Any,
                 storage: str | None = None) -> None:
    experiment_id, query, shows = None, "", "every experiment"
    if study:
        from glasstune.stores.tracking import Tracker

        tracker = Tracker.open(tracking_uri)
        experiment_id = tracker.find_experiment(study)
        if experiment_id is None:
            raise GlasstuneError(f"no MLflow experiment named {study!r} in {redact(tracking_uri)}")
        query, shows = open_trials(tracker, experiment_id, study, storage)
    command = mlflow_ui_command(tracking_uri, host, port)
    console.print(f"MLflow UI on {runs_url(host, port, experiment_id, query)}", highlight=False, soft_wrap=True)
    console.print(f"  {shows}  (Ctrl-C to stop)", highlight=False)
    run_server_group(command, {**os.environ, "MLFLOW_BACKEND_STORE_URI": tracking_uri})


def run_server_group(command: list[str], env: dict[str, str] | None = None) -> None:
    """Run a server until it ends or this process is stopped (Ctrl-C or SIGTERM); then stop the
    server and every process it started. MLflow's server starts uvicorn and job consumers of its own,
    which outlived a plain SIGTERM to ``glasstune ui`` and kept the port."""
    server = subprocess.Popen(command, start_new_session=True, env=env)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop_group(server)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop_group(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group; after the server ends (10 s at most), SIGKILL to
    whatever of the group is left."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait()
