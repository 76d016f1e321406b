"""Time to a good model, at every temperature of problem A, against the plain Optuna study a user would
write: wall time until a method's best CV balanced accuracy is within 0.005 of the best that any
method of the same run finds on the same data with the same seed.

Why: the plain study is what a lab writes without glasstune. glasstune's claim is that its objective
(the folds trained at once, pruned on a ladder of epochs) and its warm start from the neighbouring
temperature reach a good model in a fraction of that study's time. Both sides sample with TPE from
the same seed, so their random start-up configurations are the same ones: what differs is what each
trial costs, what each pruner stops, and where a warm start begins.

Methods (``--methods``; the first four by default):

* ``plain``: the study a user writes with Optuna alone: ``optuna.create_study(direction="maximize",
  sampler=TPESampler(seed=s), pruner=MedianPruner())``; per trial, fold after fold,
  scikit-learn's ``cross_val_score`` of ``make_pipeline(StandardScaler(), MLPClassifier(...))``
  (``glasstune.objectives.mlp.objective.build_estimator``, every MLP with ``random_state=s``), then
  ``trial.report(mean of the folds so far, fold)`` and ``TrialPruned`` when ``should_prune()``.
* ``glasstune``: glasstune's default sampler and pruner (``glasstune.study.runner.create_or_load``:
  TPE seeded from s, the bottom-quarter pruner) on its CV MLP objective (``CrossValidatedMLP``, torch
  backend, reports on the ladder of epochs, trial seeds from ``trial_seed``), trials asked and told
  in this process, without MLflow (that cost is bench_tracking_overhead.py's).
* ``plain+warm`` and ``glasstune+warm``: the same studies started warm. The temperatures run coldest
  first; at each one after the first, a warm study first tries the 3 best configurations of the same
  method's warm study at the next colder temperature with the same seed (at the coldest temperature
  the warm study is the cold one: it has nothing to start from). glasstune's side is glasstune's own
  warm start (``Study(warm_start=[...], warm_start_top=3)``, ``glasstune.study.runner._warm_start``,
  which needs only the Optuna storage: one in-memory storage per seed); the plain side is what a user
  writes, ``study.enqueue_trial(params)`` of the 3 best complete trials. Both get the same help; the
  colder study's time is not counted.
* ``grid`` and ``halving`` (optional, they take long): the lab's hand grid (layers [2, 4, 8, 10] x
  widths [20, 40, 60, 80] x 3 log-spaced epoch counts over 10^2.5-10^3.5, adam, in the lab's order:
  layers, then widths, then epochs, smallest first) and sklearn's HalvingRandomSearchCV over its 16
  architectures with epochs as the resource. Each runs to its own end (48 configurations; the
  halving schedule), at every temperature asked for. Beside the lab's order the grid's time to good
  is also given in a random order (the mean over permutations of the measured configurations) and
  whole (what the lab runs before it knows its best).

Search space: the lab's studies' own (``studies/_mlp.py`` ``search_space``: 1-6 layers, width 10-100,
10^2-10^3.5 epochs, solver, learning rate, L2 alpha up to 10), imported, so warm-start
configurations carry over unchanged. Every method trains every epoch (tol 0, as the lab did).

Best score and time to good: the reference at one temperature and seed is the best CV balanced
accuracy of any method in the run; a method's time to good is the wall time from its study's start
to the end of the first trial whose score is within 0.005 of it (only complete trials count: a pruned
trial has no score). A method that never gets there within its budget is reported as missed, with
its whole time as its time. Budget: the same number of trials (``--trials``) for each study, whatever
their end (complete, pruned or failed); a method that is faster per trial or prunes more therefore
also spends less time on the same budget. Ratios are per seed (paired), then the median over seeds;
the last line gives the medians over temperatures. CPU seconds (the process's own, which other load
on the machine changes less) are kept beside the wall times in ``--json``.

Data (``--data``, default the built-in simulated sets): at each of ``--temperatures`` (default the
six of the lab's studies) the built-in set that study tunes on (``softness(T,
labels=labels_for(T))``: the lab's Phop thresholds below T = 1, the quantile rule above; the held-out
last quarter of frames is not used). ``--data`` may instead name a family (``ka-softness``,
``synthetic-softness``) for every temperature, one built-in set (``ka-softness-T0.5``) or a lab's
table file (``table_file(PATH)``: the lab's column names; with ``--temperatures``, the rows at each
temperature of its temperature column). ``--seed-data S`` makes the built-in sets from simulation
seed S (a new set is simulated on first use: 1-3 CPU minutes per temperature; seed 0 is the
default). Folds: ``--folds`` (3) stratified folds grouped by frame
(``glasstune.objectives.mlp.objective.fold_splits``), the same for every method.

Scale: the epochs of every configuration are divided by ``--epoch-scale`` (at least 5 remain): 10 by
default (the space's 100-3162 epochs become 10-316), 31.6 with ``--quick`` (5-100), which is also 2
seeds, 10 trials and the temperatures 0.45 and 0.5 (one warm start), so ``make bench`` stays
short. Every method runs with one BLAS / torch thread, so none gains from thread discipline alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LAYERS, WIDTHS = [2, 4, 8, 10], [20, 40, 60, 80]
TOLERANCE = 0.005
"""A method has a good model once its best score is within this of the run's best."""
WARM_TOP = 3
"""A warm study first tries this many of the colder study's best configurations."""
MIN_EPOCHS = 5
PLAIN, PLAIN_WARM, GLASSTUNE, GLASSTUNE_WARM, GRID, HALVING = (
    "plain", "plain+warm", "glasstune", "glasstune+warm", "grid", "halving")
METHODS = (PLAIN, PLAIN_WARM, GLASSTUNE, GLASSTUNE_WARM, GRID, HALVING)
DEFAULT_METHODS = (PLAIN, PLAIN_WARM, GLASSTUNE, GLASSTUNE_WARM)
COLD = {PLAIN_WARM: PLAIN, GLASSTUNE_WARM: GLASSTUNE}
PRUNERS = ("default", "median", "sha", "hyperband", "none")
FAMILIES = {"ka-softness": "simulated", "synthetic-softness": "synthetic"}
TARGETS = (("glasstune / plain", GLASSTUNE, PLAIN, 0.25, False),
           ("glasstune+warm / plain", GLASSTUNE_WARM, PLAIN, 0.1, True),
           ("glasstune+warm / plain+warm", GLASSTUNE_WARM, PLAIN_WARM, None, True),
           ("glasstune / lab grid", GLASSTUNE, GRID, None, False),
           ("glasstune / HalvingRandomSearchCV", GLASSTUNE, HALVING, None, False))
"""(label, method, against, target or None, whether the target holds only where warm start helps)."""

Trace = list[tuple[float, float, float]]
"""(wall seconds since start, CPU seconds since start, score or NaN) of each evaluation, in order."""


@dataclass
class Run:
    """One method's search at one temperature and seed."""

    trace: Trace
    trials: int
    pruned: int = 0
    failed: int = 0
    study: Any = field(default=None, repr=False)
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> float:
        scores = [s for _, _, s in self.trace if math.isfinite(s)]
        return max(scores) if scores else math.nan

    def time_to(self, target: float) -> tuple[float, float, bool]:
        """(wall seconds, CPU seconds, reached): to the first evaluation at or above the target, or the
        whole run (missed)."""
        for wall, cpu, score in self.trace:
            if score >= target:
                return wall, cpu, True
        wall, cpu, _ = self.trace[-1]
        return wall, cpu, False


@dataclass
class DataSet:
    label: str
    temperature: float | None
    source: Any


class Clock:
    """Wall and CPU seconds since it was made."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def now(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


# --- the search space ---------------------------------------------------------------------------

def scaled_space(scale: float) -> Callable[[Any], dict[str, Any]]:
    """The lab's studies' search space (``studies/_mlp.py``), epochs divided by ``scale``."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "studies"))
    from _mlp import search_space

    def space(trial: Any) -> dict[str, Any]:
        config = search_space(trial)
        config["max_iter"] = max(MIN_EPOCHS, int(round(config["max_iter"] / scale)))
        return config

    return space


# --- the plain Optuna study ---------------------------------------------------------------------

def plain_study(space: Callable, table: Any, folds: list, seed: int, n_trials: int,
                warm_from: Any = None) -> Run:
    """The study a user writes with Optuna and scikit-learn alone; ``warm_from``: a finished study
    whose best configurations it tries first."""
    import optuna
    from sklearn.model_selection import cross_val_score

    from glasstune.objectives.mlp.objective import build_estimator

    X, y = table.X, table.y

    def objective(trial: optuna.Trial) -> float:
        config = space(trial)
        scores: list[float] = []
        for fold, (train, test) in enumerate(folds):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # every epoch runs on purpose; a diverged fit scores NaN
                scores.extend(cross_val_score(build_estimator(config, seed=seed), X, y, cv=[(train, test)],
                                              scoring="balanced_accuracy"))
            trial.report(float(np.mean(scores)), fold)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.MedianPruner())
    if warm_from is not None:
        for trial in top_trials(warm_from, WARM_TOP):
            study.enqueue_trial(trial.params)
    trace: Trace = []
    clock = Clock()

    def record(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        value = trial.value if trial.state == optuna.trial.TrialState.COMPLETE else math.nan
        trace.append((*clock.now(), float(value)))

    study.optimize(objective, n_trials=n_trials, callbacks=[record])
    return finished(trace, study)


def top_trials(study: Any, k: int) -> list[Any]:
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sorted(complete, key=lambda t: t.value, reverse=True)[:k]


def finished(trace: Trace, study: Any) -> Run:
    from optuna.trial import TrialState

    states = [t.state for t in study.get_trials(deepcopy=False)]
    return Run(trace, len(states), states.count(TrialState.PRUNED), states.count(TrialState.FAIL), study,
               study.study_name)


# --- glasstune ----------------------------------------------------------------------------------

def make_pruner(name: str) -> Any:
    """None means glasstune's default; the others are for comparing pruners on this benchmark."""
    import optuna

    return {"default": None, "median": optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
            "sha": optuna.pruners.SuccessiveHalvingPruner(), "hyperband": optuna.pruners.HyperbandPruner(),
            "none": optuna.pruners.NopPruner()}[name]


def glasstune_study(space: Callable, table: Any, n_folds: int, seed: int, n_trials: int, storage: Any,
                    name: str, warm_from: str | None = None, pruner: str = "default") -> Run:
    """glasstune's default sampler and pruner on its CV MLP objective; ``warm_from``: the name of a
    finished study in ``storage`` whose best configurations glasstune's warm start queues first."""
    import optuna

    from glasstune.objectives.context import TrialContext
    from glasstune.objectives.mlp import CrossValidatedMLP
    from glasstune.study.runner import _warm_start, create_or_load
    from glasstune.study.seeds import trial_seed
    from glasstune.study.spec import Study

    objective = CrossValidatedMLP(space, n_folds=n_folds, backend="torch")
    spec = Study(name=name, data=None, objective=objective, pruner=make_pruner(pruner),
                 warm_start=[warm_from] if warm_from else [], warm_start_top=WARM_TOP)
    study = create_or_load(spec, storage, seed)
    _warm_start(study, spec, storage)
    trace: Trace = []
    clock = Clock()
    for _ in range(n_trials):
        trial = study.ask()
        with tempfile.TemporaryDirectory() as folder:
            ctx = TrialContext(trial=trial, data=table, seed=trial_seed(seed, trial.number), workdir=Path(folder),
                               checkpoint_dir=Path(folder))
            value = math.nan
            try:
                value = objective(ctx)
                study.tell(trial, value)
            except optuna.TrialPruned:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            except (FloatingPointError, ValueError):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        trace.append((*clock.now(), float(value)))
    return finished(trace, study)


# --- the lab's grid and HalvingRandomSearchCV ---------------------------------------------------

def grid(scale: float) -> list[dict[str, Any]]:
    """The lab's grid: layers x widths x 3 log-spaced epoch counts over 10^2.5-10^3.5 / scale."""
    epochs = sorted({max(MIN_EPOCHS, int(round(e / scale))) for e in np.logspace(2.5, 3.5, 3)})
    return [{"hidden_layer_sizes": (w,) * n, "max_iter": e, "solver": "adam", "learning_rate_init": 1e-3,
             "alpha": 1e-4} for n in LAYERS for w in WIDTHS for e in epochs]


def lab_grid(configs: list[dict[str, Any]], table: Any, folds: list, seed: int) -> Run:
    """The lab's loop: cross_val_score of every configuration, one after another, in the lab's order."""
    from sklearn.model_selection import cross_val_score

    from glasstune.objectives.mlp.objective import build_estimator

    measured = []
    for config in configs:
        clock = Clock()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = cross_val_score(build_estimator(config, seed=seed), table.X, table.y, cv=folds,
                                    scoring="balanced_accuracy").mean()
        measured.append((*clock.now(), float(score)))
    trace, wall, cpu = [], 0.0, 0.0
    for spent_wall, spent_cpu, score in measured:
        wall, cpu = wall + spent_wall, cpu + spent_cpu
        trace.append((wall, cpu, score))
    return Run(trace, len(configs), extra={"measured": measured})


def random_order_time(measured: list[tuple[float, float, float]], target: float, seed: int, n: int = 2000) -> float:
    """Mean wall time to target of the grid over random orders of its measured configurations."""
    rng = random.Random(seed)
    order, times = list(range(len(measured))), []
    for _ in range(n):
        rng.shuffle(order)
        elapsed = 0.0
        for index in order:
            elapsed += measured[index][0]
            if measured[index][2] >= target:
                break
        times.append(elapsed)
    return statistics.fmean(times)


def halving(configs: list[dict[str, Any]], table: Any, folds: list, seed: int) -> Run:
    """HalvingRandomSearchCV over the architectures, epochs as the resource. It reports no times per
    candidate, so the trace is the cumulative fit + score time of cv_results_ (in evaluation order),
    scaled to the measured wall (and CPU) time."""
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV

    from glasstune.objectives.mlp.objective import build_estimator

    space = {"mlpclassifier__hidden_layer_sizes": sorted({c["hidden_layer_sizes"] for c in configs})}
    epochs = [c["max_iter"] for c in configs]
    estimator = build_estimator({**configs[0], "max_iter": max(epochs)}, seed=seed)
    search = HalvingRandomSearchCV(estimator, space, resource="mlpclassifier__max_iter",
                                   min_resources=min(epochs), max_resources=max(epochs), cv=folds,
                                   scoring="balanced_accuracy", random_state=seed, refit=False,
                                   n_candidates=len(space["mlpclassifier__hidden_layer_sizes"]))
    clock = Clock()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(table.X, table.y)
    wall, cpu = clock.now()
    results = search.cv_results_
    cost = np.cumsum((results["mean_fit_time"] + results["mean_score_time"]) * len(folds))
    trace = [(wall * c / cost[-1], cpu * c / cost[-1], float(s))
             for c, s in zip(cost, results["mean_test_score"], strict=True)]
    return Run(trace, len(trace))


def warm_up(space: Callable, table: Any, n_folds: int) -> None:
    """One small untimed trial of each side first: torch's and scikit-learn's one-off start-up costs
    are nobody's search time."""
    import optuna
    from sklearn.model_selection import cross_val_score

    from glasstune.objectives.context import TrialContext
    from glasstune.objectives.mlp import CrossValidatedMLP
    from glasstune.objectives.mlp.objective import build_estimator, fold_splits

    fixed = optuna.trial.FixedTrial({"n_layers": 1, "width": 10, "max_iter": 100, "solver": "adam",
                                     "learning_rate_init": 1e-3, "alpha": 1e-4})
    with tempfile.TemporaryDirectory() as folder:
        CrossValidatedMLP(space, n_folds=n_folds, backend="torch")(
            TrialContext(trial=fixed, data=table, seed=0, workdir=Path(folder), checkpoint_dir=Path(folder)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cross_val_score(build_estimator(space(fixed), seed=0), table.X, table.y,
                        cv=fold_splits(table, n_folds, seed=0)[:1], scoring="balanced_accuracy")


# --- data ---------------------------------------------------------------------------------------

def data_sets(data: str | None, temperatures: list[float] | None, seed_data: int | None) -> list[DataSet]:
    """What ``--data``, ``--temperatures`` and ``--seed-data`` name, coldest first."""
    from glasstune.data import builtin, softness, table_file
    from glasstune.data.catalog import SimulatedSoftness, SyntheticHeldOut, labels_for
    from glasstune.data.schema import LAB_TEMPERATURES
    from glasstune.errors import DataError

    asked = temperatures
    temperatures = sorted(temperatures or LAB_TEMPERATURES)
    seed = {} if seed_data is None else {"seed": seed_data}
    if data is None or data.lower() in FAMILIES:
        source = FAMILIES[(data or "ka-softness").lower()]
        extra = (lambda t: {"labels": labels_for(t)}) if source == "simulated" else (lambda t: {})
        return [DataSet(f"T = {t:g}", t, softness(t, source=source, **extra(t), **seed)) for t in temperatures]
    path = Path(data)
    if path.exists():
        if seed_data is not None:
            raise DataError("--seed-data picks the simulation seed of the built-in sets; a table file has its own rows")
        if asked:
            return [DataSet(f"{path.name} T = {t:g}", t, table_file(path, temperature=t)) for t in temperatures]
        return [DataSet(path.name, None, table_file(path))]
    source = builtin(data)
    if not isinstance(source, (SimulatedSoftness, SyntheticHeldOut)):
        raise DataError(f"{data!r} is an image set; this benchmark tunes the MLP of problem A on a feature table")
    if isinstance(source, SimulatedSoftness):
        source = dataclasses.replace(source, labels=labels_for(source.temperature), **seed)
    elif seed:
        source = dataclasses.replace(source, **seed)
    return [DataSet(f"T = {source.temperature:g}", source.temperature, source)]


# --- one temperature ----------------------------------------------------------------------------

def run_one(methods: list[str], space: Callable, configs: list[dict[str, Any]], table: Any, folds: list,
            seed: int, args: argparse.Namespace, storage: Any, label: str,
            colder: dict[str, Any] | None) -> dict[str, Run]:
    """Every method at one data set and seed; ``colder``: the same seed's runs at the next colder
    temperature (None at the first)."""
    runs: dict[str, Run] = {}
    tag = f"{label.replace(' ', '')}-s{seed}"
    order = methods if seed % 2 == 0 else methods[::-1]  # alternate, so slow drift in load favours no one
    for method in sorted(order, key=lambda m: m in COLD):  # a cold study before its warm twin
        if method in COLD and colder is None and COLD[method] in runs:
            runs[method] = runs[COLD[method]]  # nothing colder to start from: the warm study is the cold one
        elif method in (PLAIN, PLAIN_WARM):
            warm = colder[method].study if method == PLAIN_WARM and colder else None
            runs[method] = plain_study(space, table, folds, seed, args.trials, warm_from=warm)
        elif method in (GLASSTUNE, GLASSTUNE_WARM):
            warm = colder[method].name if method == GLASSTUNE_WARM and colder else None
            runs[method] = glasstune_study(space, table, args.folds, seed, args.trials, storage,
                                           f"{method}-{tag}", warm_from=warm, pruner=args.pruner)
        elif method == GRID:
            runs[method] = lab_grid(configs, table, folds, seed)
        elif method == HALVING:
            runs[method] = halving(configs, table, folds, seed)
    return runs


def seconds(run: Run, target: float) -> str:
    wall, _, reached = run.time_to(target)
    return f"{wall:.1f} s of {run.trace[-1][0]:.1f} s" if reached else f"missed ({wall:.1f} s)"


def ratio_text(values: list[tuple[float, bool, bool]], mine: str, theirs: str) -> str:
    """Per-seed ratios, marking where either side missed (its whole time then stands for its time)."""
    def one(ratio: float, mine_hit: bool, theirs_hit: bool) -> str:
        notes = [f"{name} missed" for name, hit in ((mine, mine_hit), (theirs, theirs_hit)) if not hit]
        return f"{ratio:.2f}x" + (f" ({', '.join(notes)})" if notes else "")
    return ", ".join(one(*value) for value in values)


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def machine() -> dict[str, Any]:
    import optuna
    import sklearn
    import torch

    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "optuna": optuna.__version__, "sklearn": sklearn.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="--epoch-scale 31.6 --seeds 2 --trials 10 --temperatures 0.45,0.5")
    parser.add_argument("--seeds", type=int, default=None, help="default 3 (--quick: 2)")
    parser.add_argument("--trials", type=int, default=None, help="trials per study, default 16 (--quick: 10)")
    parser.add_argument("--epoch-scale", type=float, default=None, help="default 10 (--quick: 31.6)")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--temperatures", default=None,
                        help="comma-separated, default the six of the lab's studies (--quick: 0.45,0.5)")
    parser.add_argument("--data", default=None, metavar="NAME_OR_FILE",
                        help="ka-softness (default), synthetic-softness, one built-in set, or a table file")
    parser.add_argument("--seed-data", type=int, default=None, metavar="S",
                        help="simulation seed of the built-in sets (default 0)")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help=f"comma-separated of {', '.join(METHODS)}; 'all' for every one")
    parser.add_argument("--pruner", choices=PRUNERS, default="default",
                        help="glasstune's pruner: its default, or another to compare")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write every figure here")
    args = parser.parse_args()
    methods = list(METHODS) if args.methods == "all" else [m.strip() for m in args.methods.split(",")]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; use {', '.join(METHODS)}")
    args.seeds = args.seeds or (2 if args.quick else 3)
    args.trials = args.trials or (10 if args.quick else 16)
    args.epoch_scale = args.epoch_scale or (10 ** 1.5 if args.quick else 10.0)
    asked = [float(t) for t in args.temperatures.split(",")] if args.temperatures else None
    if asked is None and args.quick and args.data is None:
        asked = [0.45, 0.5]

    import optuna
    from threadpoolctl import threadpool_limits

    from glasstune.data.provenance import provenance_label
    from glasstune.errors import GlasstuneError
    from glasstune.objectives.mlp.objective import fold_splits

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    started, load_before = time.perf_counter(), Path("/proc/loadavg").read_text().split()[:3]
    try:
        sets = data_sets(args.data, asked, args.seed_data)
    except GlasstuneError as error:
        parser.error(str(error))
    space, configs = scaled_space(args.epoch_scale), grid(args.epoch_scale)
    print(f"methods {', '.join(methods)}; {args.seeds} seeds, {args.trials} trials per study, epochs / "
          f"{args.epoch_scale:g} (at least {MIN_EPOCHS}), {args.folds} folds grouped by frame, 1 thread each; "
          f"glasstune pruner: {args.pruner}; load {' '.join(load_before)}", flush=True)
    with threadpool_limits(1):
        warm_up(space, sets[0].source.load(), args.folds)
    storages = [optuna.storages.InMemoryStorage() for _ in range(args.seeds)]
    colder: list[dict[str, Any] | None] = [None] * args.seeds
    report: list[dict[str, Any]] = []
    for position, data_set in enumerate(sets):
        table = data_set.source.load()
        if table.task not in ("binary", "multiclass"):
            raise SystemExit(f"{data_set.label}: a {table.task} table; this benchmark scores balanced accuracy")
        folds = fold_splits(table, args.folds, seed=0)
        print(f"\n{data_set.label}: {provenance_label(table.provenance)}, {len(table.y):,} rows; load {load()}",
              flush=True)
        per_seed = []
        for seed in range(args.seeds):
            with threadpool_limits(1):
                runs = run_one(methods, space, configs, table, folds, seed, args, storages[seed], data_set.label,
                               colder[seed])
            colder[seed] = runs
            reference = max((run.best for run in runs.values() if math.isfinite(run.best)), default=math.nan)
            target = reference - TOLERANCE - 1e-12
            parts = []
            for method in methods:
                run = runs[method]
                counts = f"{run.trials} trials, {run.pruned} pruned" + (f", {run.failed} failed" if run.failed else "")
                parts.append(f"{method} {seconds(run, target)} ({counts}, best {run.best:.3f})")
            grid_note = ""
            if GRID in runs:
                measured = runs[GRID].extra["measured"]
                grid_note = (f"; grid in a random order {random_order_time(measured, target, seed):.1f} s, "
                             f"whole grid {runs[GRID].trace[-1][0]:.1f} s")
            print(f"  seed {seed}: best {reference:.3f}; " + "; ".join(parts) + grid_note + f"; load {load()}",
                  flush=True)
            per_seed.append({"seed": seed, "reference": reference, "runs": runs, "target": target})
        report.append(summarise(data_set, table, per_seed, position, methods))
    print_totals(report)
    wall = time.perf_counter() - started
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    print(f"wall time {wall:.0f} s; load average before {' '.join(load_before)}, after {' '.join(load_after)}")
    if args.json:
        document = {"machine": machine(), "args": {k: str(v) if isinstance(v, Path) else v for k, v in
                                                    vars(args).items()},
                    "methods": methods, "tolerance": TOLERANCE, "load_before": load_before, "load_after": load_after,
                    "wall_seconds": wall, "data_sets": [plain_json(entry) for entry in report]}
        args.json.write_text(json.dumps(document, indent=1))
        print(f"figures in {args.json}")


def summarise(data_set: DataSet, table: Any, per_seed: list[dict[str, Any]], position: int,
              methods: list[str]) -> dict[str, Any]:
    """Print one temperature's medians and ratios; return its figures."""
    from glasstune.data.provenance import provenance_label

    times = {method: [entry["runs"][method].time_to(entry["target"]) for entry in per_seed] for method in methods}
    medians = {method: statistics.median(t[0] for t in values) for method, values in times.items()}
    shown = ", ".join(f"{method} {medians[method]:.1f} s" + (
        f" ({sum(not hit for *_, hit in times[method])} missed)" if any(not hit for *_, hit in times[method]) else "")
        for method in methods)
    print(f"  time to good, median over {len(per_seed)} seeds: {shown}")
    ratios: dict[str, dict[str, Any]] = {}
    for label, mine, theirs, goal, warm_only in TARGETS:
        if mine not in methods or theirs not in methods:
            continue
        values = [(a[0] / b[0], a[2], b[2]) for a, b in zip(times[mine], times[theirs], strict=True)]
        median = statistics.median(v[0] for v in values)
        applies = goal is not None and not (warm_only and position == 0)
        verdict = ""
        if goal is not None:
            verdict = (f" (target <= {goal}x: {'met' if median <= goal else 'MISSED'})" if applies
                       else " (no colder temperature to start from here: no target)")
        print(f"  {label}: median {median:.2f}x [{ratio_text(values, mine, theirs)}]{verdict}")
        ratios[label] = {"median": median, "per_seed": [v[0] for v in values], "goal": goal if applies else None,
                         "met": (median <= goal) if applies else None}
    return {"label": data_set.label, "temperature": data_set.temperature, "rows": int(len(table.y)),
            "data": provenance_label(table.provenance), "medians": medians, "ratios": ratios,
            "seeds": [{"seed": entry["seed"], "reference": entry["reference"], "methods": {
                method: {"time_to_good": times[method][i][0], "cpu_to_good": times[method][i][1],
                         "reached": times[method][i][2], "trials": run.trials, "pruned": run.pruned,
                         "failed": run.failed, "best": run.best, "trace": run.trace}
                for method, run in entry["runs"].items()}} for i, entry in enumerate(per_seed)]}


def print_totals(report: list[dict[str, Any]]) -> None:
    """Medians over the temperatures of every ratio, and where a target was met."""
    print()
    for label, *_ in TARGETS:
        entries = [entry["ratios"][label] for entry in report if label in entry["ratios"]]
        if not entries:
            continue
        judged = [entry for entry in entries if entry["goal"] is not None]
        met = f"; target met at {sum(e['met'] for e in judged)} of {len(judged)}" if judged else ""
        each = ", ".join(f"{e['median']:.2f}x" for e in entries)
        print(f"over {len(entries)} data sets, {label}: median {statistics.median(e['median'] for e in entries):.2f}x "
              f"[{each}]{met}")
    cpu = [seed["methods"][GLASSTUNE]["cpu_to_good"] / seed["methods"][PLAIN]["cpu_to_good"]
           for entry in report for seed in entry["seeds"] if {GLASSTUNE, PLAIN} <= set(seed["methods"])]
    if cpu:
        print(f"glasstune / plain in CPU seconds (less moved by other load): median {statistics.median(cpu):.2f}x "
              f"over {len(cpu)} temperature-seed pairs")


def plain_json(entry: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(entry, default=float, allow_nan=True))


if __name__ == "__main__":
    main()
