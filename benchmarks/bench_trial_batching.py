"""Trials per hour: several MLP trials trained together vs one trial at a time vs the lab's loop.

The same trials (configurations drawn from the lab's space: 2-10 layers x 10-100 wide, adam or sgd,
log-spaced learning rate, alpha and epochs 10^2.5-10^3.5 divided by --epoch-scale), the same
frame-grouped 5 folds, three ways:

- the lab's loop: ``cross_val_score(make_pipeline(StandardScaler(), MLPClassifier(...)))`` per
  trial, one after another, on the CPU with one BLAS thread;
- glasstune one trial at a time (the torch backend: a trial's 5 folds as one batched network);
- glasstune with ``--batch`` trials at a time (``CrossValidatedMLP.run_batch``: every fold of every
  trial in one padded, batched network; a trial leaves the batch at its last epoch).

Prints each way's trials per hour and the ratios, and checks that every trial's CV score is the same
trained together as alone. One untimed call of each way first (imports, initialisation).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from _common import data


def draw_configs(n: int, epoch_scale: float, seed: int) -> list[dict[str, Any]]:
    """``n`` configurations of the lab's search space, epochs divided by ``epoch_scale``."""
    import optuna

    from glasstune.objectives.mlp.objective import lab_search_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    configs = []
    for _ in range(n):
        config = lab_search_space(study.ask())
        config["max_iter"] = max(5, round(config["max_iter"] / epoch_scale))
        configs.append(config)
    return configs


def padded_work(configs: list[dict[str, Any]], batch: int, n_features: int) -> float:
    """Multiply-adds per row of the padded batches over the trials' own: what padding costs."""
    from itertools import pairwise

    def work(layers: list[tuple[int, int]]) -> int:
        return sum(fan_in * fan_out for fan_in, fan_out in layers)

    own = padded = 0
    for start in range(0, len(configs), batch):
        shapes = [tuple(config["hidden_layer_sizes"]) for config in configs[start:start + batch]]
        own += sum(work(list(pairwise([n_features, *shape, 1]))) for shape in shapes)
        depth = max(len(shape) for shape in shapes)
        widths = [max(shape[min(layer, len(shape) - 1)] for shape in shapes) for layer in range(depth)]
        padded += len(shapes) * work(list(pairwise([n_features, *widths, 1])))
    return padded / own


def contexts(table: Any, count: int, device: str, folder: Path) -> list[Any]:
    """One context per trial, trial i fixed to configuration i, with a sink that keeps nothing."""
    import optuna

    from glasstune.objectives.context import TrialContext

    return [TrialContext(trial=optuna.trial.FixedTrial({"config": index}), data=table, seed=0,
                         workdir=folder, checkpoint_dir=folder / "ckpt", device=device) for index in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 rows, epochs / 31.6, 4 trials")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the lab's loop always runs on the CPU)")
    parser.add_argument("--trials", type=int, default=None, help="trials to run each way (default 8; --quick 4)")
    parser.add_argument("--batch", type=int, default=None, help="trials trained together (default: all of them)")
    parser.add_argument("--epoch-scale", type=float, default=None, help="divide the lab's epochs (default 10)")
    parser.add_argument("--lab-trials", type=int, default=None,
                        help="time the lab's loop on the first N trials only (it is the slow one)")
    parser.add_argument("--seed", type=int, default=0, help="draws the configurations")
    parser.add_argument("--same-shape", action="store_true",
                        help="every trial takes the first one's layers (nothing padded): batching alone, no padding")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    from sklearn.model_selection import cross_val_score
    from threadpoolctl import threadpool_limits

    from glasstune.objectives.mlp.objective import CrossValidatedMLP, build_estimator, fold_splits

    n_frames, n_per_class = (10, 50) if args.quick else (20, 100)
    n_trials = args.trials or (4 if args.quick else 8)
    batch = args.batch or n_trials
    epoch_scale = args.epoch_scale or (31.6 if args.quick else 10.0)
    lab_trials = min(args.lab_trials or n_trials, n_trials)
    table = data(n_frames, n_per_class)
    folds = fold_splits(table, 5, seed=0)
    configs = draw_configs(n_trials, epoch_scale, args.seed)
    if args.same_shape:
        configs = [{**config, "hidden_layer_sizes": configs[0]["hidden_layer_sizes"]} for config in configs]
    padding = padded_work(configs, batch, table.X.shape[1])
    objective = CrossValidatedMLP(lambda trial: dict(configs[trial.suggest_int("config", 0, n_trials - 1)]),
                                  n_folds=5, backend="torch")
    print(f"data: {len(table.y)} rows x {table.X.shape[1]} features, 5 folds grouped by frame; {n_trials} trials "
          f"of the lab's space, epochs {min(c['max_iter'] for c in configs)}-{max(c['max_iter'] for c in configs)} "
          f"(lab's / {epoch_scale:g}); glasstune on {args.device}, {batch} trials per batch; torch threads 1, "
          f"BLAS threads 1; padded to a batch's widest and deepest trial, a batch does {padding:.2f}x its "
          f"trials' own arithmetic")

    def lab(chosen: list[dict[str, Any]]) -> list[float]:
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore")
            return [float(cross_val_score(build_estimator(config, seed=0), table.X, table.y, cv=folds,
                                          scoring="balanced_accuracy").mean()) for config in chosen]

    def alone(count: int) -> list[float]:
        with tempfile.TemporaryDirectory() as folder:
            return [objective(ctx) for ctx in contexts(table, count, args.device, Path(folder))]

    def together(count: int) -> list[float]:
        with tempfile.TemporaryDirectory() as folder:
            every = contexts(table, count, args.device, Path(folder))
            results = []
            for start in range(0, count, batch):
                results += objective.run_batch(every[start:start + batch])
            failed = [result for result in results if isinstance(result, BaseException)]
            if failed:
                raise failed[0]
            return results

    lab([{**configs[0], "max_iter": 2}])  # one-off imports and initialisation: not timed
    warm_up = CrossValidatedMLP(lambda trial: {**configs[0], "max_iter": 2}, n_folds=5, backend="torch")
    with tempfile.TemporaryDirectory() as folder:
        warm_up.run_batch(contexts(table, 2, args.device, Path(folder)))

    timings: dict[str, tuple[float, int, list[float]]] = {}
    for name, run, count in (("lab cross_val_score (cpu)", lambda: lab(configs[:lab_trials]), lab_trials),
                             (f"glasstune one at a time ({args.device})", lambda: alone(n_trials), n_trials),
                             (f"glasstune {batch} together ({args.device})", lambda: together(n_trials), n_trials)):
        start = time.perf_counter()
        scores = run()
        timings[name] = (time.perf_counter() - start, count, scores)
    per_hour = {name: 3600 * count / seconds for name, (seconds, count, _) in timings.items()}
    lab_name, alone_name, together_name = timings
    for name, (seconds, count, _) in timings.items():
        print(f"{name:36s} {count} trials in {seconds:7.1f} s  {per_hour[name]:8.0f} trials/hour  "
              f"({per_hour[name] / per_hour[lab_name]:5.2f}x the lab's)")
    same = timings[alone_name][2] == timings[together_name][2]
    largest = max(abs(a - b) for a, b in zip(timings[alone_name][2], timings[together_name][2], strict=True))
    print(f"trained together vs one at a time: {per_hour[together_name] / per_hour[alone_name]:.2f}x; "
          f"every trial's CV score the same: {'yes' if same else f'no, up to {largest:.3f} apart'}")
    if not same:
        print("  one at a time:", [round(s, 4) for s in timings[alone_name][2]])
        print("  together:     ", [round(s, 4) for s in timings[together_name][2]])
        print("  (float rounding differs with the batch's shapes and grows over training in some configurations)")
    if args.json:
        report = {"device": args.device, "batch": batch, "trials": n_trials, "lab_trials": lab_trials,
                  "rows": len(table.y), "epoch_scale": epoch_scale, "configs": configs,
                  "seconds": {name: seconds for name, (seconds, _, _) in timings.items()},
                  "trials_per_hour_lab_cpu": per_hour[lab_name], "trials_per_hour_alone": per_hour[alone_name],
                  "trials_per_hour_batched": per_hour[together_name],
                  "batched_vs_alone": per_hour[together_name] / per_hour[alone_name],
                  "batched_vs_lab_cpu": per_hour[together_name] / per_hour[lab_name],
                  "alone_vs_lab_cpu": per_hour[alone_name] / per_hour[lab_name], "same_scores": same,
                  "largest_score_difference": largest, "padded_work": padding, "same_shape": args.same_shape}
        Path(args.json).write_text(json.dumps(report, indent=2, default=list))


if __name__ == "__main__":
    main()
