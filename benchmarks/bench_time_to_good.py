"""Wall time until a search finds a configuration within 0.005 of the best CV balanced accuracy that
the lab's grid finds: (a) the lab's grid, in the lab's order (layers, then widths, then epochs,
smallest first), (b) sklearn's HalvingRandomSearchCV over the same space (max_iter as the resource),
(c) glasstune's default sampler and pruner (``glasstune.study.create_or_load``: TPE + median
pruner) on the CV MLP objective, torch backend, pruned over epochs. Per seed s, the grid is run with
MLP seed s and defines that seed's target; (b) and (c) use seed s too. Median and spread over seeds.

Scaled down so it runs in minutes on a 2-core CPU: epochs are the lab's 10^2.5-10^3.5 divided by
--epoch-scale (default 10: 32, 100, 316 epochs; --quick: 30, i.e. 11, 33, 105 epochs, and 2 seeds),
3 folds grouped by frame, synthetic T = 0.45 data (1,000 rows). Every method runs with one BLAS /
torch thread, so none gains from thread discipline alone. glasstune stops at the target, after 3x
the grid's number of trials, or when it has used as much time as the whole grid (reported as missed).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _common import data

LAYERS, WIDTHS = [2, 4, 8, 10], [20, 40, 60, 80]
Trace = list[tuple[float, float]]
"""(seconds since start, CV balanced accuracy) of each configuration, in the order evaluated."""


def grid(scale: float) -> list[dict[str, Any]]:
    """The lab's grid: layers x widths x 3 log-spaced epoch counts over 10^2.5-10^3.5 / scale."""
    epochs = sorted({max(5, int(round(e / scale))) for e in np.logspace(2.5, 3.5, 3)})
    return [{"hidden_layer_sizes": (w,) * n, "max_iter": e, "solver": "adam", "learning_rate_init": 1e-3,
             "alpha": 1e-4} for n in LAYERS for w in WIDTHS for e in epochs]


def lab_grid(configs: list[dict[str, Any]], table: Any, folds: list, seed: int) -> Trace:
    """The lab's loop: cross_val_score of every configuration, one after another."""
    from sklearn.model_selection import cross_val_score

    from glasstune.objectives.mlp import build_estimator

    start, trace = time.perf_counter(), []
    for config in configs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = cross_val_score(build_estimator(config, seed=seed), table.X, table.y, cv=folds,
                                    scoring="balanced_accuracy").mean()
        trace.append((time.perf_counter() - start, float(score)))
    return trace


def halving(configs: list[dict[str, Any]], table: Any, folds: list, seed: int) -> Trace:
    """HalvingRandomSearchCV over the architectures, epochs as the resource. It reports no times per
    candidate, so the trace is the cumulative fit + score time of cv_results_ (in evaluation order),
    scaled to the measured wall time."""
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV

    from glasstune.objectives.mlp import build_estimator

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


def glasstune_search(configs: list[dict[str, Any]], table: Any, target: float, seed: int, time_cap: float,
                     ) -> tuple[float | None, float, int]:
    """glasstune's default sampler + pruner over the same space; (time to target or None, best, trials)."""
    import optuna

    from glasstune.objectives.base import TrialContext
    from glasstune.objectives.mlp import CrossValidatedMLP
    from glasstune.spec import Study
    from glasstune.study import create_or_load, trial_seed

    layers = sorted({len(c["hidden_layer_sizes"]) for c in configs})
    widths = sorted({c["hidden_layer_sizes"][0] for c in configs})
    epochs = [c["max_iter"] for c in configs]

    def space(trial: optuna.Trial) -> dict[str, Any]:
        width = trial.suggest_categorical("width", widths)
        return {"hidden_layer_sizes": (width,) * trial.suggest_categorical("n_layers", layers),
                "max_iter": trial.suggest_int("max_iter", min(epochs), max(epochs), log=True),
                "solver": "adam", "learning_rate_init": 1e-3, "alpha": 1e-4}

    objective = CrossValidatedMLP(space, n_folds=3, backend="torch")
    study = create_or_load(Study(name=f"time-to-good-{seed}", data=None, objective=objective), None, seed)
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
        best = study.best_value if study.best_trial else float("nan")
        if best >= target:
            return elapsed, best, len(study.trials)
        if elapsed > time_cap:
            break
    return None, study.best_value, len(study.trials)


def reached(trace: Trace, target: float) -> tuple[float | None, int | None]:
    """Seconds and 1-based position of the first evaluation at or above the target."""
    return next(((t, i + 1) for i, (t, s) in enumerate(trace) if s >= target), (None, None))


def summary(label: str, ratios: list[float], goal: float) -> str:
    text = ", ".join("missed" if r == float("inf") else f"{r:.2f}x" for r in ratios)
    median = statistics.median(ratios)
    verdict = "met" if median <= goal else "MISSED"
    return f"{label}: median {median:.2f}x [{text}] (target <= {goal}x: {verdict})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="--epoch-scale 30 --seeds 2 (about 3 minutes)")
    parser.add_argument("--seeds", type=int, default=None, help="default 3 (--quick: 2)")
    parser.add_argument("--epoch-scale", type=float, default=None, help="default 10 (--quick: 30)")
    args = parser.parse_args()
    import optuna
    from threadpoolctl import threadpool_limits

    from glasstune.objectives.mlp import fold_splits

    seeds = args.seeds or (2 if args.quick else 3)
    scale = args.epoch_scale or (30.0 if args.quick else 10.0)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    table = data(10, 50)
    folds = fold_splits(table, 3, seed=0)
    configs = grid(scale)
    print(f"{len(configs)} grid configs (epochs {sorted({c['max_iter'] for c in configs})}), {len(table.y)} rows, "
          f"3 folds, 1 thread each; load {Path('/proc/loadavg').read_text().split()[:3]}")
    inf = float("inf")
    vs_grid, vs_halving, vs_whole_grid, halving_vs_grid = [], [], [], []
    for seed in range(seeds):
        with threadpool_limits(1):
            trace = lab_grid(configs, table, folds, seed)
            best = max(s for _, s in trace)
            target = best - 0.005
            grid_time, position = reached(trace, target)
            whole = trace[-1][0]
            halving_trace = halving(configs, table, folds, seed)
            halving_time, _ = reached(halving_trace, target)
            found, glasstune_best, n_trials = glasstune_search(configs, table, target, seed, time_cap=whole)
        assert grid_time is not None
        halving_text = (f"{halving_time:.1f} s" if halving_time is not None
                        else f"missed (best {max(s for _, s in halving_trace):.3f}, {halving_trace[-1][0]:.1f} s)")
        found_text = f"{found:.1f} s" if found is not None else "missed"
        print(f"seed {seed}: grid best {best:.3f} (target {target:.3f}) reached at config {position}/{len(configs)} "
              f"after {grid_time:.1f} s, whole grid {whole:.1f} s; HalvingRandomSearchCV {halving_text}; "
              f"glasstune {found_text} ({n_trials} trials, best {glasstune_best:.3f}); "
              f"load {Path('/proc/loadavg').read_text().split()[0]}")
        vs_grid.append(found / grid_time if found is not None else inf)
        vs_whole_grid.append(found / whole if found is not None else inf)
        vs_halving.append(inf if found is None else found / halving_time if halving_time is not None else 0.0)
        halving_vs_grid.append(halving_time / grid_time if halving_time is not None else inf)
    print(summary("glasstune / lab grid, time to target", vs_grid, 0.25))
    print(summary("glasstune / HalvingRandomSearchCV, time to target (0.00x: halving missed)", vs_halving, 0.5))
    print(f"glasstune / whole lab grid (what the lab runs to know its best): median "
          f"{statistics.median(vs_whole_grid):.2f}x; HalvingRandomSearchCV / lab grid, time to target: median "
          f"{statistics.median(halving_vs_grid):.2f}x")


if __name__ == "__main__":
    main()
