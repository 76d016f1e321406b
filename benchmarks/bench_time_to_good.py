"""Time to a good model on the lab's T = 0.45 set: wall time until the best CV balanced accuracy is
within 0.005 of the best that the lab's grid finds, for (a) the lab's grid (layers [2, 4, 8, 10] x
widths [20, 40, 60, 80] x 3 log-spaced epoch counts, in the lab's order: layers, then widths, then
epochs, smallest first), (b) sklearn's HalvingRandomSearchCV over the same space (epochs as the
resource) and (c) glasstune's default sampler and pruner (``glasstune.study.create_or_load``) on its
CV MLP objective (torch backend, pruned over epochs). Per seed s the grid runs with MLP seed s and
sets that seed's target; (b) and (c) use seed s too. Median and spread over seeds.

Beside the lab's order the grid's time to target is also given in a random order (the mean over
permutations of the same measured configurations: what a grid costs when its order holds no prior
knowledge) and in full (what the lab runs before it knows its best).

Scaled down to run in minutes on a 2-core CPU: the lab's epochs 10^2.5-10^3.5 divided by
--epoch-scale (default 10: 32, 100, 316; --quick 31.6: 10, 32, 100, and 2 seeds), 3 folds grouped by
frame instead of 5, on the built-in simulated T = 0.45 set (2,700 rows; made once if not cached).
Every method runs with one BLAS / torch thread, so none gains from thread discipline alone.
glasstune stops at the target, after 3x the grid's number of trials, or once it has used as long as
the whole grid (then it counts as missed). (c) runs without MLflow: that cost is
bench_tracking_overhead.py's.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _common import lab_set

LAYERS, WIDTHS = [2, 4, 8, 10], [20, 40, 60, 80]
Trace = list[tuple[float, float]]
"""(seconds since start, CV balanced accuracy) of each configuration, in the order evaluated."""
PRUNERS = ("default", "median", "sha", "hyperband", "none")


def grid(scale: float) -> list[dict[str, Any]]:
    """The lab's grid: layers x widths x 3 log-spaced epoch counts over 10^2.5-10^3.5 / scale."""
    epochs = sorted({max(5, int(round(e / scale))) for e in np.logspace(2.5, 3.5, 3)})
    return [{"hidden_layer_sizes": (w,) * n, "max_iter": e, "solver": "adam", "learning_rate_init": 1e-3,
             "alpha": 1e-4} for n in LAYERS for w in WIDTHS for e in epochs]


def lab_grid(configs: list[dict[str, Any]], table: Any, folds: list, seed: int) -> list[tuple[float, float]]:
    """The lab's loop: cross_val_score of every configuration, one after another; (seconds, score) each."""
    from sklearn.model_selection import cross_val_score

    from glasstune.objectives.mlp.objective import build_estimator

    measured = []
    for config in configs:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = cross_val_score(build_estimator(config, seed=seed), table.X, table.y, cv=folds,
                                    scoring="balanced_accuracy").mean()
        measured.append((time.perf_counter() - start, float(score)))
    return measured


def in_order(measured: list[tuple[float, float]], order: list[int]) -> Trace:
    """The trace of the grid had it run its configurations in this order."""
    elapsed, trace = 0.0, []
    for index in order:
        elapsed += measured[index][0]
        trace.append((elapsed, measured[index][1]))
    return trace


def random_order_time(measured: list[tuple[float, float]], target: float, seed: int, n: int = 2000) -> float:
    """Mean time to target of the grid over random orders of its measured configurations."""
    rng = random.Random(seed)
    order, times = list(range(len(measured))), []
    for _ in range(n):
        rng.shuffle(order)
        found, _ = reached(in_order(measured, order), target)
        times.append(found)
    return statistics.fmean(times)


def halving(configs: list[dict[str, Any]], table: Any, folds: list, seed: int) -> Trace:
    """HalvingRandomSearchCV over the architectures, epochs as the resource. It reports no times per
    candidate, so the trace is the cumulative fit + score time of cv_results_ (in evaluation order),
    scaled to the measured wall time."""
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
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(table.X, table.y)
    wall = time.perf_counter() - start
    results = search.cv_results_
    cost = np.cumsum((results["mean_fit_time"] + results["mean_score_time"]) * len(folds))
    return [(wall * c / cost[-1], float(s)) for c, s in zip(cost, results["mean_test_score"], strict=True)]


def make_pruner(name: str) -> Any:
    """None means glasstune's default; the others are for comparing pruners on this benchmark."""
    import optuna

    return {"default": None, "median": optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
            "sha": optuna.pruners.SuccessiveHalvingPruner(), "hyperband": optuna.pruners.HyperbandPruner(),
            "none": optuna.pruners.NopPruner()}[name]


def glasstune_search(configs: list[dict[str, Any]], table: Any, n_folds: int, target: float, seed: int,
                     time_cap: float, pruner: str = "default") -> tuple[float | None, float, int, int]:
    """glasstune's default sampler + pruner over the same space; (time to target or None, best, trials,
    pruned trials)."""
    import optuna

    from glasstune.objectives.context import TrialContext
    from glasstune.objectives.mlp import CrossValidatedMLP
    from glasstune.study.runner import create_or_load
    from glasstune.study.seeds import trial_seed
    from glasstune.study.spec import Study

    layers = sorted({len(c["hidden_layer_sizes"]) for c in configs})
    widths = sorted({c["hidden_layer_sizes"][0] for c in configs})
    epochs = [c["max_iter"] for c in configs]

    def space(trial: optuna.Trial) -> dict[str, Any]:
        width = trial.suggest_categorical("width", widths)
        return {"hidden_layer_sizes": (width,) * trial.suggest_categorical("n_layers", layers),
                "max_iter": trial.suggest_int("max_iter", min(epochs), max(epochs), log=True),
                "solver": "adam", "learning_rate_init": 1e-3, "alpha": 1e-4}

    objective = CrossValidatedMLP(space, n_folds=n_folds, backend="torch")
    spec = Study(name=f"time-to-good-{seed}", data=None, objective=objective, pruner=make_pruner(pruner))
    study = create_or_load(spec, None, seed)
    start = time.perf_counter()
    for _ in range(3 * len(configs)):
        trial = study.ask()
        with tempfile.TemporaryDirectory() as folder:
            ctx = TrialContext(trial=trial, data=table, seed=trial_seed(seed, trial.number), workdir=Path(folder),
                               checkpoint_dir=Path(folder))
            try:
                study.tell(trial, objective(ctx))
            except optuna.TrialPruned:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elapsed = time.perf_counter() - start
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        best = max((t.value for t in complete), default=float("nan"))
        pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
        if best >= target:
            return elapsed, best, len(study.trials), pruned
        if elapsed > time_cap:
            break
    return None, best, len(study.trials), pruned


def reached(trace: Trace, target: float) -> tuple[float | None, int | None]:
    """Seconds and 1-based position of the first evaluation at or above the target."""
    return next(((t, i + 1) for i, (t, s) in enumerate(trace) if s >= target), (None, None))


def summary(label: str, ratios: list[float], goal: float | None = None) -> str:
    """Median and every seed's ratio; inf is a miss by glasstune, 0 a miss by the other side."""
    text = ", ".join("missed" if r == float("inf") else f"{r:.2f}x" for r in ratios)
    median = statistics.median(ratios)
    verdict = "" if goal is None else f" (target <= {goal}x: {'met' if median <= goal else 'MISSED'})"
    return f"{label}: median {median:.2f}x [{text}]{verdict}"


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="--epoch-scale 31.6 --seeds 2 (about 5 minutes)")
    parser.add_argument("--seeds", type=int, default=None, help="default 3 (--quick: 2)")
    parser.add_argument("--epoch-scale", type=float, default=None, help="default 10 (--quick: 31.6)")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--pruner", choices=PRUNERS, default="default",
                        help="glasstune's pruner: its default, or another to compare")
    args = parser.parse_args()
    import optuna
    from threadpoolctl import threadpool_limits

    from glasstune.objectives.mlp.objective import fold_splits

    seeds = args.seeds or (2 if args.quick else 3)
    scale = args.epoch_scale or (10 ** 1.5 if args.quick else 10.0)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    table = lab_set()
    folds = fold_splits(table, args.folds, seed=0)
    configs = grid(scale)
    print(f"{len(configs)} grid configs (epochs {sorted({c['max_iter'] for c in configs})}), {len(table.y)} rows "
          f"of {table.provenance.get('name', 'the T = 0.45 set')}, {args.folds} folds, 1 thread each; glasstune "
          f"pruner: {args.pruner}; load {load()}")
    inf = float("inf")
    ratios: dict[str, list[float]] = {"grid": [], "halving": [], "random": [], "whole": []}
    for seed in range(seeds):
        with threadpool_limits(1):
            measured = lab_grid(configs, table, folds, seed)
            trace = in_order(measured, list(range(len(configs))))
            best = max(s for _, s in measured)
            target = best - 0.005
            grid_time, position = reached(trace, target)
            whole = trace[-1][0]
            shuffled = random_order_time(measured, target, seed)
            halving_trace = halving(configs, table, folds, seed)
            halving_time, _ = reached(halving_trace, target)
            found, glasstune_best, n_trials, n_pruned = glasstune_search(configs, table, args.folds, target, seed,
                                                                         time_cap=whole, pruner=args.pruner)
        assert grid_time is not None
        halving_text = (f"{halving_time:.1f} s" if halving_time is not None
                        else f"missed (best {max(s for _, s in halving_trace):.3f}, {halving_trace[-1][0]:.1f} s)")
        found_text = f"{found:.1f} s" if found is not None else "missed"
        print(f"seed {seed}: grid best {best:.3f} (target {target:.3f}) reached at config {position}/{len(configs)} "
              f"after {grid_time:.1f} s (random order: {shuffled:.1f} s on average), whole grid {whole:.1f} s; "
              f"HalvingRandomSearchCV {halving_text}; glasstune {found_text} ({n_trials} trials, {n_pruned} pruned, "
              f"best {glasstune_best:.3f}); load {load()}")
        ratios["grid"].append(found / grid_time if found is not None else inf)
        ratios["whole"].append(found / whole if found is not None else inf)
        ratios["random"].append(found / shuffled if found is not None else inf)
        ratios["halving"].append(inf if found is None else found / halving_time if halving_time is not None else 0.0)
    print(summary("glasstune / lab grid in the lab's order, time to target", ratios["grid"], 0.25))
    print(summary("glasstune / HalvingRandomSearchCV, time to target (0.00x: halving missed)", ratios["halving"], 0.5))
    print(summary("glasstune / lab grid in a random order, time to target", ratios["random"]))
    print(summary("glasstune / whole lab grid (what the lab runs to know its best)", ratios["whole"]))


if __name__ == "__main__":
    main()
