"""What the UIs read from and keep in the MLflow store: the runs view a study opens on, the metric
and tag names its trial runs carry, the figures a trial logged.

MLflow 3's UI keeps a saved view of an experiment's runs table (filter, sort, columns, widths) as an
experiment tag ``mlflow.sharedViewState.<id>`` holding ``{"name", "createdAt", "updatedAt",
"state"}``; the address ``#/experiments/<id>/runs?viewStateShareKey=<id>`` opens the table that way,
and the view is listed under "Views" for everyone who opens the experiment.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from glasstune.stores.names import Role, Tag

SAVED_VIEW_PREFIX = "mlflow.sharedViewState."
"""MLflow's UI: experiment tags that hold saved views of the runs table."""
FIGURE_SUFFIXES = (".png",)


def save_runs_view(tracker: Any, experiment_id: str, view_id: str, name: str, state: Mapping[str, Any]) -> None:
    """Keep ``state`` as the experiment's saved view ``view_id`` (its creation time kept when it is
    saved again, so the Views list does not reorder)."""
    key = SAVED_VIEW_PREFIX + view_id
    now = int(time.time() * 1000)
    created = now
    previous = tracker.client.get_experiment(experiment_id).tags.get(key)
    if previous:
        try:
            created = int(json.loads(previous)["createdAt"])
        except (ValueError, KeyError, TypeError):
            created = now
    envelope = {"name": name, "createdAt": created, "updatedAt": now, "state": json.dumps(dict(state))}
    tracker.client.set_experiment_tag(experiment_id, key, json.dumps(envelope))


def trial_run_keys(tracker: Any, experiment_id: str, max_runs: int = 200) -> tuple[set[str], set[str]]:
    """The metric keys and tag keys of the experiment's trial runs (the latest ``max_runs``)."""
    runs = tracker.client.search_runs([experiment_id], f"tags.`{Tag.ROLE}` = '{Role.TRIAL}'",
                                      max_results=max_runs, order_by=["attributes.start_time DESC"])
    metrics: set[str] = set()
    tags: set[str] = set()
    for run in runs:
        metrics.update(run.data.metrics)
        tags.update(run.data.tags)
    return metrics, tags


def download_figures(tracker: Any, run_id: str, folder: Path, names: Iterable[str] | None = None) -> list[Path]:
    """The run's figures (top-level PNG artifacts, or those ``names``) copied into ``folder``."""
    from glasstune.stores.tracking import _environment

    wanted = set(names) if names is not None else None
    paths = []
    with _environment({"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}):
        for entry in tracker.client.list_artifacts(run_id):
            if entry.is_dir or not entry.path.endswith(FIGURE_SUFFIXES):
                continue
            if wanted is not None and entry.path not in wanted:
                continue
            paths.append(Path(tracker.client.download_artifacts(run_id, entry.path, str(folder))))
    return paths
