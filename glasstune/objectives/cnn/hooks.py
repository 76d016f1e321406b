"""What happens at each measurement of a training run, one concern per hook (as skorch's callbacks).

The loop (``loop.Trainer``) calls every hook with the measurement's record and itself; a hook may
stop the run by raising (``optuna.TrialPruned``). A trial's session puts together the hooks it
needs: curves to the tracker, a status line, a collapse flag, and intermediate values for the pruner.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from glasstune.objectives.cnn.loop import CURVES
from glasstune.objectives.context import TrialContext
from glasstune.stores.names import Tag, TrialAttr

if TYPE_CHECKING:
    from glasstune.objectives.cnn.loop import Trainer


class LogCurves:
    """Every curve value of the record as a metric at its iteration (``prefix`` per replicate)."""

    def __init__(self, ctx: TrialContext, prefix: str = "") -> None:
        self.ctx, self.prefix = ctx, prefix

    def __call__(self, record: dict[str, float], trainer: Trainer) -> None:
        self.ctx.log_metrics({self.prefix + key: record[key] for key in CURVES}, step=int(record["step"]))

    def replay(self, history: dict[str, list[float]]) -> None:
        """The curves of a run restored from a checkpoint, so its run shows them whole."""
        for step in range(len(history["val_acc"])):
            self.ctx.log_metrics({self.prefix + key: history[key][step] for key in CURVES}, step=step)


class ShowStatus:
    """The progress line: iteration and validation accuracy (and which replicate)."""

    def __init__(self, ctx: TrialContext, iterations: int, label: str = "") -> None:
        self.ctx, self.iterations, self.label = ctx, iterations, label

    def __call__(self, record: dict[str, float], trainer: Trainer) -> None:
        self.ctx.status(f"{self.label}iteration {int(record['step'])}/{self.iterations} · val {record['val_acc']:.3f}")


class FlagCollapse:
    """Once a run has collapsed (learned, then back to chance): tag the trial's run, mark the step,
    and stop the trial if ``prune`` (the study's ``prune_on_collapse``)."""

    def __init__(self, ctx: TrialContext, prefix: str = "", *, prune: bool = False) -> None:
        self.ctx, self.prefix, self.prune = ctx, prefix, prune
        self.flagged = False

    def __call__(self, record: dict[str, float], trainer: Trainer) -> None:
        if record["collapsed"] and not self.flagged:
            self.flag(trainer, int(record["step"]))

    def flag(self, trainer: Trainer, step: int) -> None:
        import optuna

        self.flagged = True
        reason = (self.prefix.rstrip("/") + ": " if self.prefix else "") + trainer.collapse.reason
        self.ctx.set_tags({Tag.COLLAPSED: "true", Tag.COLLAPSE_REASON: reason})
        self.ctx.log_metrics({self.prefix + "collapsed": 1.0}, step=step)
        if self.prune:
            if hasattr(self.ctx.trial, "set_user_attr"):
                self.ctx.trial.set_user_attr(TrialAttr.PRUNE_REASON, reason)
            raise optuna.TrialPruned(reason)


class ReportToPruner:
    """The trial's running score for the pruner every ``every`` iterations (and at the last): the
    best validation accuracy so far, averaged with the finished replicates' scores. Steps count on
    across replicates (replicate ``index`` reports at ``index * (iterations + 1) + step``)."""

    def __init__(self, ctx: TrialContext, *, index: int, iterations: int, every: int,
                 finished: Sequence[float], count: int = 1) -> None:
        self.ctx, self.index, self.iterations, self.every = ctx, index, iterations, every
        self.finished = list(finished)
        self.count = count

    def __call__(self, record: dict[str, float], trainer: Trainer) -> None:
        step = int(record["step"])
        if step > 0 and (step % self.every == 0 or step == self.iterations):
            running = (sum(self.finished) + record["best_val_acc"]) / (len(self.finished) + 1)
            if self.count == 1:  # steps are iterations
                self.ctx.report(running, step=step, unit="iteration", label="best validation accuracy so far")
            else:
                self.ctx.report(running, step=self.index * (self.iterations + 1) + step, unit="step",
                                label="best validation accuracy so far (mean of replicates)",
                                where=f"replicate {self.index}, iteration {step}")


def hooks_for(ctx: TrialContext, *, index: int, count: int, iterations: int, report_every: int | None,
              prune_on_collapse: bool, finished: Sequence[float]) -> tuple[list[Any], LogCurves, FlagCollapse]:
    """The hooks of replicate ``index`` of ``count``: curves, status, collapse and (when
    ``report_every`` is given) the pruner's reports. Returns them with the curve and collapse hooks,
    which a run restored from a checkpoint also needs to replay its past."""
    prefix = f"rep{index}/" if count > 1 else ""
    curves = LogCurves(ctx, prefix)
    collapse = FlagCollapse(ctx, prefix, prune=prune_on_collapse)
    hooks: list[Any] = [curves, ShowStatus(ctx, iterations, f"rep {index + 1}/{count} · " if count > 1 else ""),
                        collapse]
    if report_every is not None:
        hooks.append(ReportToPruner(ctx, index=index, iterations=iterations, every=report_every, finished=finished,
                                    count=count))
    return hooks, curves, collapse
