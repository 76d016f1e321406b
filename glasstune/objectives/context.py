"""The contract between a study's objective and the framework around it.

An objective is a callable ``objective(ctx) -> float``. It draws its parameters from ``ctx.trial``
(Optuna's define-by-run API), trains and scores on ``ctx.data``, reports intermediate values with
``ctx.report`` (which raises ``optuna.TrialPruned`` when the pruner says so), and logs curves, tables,
figures and summary values through the context. It knows nothing of MLflow or the CLI: the context
forwards everything to a ``TrialSink`` (the MLflow tracker in a study, a recorder in tests).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from glasstune.data.provenance import provenance_label
from glasstune.figures import save_figure
from glasstune.interrupts import deferred_signals
from glasstune.stores.names import TrialAttr

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    from matplotlib.figure import Figure

    from glasstune.objectives.pruning import PruneDecision


class TrialSink(Protocol):
    """Where a trial's records go. ``glasstune.stores.tracking`` implements it on MLflow.

    A sink whose ``keeps_artifacts`` is false throws artifacts away, so the context does not draw or
    write them at all (a loss-curve figure costs 0.1-0.2 s, more than a short trial's training). A
    sink may also offer ``log_figure(figure, path)`` to draw a figure itself (the MLflow sink has it
    drawn by its background process); otherwise the context draws it and logs the file."""

    keeps_artifacts: bool

    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, metrics: Iterable[tuple[str, float, int | None]]) -> None:
        """(key, value, step) triples; step None means a final value."""

    def log_artifact(self, path: Path, artifact_dir: str | None = None) -> None: ...

    def set_tags(self, tags: Mapping[str, str]) -> None: ...


class NullSink:
    """A sink that keeps nothing: for an objective run outside a study (benchmarks, transfer)."""

    keeps_artifacts = False

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: Iterable[tuple[str, float, int | None]]) -> None:
        pass

    def log_artifact(self, path: Path, artifact_dir: str | None = None) -> None:
        pass

    def set_tags(self, tags: Mapping[str, str]) -> None:
        pass


class FolderSink(NullSink):
    """Keeps only the artifacts, as files in the trial's ``workdir`` (``glasstune retrain --out``)."""

    keeps_artifacts = True


@dataclass
class TrialContext:
    """Everything an objective needs for one trial, and the only way it talks to the outside."""

    trial: optuna.Trial
    data: Any
    seed: int
    workdir: Path
    """A folder of this trial's own (artifacts are written here before they are logged)."""
    checkpoint_dir: Path
    """A folder that survives a retry of the same trial: resume from what is found here."""
    sink: TrialSink = field(default_factory=NullSink)
    device: str = "cpu"
    on_status: Callable[[str], None] | None = None
    pruned: PruneDecision | None = field(default=None, init=False)
    """Set when the pruner stopped the trial: what was compared with what (for the trial's figure)."""
    _described: bool = field(default=False, init=False, repr=False)

    def report(self, value: float, step: int, *, unit: str = "step", label: str = "intermediate value",
               where: str | None = None) -> None:
        """Report an intermediate value; raise ``optuna.TrialPruned`` if the pruner says stop.

        ``unit`` says what a step counts ("epoch", "iteration"), ``label`` what the value is ("held-out"),
        ``where`` the position in words when it is not "``unit`` ``step``". A pruned trial's reason gives
        the comparison ("pruned at epoch 18: held-out 0.519 < 0.603 (bottom 25 % of 9 complete trials at
        epoch 18)"), ``self.pruned`` keeps it in numbers for the trial's figure, and the run keeps it in
        ``why_stopped.txt``."""
        import optuna

        from glasstune.objectives.pruning import explain

        with deferred_signals():  # Ctrl-C waits until the value is stored (never half a write)
            self.trial.report(float(value), step)
            prune = self.trial.should_prune()
        self.log_metrics({"intermediate_value": value}, step=step)
        if not self._described:
            self._described = True
            provenance = getattr(self.data, "provenance", None)
            self._record({TrialAttr.STEP_UNIT: unit,
                          **({TrialAttr.DATA: provenance_label(provenance)} if provenance else {})})
        if prune:
            self.pruned = explain(self.trial, float(value), step, unit=unit, label=label, where=where)
            self._record({TrialAttr.PRUNE_REASON: self.pruned.reason})
            if self.keeps_artifacts:
                path = self.workdir / "why_stopped.txt"
                path.write_text(self.pruned.text())
                self.sink.log_artifact(path)
            raise optuna.TrialPruned(self.pruned.reason)

    def _record(self, attrs: Mapping[str, Any]) -> None:
        set_attr = getattr(self.trial, "set_user_attr", None)
        if set_attr is not None:
            with deferred_signals():
                for key, value in attrs.items():
                    set_attr(key, value)

    def status(self, text: str) -> None:
        """A short line for the progress display (e.g. 'fold 2/5')."""
        if self.on_status is not None:
            self.on_status(text)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.sink.log_params(params)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.sink.log_metrics(
            (key, float(value), step) for key, value in metrics.items() if _finite(value)
        )

    def log_history(self, key: str, values: Iterable[float], start_step: int = 1, *, every: int = 1,
                    last_step: int | None = None) -> None:
        """A curve (e.g. loss per epoch) as one metric with steps. With ``every`` > 1 only every
        ``every``-th step is kept (and the first and ``last_step``): a chart needs a few hundred points,
        while every epoch of a long run would add thousands of rows per trial to the tracking store."""
        self.sink.log_metrics(
            (key, float(value), step)
            for step, value in enumerate(values, start=start_step)
            if _finite(value) and (step % every == 0 or step in (1, last_step))
        )

    def summarize(self, **values: Any) -> None:
        """Values that the trials table shows (cv_score, train_score, gap, ...)."""
        for key, value in values.items():
            self.trial.set_user_attr(key, value)

    @property
    def keeps_artifacts(self) -> bool:
        """Whether artifacts go anywhere; an objective may skip work that only serves them."""
        return getattr(self.sink, "keeps_artifacts", True)

    def log_figure(self, figure: Figure, filename: str) -> None:
        import matplotlib.pyplot as plt

        if self.keeps_artifacts:
            path = self.workdir / filename
            draw = getattr(self.sink, "log_figure", None)
            if draw is not None:
                draw(figure, path)
            else:
                save_figure(figure, path)
                self.sink.log_artifact(path)
        plt.close(figure)

    def log_table(self, table: pd.DataFrame, filename: str) -> None:
        if self.keeps_artifacts:
            path = self.workdir / filename
            table.to_csv(path, index=False)
            self.sink.log_artifact(path)

    def log_json(self, payload: Any, filename: str) -> None:
        if self.keeps_artifacts:
            path = self.workdir / filename
            path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
            self.sink.log_artifact(path)

    def log_file(self, path: Path, artifact_dir: str | None = None) -> None:
        self.sink.log_artifact(path, artifact_dir)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.sink.set_tags({key: str(value) for key, value in tags.items()})


def derive_seed(seed: int, index: int) -> int:
    """A seed derived from ``seed`` and an index (a trial's number, a replicate's): independent
    streams for every pair, the same on every machine."""
    import numpy as np

    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0] % (2**31 - 1))


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
