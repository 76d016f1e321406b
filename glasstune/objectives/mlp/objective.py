"""The lab's problem A: an MLP that predicts rearrangement from structure, scored by cross-validation.

Training accuracy near 1.0 was memorisation in the lab's notes; here the score is the balanced
accuracy on held-out folds (grouped by frame, so correlated particles of one frame never sit on
both sides), and the memorisation gap (train minus held-out) is recorded beside it. A table with K
classes is scored the same way (macro one-vs-rest AUC beside it); a continuous target (Phop, a
propensity) is a regression scored by Pearson r and R², its gap train r minus held-out r
(``glasstune.objectives.mlp.scoring``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from glasstune.data.provenance import provenance_label
from glasstune.errors import GlasstuneError
from glasstune.objectives.context import TrialContext
from glasstune.stores.names import Tag

if TYPE_CHECKING:
    import optuna

    from glasstune.data.table import FeatureTable
    from glasstune.objectives.mlp.model import MLPSettings, TrialNetworks

BACKENDS = ("auto", "sklearn", "torch")
ESTIMATORS = {"sklearn": "sklearn.neural_network.MLPClassifier (MLPRegressor for a continuous target)",
              "torch": "glasstune.objectives.mlp.model.FoldBatchedMLP (MLPClassifier/MLPRegressor semantics)"}

CURVE_POINTS = 250
"""Loss curves go to MLflow with at most about this many points per fold; the figure has every epoch."""

REPORTS_PER_DECADE = 4
FIRST_REPORT = 10
"""The torch backend reports after 10, 18, 32, 56, 100, 178, 316, 562, 1000, 1778, 3162 ... epochs
(10^(k/4)) and after its last epoch. Every trial reports at the same epochs whatever its max_iter,
so a pruner compares trials at equal training (Optuna's median pruner only compares values at
exactly the same step), and the lab's three epoch counts 316, 1000 and 3162 are all on the ladder."""

CUDA_TRIALS_PER_BATCH = 8
"""Trials trained together on CUDA unless the study file or --trials-per-batch says otherwise: with
5 folds, 40 small networks in each kernel launch."""

LAB_FIXED = {"tol": 0.0}
"""The lab ran every iteration: tol 0 and n_iter_no_change = max_iter (set per trial)."""


def lab_search_space(trial: optuna.Trial) -> dict[str, Any]:
    """The lab's hand-tuned grid as a search space: layers x width x log-spaced epochs, and more."""
    n_layers = trial.suggest_int("n_layers", 2, 10)
    width = trial.suggest_int("width", 10, 100)
    return {
        "hidden_layer_sizes": (width,) * n_layers,
        "max_iter": trial.suggest_int("max_iter", 316, 3162, log=True),
        "solver": trial.suggest_categorical("solver", ["adam", "sgd"]),
        "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-4, 1e-1, log=True),
        "alpha": trial.suggest_float("alpha", 1e-6, 1e-1, log=True),
    }


def fold_splits(table: FeatureTable, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds (by class, or by quintile of a continuous target), grouped by frame when the
    table has enough frames."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y, groups = table.y, table.groups
    if getattr(table, "task", "binary") == "regression":
        y = np.searchsorted(np.quantile(y, [0.2, 0.4, 0.6, 0.8]), y, side="right")  # quintiles 0..4
    if groups is not None and len(np.unique(groups)) >= n_folds:
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(y)), y, groups))
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def build_estimator(config: dict[str, Any], seed: int, epoch_cap: int | None = None, task: str = "binary") -> Any:
    """Standardised features into sklearn's MLPClassifier (MLPRegressor for a regression) with the
    lab's run-every-epoch settings."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    config = dict(config)
    if epoch_cap is not None:
        config["max_iter"] = min(int(config.get("max_iter", 200)), epoch_cap)
    config = {**LAB_FIXED, "n_iter_no_change": int(config.get("max_iter", 200)), **config}
    network = MLPRegressor if task == "regression" else MLPClassifier
    return make_pipeline(StandardScaler(), network(random_state=seed, **config))


def fold_scores(estimator: Any, X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                task: str = "binary") -> dict[str, float]:
    """Held-out and training scores of a fitted estimator, and the baseline, in the task's terms."""
    from glasstune.objectives.mlp.scoring import fold_scores as scores_for_task

    return scores_for_task(estimator, X, y, train, test, task)


@dataclass(frozen=True)
class CrossValidatedMLP:
    """k-fold cross-validated MLPClassifier; the score is the mean held-out balanced accuracy.

    Intermediate values go to the pruner as training goes (torch: the held-out score at every rung of
    the epoch ladder; sklearn: the running mean after each fold), so a hopeless trial stops early.
    Folds depend on ``cv_seed`` only: every trial sees the same folds.
    """

    search_space: Callable[[optuna.Trial], dict[str, Any]] = lab_search_space
    n_folds: int = 5
    cv_seed: int = 0
    epoch_cap: int | None = None
    metric: str = "auto"
    """Which total is the trial's value: "auto" is cv_balanced_accuracy for classes, cv_pearson_r for a
    continuous target (any name of ``scoring.totals_names`` may be given)."""
    summary_columns: ClassVar[tuple[str, ...]] = ("cv_score", "train_score", "gap")
    """What ``glasstune trials`` shows of each trial beside its value."""
    backend: str = "auto"
    """'sklearn' (folds one after another), 'torch' (all folds as one batched network, pruned over
    epochs) or 'auto': torch on CUDA and on CPU too, where it measured faster than the lab's
    cross_val_score, and its pruner sees the ladder of epochs, not just each fold (benchmarks/README.md)."""
    chunk_epochs: int | None = None
    """torch backend: report every this many epochs instead of on the shared ladder (``report_epochs``)."""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown MLP backend {self.backend!r}; use one of {', '.join(BACKENDS)}")

    @property
    def uses_device(self) -> bool:
        """The study runner resolves a device (CUDA when present) only for the torch backend."""
        return self.backend != "sklearn"

    def check_data(self, data: Any) -> None:
        """Before the first trial: a feature table (validated when it was made) with enough rows of
        each class for the folds, and a metric its task records."""
        from glasstune.data.table import FeatureTable, check_rows_for_folds
        from glasstune.objectives.mlp.scoring import totals_names

        if not isinstance(data, FeatureTable):
            raise GlasstuneError(f"CrossValidatedMLP needs a feature table (glasstune.data.softness(T), "
                                 f"table_file(PATH) or a source returning FeatureTable(frame, ...)), "
                                 f"got {type(data).__name__}")
        check_rows_for_folds(data, self.n_folds)
        if self.metric != "auto" and self.metric not in totals_names(data.task):
            raise GlasstuneError(f"CrossValidatedMLP(metric={self.metric!r}): a {data.task} table records "
                                 f"{', '.join(totals_names(data.task))}")

    def metric_for(self, task: str) -> str:
        """The total that is a trial's value on a table of this task."""
        from glasstune.objectives.mlp.scoring import study_metric

        return study_metric(task) if self.metric == "auto" else self.metric

    def baseline(self, data: FeatureTable) -> dict[str, Any]:
        """The lab's linear SVM (C = 0.01, standardised; ridge for a continuous target) on this
        study's own folds, in its metric."""
        from glasstune.objectives.mlp.baseline import svm_baseline

        task = getattr(data, "task", "binary")
        return svm_baseline(data.X, data.y, fold_splits(data, self.n_folds, self.cv_seed), task)

    def smoke(self) -> CrossValidatedMLP:
        return replace(self, n_folds=3, epoch_cap=15)

    def trials_per_batch(self, device: str) -> int:
        """How many trials the torch backend trains together when neither the study file nor the
        command line says: several on CUDA, where one trial leaves the device idle between kernel
        launches; one on CPU, where trials batched together measured no faster than one after another
        (benchmarks/README.md, bench_trial_batching.py)."""
        return CUDA_TRIALS_PER_BATCH if self.backend != "sklearn" and device.startswith("cuda") else 1

    def __call__(self, ctx: TrialContext) -> float:
        config = self._start(ctx)
        if self._backend() == "sklearn":
            return self._run_sklearn(ctx, config, ctx.data)
        (result,) = self._train_together([self._torch_run(ctx, config)], ctx.data)
        if isinstance(result, BaseException):
            raise result
        return result

    def run_batch(self, contexts: list[TrialContext]) -> list[float | BaseException]:
        """Several trials at once: with the torch backend their fold networks train as one batched
        model (``TrialBatchedMLP``), each trial reporting, pruned, scored and logged as when it runs
        alone, with the same numbers up to float rounding; one result (a value or the exception that
        ended it) per trial."""
        runs: dict[int, _TrialRun] = {}
        results: dict[int, float | BaseException] = {}
        for index, ctx in enumerate(contexts):
            try:  # a search space or configuration that fails ends its own trial only
                config = self._start(ctx)
                if self._backend() == "sklearn":
                    results[index] = self._run_sklearn(ctx, config, ctx.data)
                else:
                    runs[index] = self._torch_run(ctx, config)
            except Exception as error:
                results[index] = error
        # a network without hidden layers cannot be padded into deeper ones: it trains with its likes
        for shallow in (True, False):
            group = {index: run for index, run in runs.items() if (not run.settings.hidden_layer_sizes) == shallow}
            if group:
                results.update(zip(group, self._train_together(list(group.values()), contexts[0].data), strict=True))
        return [results[index] for index in range(len(contexts))]

    def _backend(self) -> str:
        # 'auto' is torch on every device: fastest on CUDA, level or faster on CPU, prunable per epoch.
        return "torch" if self.backend == "auto" else self.backend

    def _start(self, ctx: TrialContext) -> dict[str, Any]:
        """The trial's configuration from the search space, recorded with how it will be trained."""
        config = self.search_space(ctx.trial)
        table: FeatureTable = ctx.data
        backend = self._backend()
        ctx.log_json({"estimator": ESTIMATORS[backend], "backend": backend, "device": ctx.device,
                      "config": config, "fixed": LAB_FIXED, "epoch_cap": self.epoch_cap,
                      "n_folds": self.n_folds, "cv_seed": self.cv_seed, "seed": ctx.seed,
                      "chunk_epochs": self.chunk_epochs, "task": table.task, "data": table.provenance},
                     "config.json")
        ctx.set_tags({Tag.MLP_BACKEND: backend})
        return config

    def _run_sklearn(self, ctx: TrialContext, config: dict[str, Any], table: FeatureTable) -> float:
        """One fold after another; the pruner sees the running mean after each fold."""
        import optuna
        import pandas as pd

        from glasstune.objectives.mlp.scoring import PRIMARY

        X, y = table.X, table.y
        rows, curves = [], []
        for fold, (train, test) in enumerate(fold_splits(table, self.n_folds, self.cv_seed)):
            ctx.status(f"fold {fold + 1}/{self.n_folds}")
            estimator = build_estimator(config, ctx.seed + fold, self.epoch_cap, table.task)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning: we run all epochs on purpose
                estimator.fit(X[train], y[train])
            curve = estimator[-1].loss_curve_
            if not np.all(np.isfinite(curve)):
                raise FloatingPointError(f"training loss became NaN/inf in fold {fold + 1}")
            curves.append(curve)
            ctx.log_history(f"loss_fold{fold + 1}", curve, every=_every(len(curve)), last_step=len(curve))
            scores = fold_scores(estimator, X, y, train, test, table.task)
            rows.append({"fold": fold + 1, "n_train": len(train), "n_test": len(test), **scores})
            ctx.log_metrics({f"fold_{key}": value for key, value in scores.items()}, step=fold + 1)
            running = pd.DataFrame(rows)
            self._summarize(ctx, running, table.task)
            primary = PRIMARY[table.task]
            reports = [(len(curve), running[primary].mean(), running[f"train_{primary}"].mean())]
            try:
                ctx.report(running[primary].mean(), step=fold + 1, unit="fold",
                           label="held-out (mean of the folds so far)")
            except optuna.TrialPruned:
                self._stopped(ctx, curves, reports, table)
                raise
        return self._finish(ctx, pd.DataFrame(rows), curves, table, reports)

    def _torch_run(self, ctx: TrialContext, config: dict[str, Any]) -> _TrialRun:
        """A trial ready to train with the torch backend; a configuration it cannot train is refused
        here, for this trial alone."""
        from glasstune.objectives.mlp.model import MLPSettings

        epochs = self._epochs(config)
        return _TrialRun(ctx, MLPSettings.from_sklearn(config), epochs, self.n_folds,
                         stops=report_epochs(epochs, self.chunk_epochs))

    def _train_together(self, trials: list[_TrialRun], table: FeatureTable) -> list[float | BaseException]:
        """The torch backend: every fold of every trial trained together in chunks of epochs up to the
        next trial's report; each trial reports the mean held-out balanced accuracy (Pearson r for a
        regression) on its own ladder of epochs (step = epochs done), and leaves the batch when pruned,
        failed or done. The full per-fold scores (train score, AUC, gap) are computed once, at a trial's
        end: per report they cost more than training."""
        from glasstune.objectives.mlp.model import TrialBatchedMLP

        folds = fold_splits(table, self.n_folds, self.cv_seed)
        model = TrialBatchedMLP(table.X, table.y, folds, [(trial.settings, trial.ctx.seed) for trial in trials],
                                device=trials[0].ctx.device, task=table.task)
        running = list(trials)
        while running:
            start = model.epochs_done
            stop = min(trial.stops[0] for trial in running)
            for trial in running:
                trial.ctx.status(f"epoch {start}/{trial.epochs} ({len(folds)} folds"
                                 + (f", {len(running)} trials together)" if len(trials) > 1 else ")"))
            losses = model.train(stop - start)
            for position, trial in enumerate(running):
                due = trial.stops[0] == stop
                if due:
                    trial.stops.pop(0)
                try:
                    trial.take_losses(losses[:, position * len(folds):(position + 1) * len(folds)], start)
                    if due:
                        self._report(trial, model.trial(position), table, folds, stop)
                except Exception as error:  # a pruned or failed trial leaves the batch; the others go on
                    trial.result = error
            still = [position for position, trial in enumerate(running) if trial.result is None]
            if len(still) < len(running):
                running = [running[position] for position in still]
                if running:
                    model.keep(still)
        return [trial.result for trial in trials]

    def _epochs(self, config: dict[str, Any]) -> int:
        epochs = int(config.get("max_iter", 200))
        return min(epochs, self.epoch_cap) if self.epoch_cap is not None else epochs

    def _report(self, trial: _TrialRun, networks: TrialNetworks, table: FeatureTable,
                folds: list[tuple[np.ndarray, np.ndarray]], epoch: int) -> None:
        """A trial at one of its reports: its held-out score to the pruner (which may end it here),
        and at its last epoch its fold scores and totals (``trial.result``)."""
        import optuna
        import pandas as pd

        ctx, X, y = trial.ctx, table.X, table.y
        held_out = float(networks.held_out_scores(X, y).mean())
        training = float(networks.training_scores(X, y).mean()) if ctx.keeps_artifacts else math.nan
        trial.reports.append((epoch, held_out, training))
        ctx.summarize(cv_score=held_out, epochs_done=epoch)
        try:
            ctx.report(held_out, step=epoch, unit="epoch", label="held-out")
        except optuna.TrialPruned:
            self._stopped(ctx, trial.curves, trial.reports, table)
            raise
        if epoch < trial.epochs:
            return
        rows = [{"fold": fold + 1, "n_train": len(train), "n_test": len(test),
                 **fold_scores(networks.fold(fold), X, y, train, test, table.task)}
                for fold, (train, test) in enumerate(folds)]
        for row in rows:
            ctx.log_metrics({f"fold_{key}": value for key, value in row.items()
                             if key not in ("fold", "n_train", "n_test")}, step=row["fold"])
        trial.result = self._finish(ctx, pd.DataFrame(rows), trial.curves, table, trial.reports)

    def _finish(self, ctx: TrialContext, folds: Any, curves: list, table: FeatureTable,
                reports: list[tuple[int, float, float]]) -> float:
        ctx.log_table(folds, "folds.csv")
        if ctx.keeps_artifacts:
            ctx.log_figure(training_figure(ctx, table, curves, reports), "loss_curves.png")
        totals = self._summarize(ctx, folds, table.task)
        ctx.log_metrics(totals)
        metric = self.metric_for(table.task)
        ctx.summarize(metric=metric)
        return totals[metric]

    def _stopped(self, ctx: TrialContext, curves: list, reports: list[tuple[int, float, float]],
                 table: FeatureTable) -> None:
        """A pruned trial keeps its figure (with the pruner's threshold) and the scores it had when it
        stopped, so its run is not a row of blanks; a figure that fails must not hide why it stopped."""
        from glasstune.objectives.mlp.scoring import PRIMARY

        primary = PRIMARY[table.task]
        _, held_out, training = reports[-1]
        scores = {f"cv_{primary}": held_out}
        if math.isfinite(training):
            scores.update({f"train_{primary}": training, "memorisation_gap": training - held_out})
            ctx.summarize(train_score=training, gap=training - held_out)
        ctx.log_metrics(scores)
        if ctx.keeps_artifacts:
            try:
                ctx.log_figure(training_figure(ctx, table, curves, reports), "loss_curves.png")
            except Exception as error:
                ctx.set_tags({Tag.PARTIAL_ARTIFACTS_ERROR: str(error)[:200]})

    def _summarize(self, ctx: TrialContext, folds: Any, task: str) -> dict[str, float]:
        """Mean (and spread) over the folds done so far; also shown in the trials table."""
        from glasstune.objectives.mlp.scoring import fold_totals, trial_summary

        totals = fold_totals(folds, task)
        ctx.summarize(**trial_summary(totals, task), folds_done=len(folds))
        return totals

    def fit_final(self, config: dict[str, Any], table: FeatureTable, seed: int, *, backend: str | None = None,
                  on_status: Callable[[str], None] | None = None) -> Any:
        """The chosen configuration trained on all rows with the trial's backend (the torch network,
        or sklearn's when that backend was used), the scaler inside: a ``FinalMLP``."""
        from glasstune.objectives.mlp.final import FinalMLP

        backend = backend or ("torch" if self.backend == "auto" else self.backend)
        status = on_status or (lambda text: None)
        final = FinalMLP(tuple(table.features), table.task, backend, table.classes)
        if backend == "sklearn":
            status("final model: training on all rows (sklearn)")
            final.estimator = build_estimator(config, seed, self.epoch_cap, table.task)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                final.estimator.fit(table.X, table.y)
            return final
        from glasstune.objectives.mlp.model import FoldBatchedMLP, MLPSettings

        every_row = [(np.arange(len(table)), np.zeros(0, dtype=np.int64))]
        model = FoldBatchedMLP(table.X, table.y, every_row, settings=MLPSettings.from_sklearn(config), seed=seed,
                               task=table.task)
        epochs = self._epochs(config)
        for report_at in report_epochs(epochs, self.chunk_epochs):
            status(f"final model: epoch {model.epochs_done}/{epochs} on all {len(table)} rows")
            if not np.all(np.isfinite(model.train(report_at - model.epochs_done))):
                raise FloatingPointError("training loss became NaN/inf in the final model")
        final.parameters = model.fold_parameters(0)
        return final


@dataclass
class _TrialRun:
    """One trial's progress while it trains with others: its loss curves, reports and result."""

    ctx: TrialContext
    settings: MLPSettings
    epochs: int
    n_folds: int
    stops: list[int] = field(default_factory=list)
    """the epochs at which it still has to report"""
    curves: list[list[float]] = field(default_factory=list)
    reports: list[tuple[int, float, float]] = field(default_factory=list)
    """(epoch, held-out, training score) at each report, for the trial's figure"""
    result: float | BaseException | None = None

    def __post_init__(self) -> None:
        self.curves = [[] for _ in range(self.n_folds)]

    def take_losses(self, losses: np.ndarray, start: int) -> None:
        """This chunk's loss curves, (epochs, folds), kept and logged; a NaN ends the trial."""
        for fold in range(self.n_folds):
            if not np.all(np.isfinite(losses[:, fold])):
                raise FloatingPointError(f"training loss became NaN/inf in fold {fold + 1}")
            self.curves[fold].extend(losses[:, fold].tolist())
            self.ctx.log_history(f"loss_fold{fold + 1}", losses[:, fold], start_step=start + 1,
                                 every=_every(self.epochs), last_step=self.epochs)


def report_epochs(epochs: int, chunk: int | None = None) -> list[int]:
    """After how many epochs a trial of ``epochs`` epochs reports to the pruner: on the shared
    ladder (``FIRST_REPORT`` and every 10^(1/``REPORTS_PER_DECADE``) after it) below ``epochs``,
    then at ``epochs``; or every ``chunk`` epochs."""
    if chunk:
        return [*range(chunk, epochs, chunk), epochs]
    ladder, k = [], 0
    while (rung := round(FIRST_REPORT * 10 ** (k / REPORTS_PER_DECADE))) < epochs:
        ladder.append(rung)
        k += 1
    return [*ladder, epochs]


def _every(epochs: int) -> int:
    return max(1, math.ceil(epochs / CURVE_POINTS))


def training_figure(ctx: TrialContext, table: FeatureTable, curves: list,
                    reports: list[tuple[int, float, float]]) -> Any:
    """The trial's figure: scores at the report epochs over the loss curves, and why it stopped if pruned."""
    from glasstune.objectives.mlp.plots import training_curves

    epochs, held_out, training = ([report[k] for report in reports] for k in range(3))
    pruned = ctx.pruned
    by_epoch = pruned is not None and pruned.unit == "epoch"
    regression = table.task == "regression"
    classes = len(np.unique(table.y)) if not regression else 0
    return training_curves(
        curves, epochs, held_out, training,
        title=f"trial {ctx.trial.number} · {provenance_label(table.provenance)}",
        thresholds=pruned.thresholds if by_epoch else None, pruned_at=pruned.step if by_epoch else None,
        notes=[pruned.reason] if pruned is not None else [],
        score="Pearson r" if regression else "balanced accuracy", chance=0.0 if regression else 1 / classes)
