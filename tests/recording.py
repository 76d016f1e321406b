"""A TrialSink that keeps what it is given, for tests of objectives."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path


class RecordingSink:
    keeps_artifacts = True

    def __init__(self) -> None:
        self.params: dict = {}
        self.metrics: dict[str, list[tuple[int | None, float]]] = defaultdict(list)
        self.artifacts: list[Path] = []
        self.tags: dict = {}

    def log_params(self, params):
        self.params.update(params)

    def log_metrics(self, metrics):
        for key, value, step in metrics:
            self.metrics[key].append((step, value))

    def log_artifact(self, path, artifact_dir=None):
        self.artifacts.append(Path(path))

    def set_tags(self, tags):
        self.tags.update(tags)

    @property
    def artifact_names(self) -> set[str]:
        return {path.name for path in self.artifacts}
