"""One cross-validated MLP trial: the lab's cross_val_score(MLPClassifier) vs glasstune's objective.

Same data, same configuration, same (frame-grouped) folds. glasstune runs with both backends:
'sklearn' (folds one after another, as the lab) and 'torch' (all folds as one batched network).
Prints median times and the speed-up over the lab's way. On a GPU, pass --device cuda.
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Callable

from _common import data, run_objective, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rows and epochs (about a minute)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--width", type=int, default=80)
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="cap numpy's BLAS threads for the sklearn runs (1 is fastest on a busy 2-core CPU)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    from sklearn.model_selection import cross_val_score
    from threadpoolctl import threadpool_limits

    from glasstune.objectives.mlp.objective import CrossValidatedMLP, build_estimator, fold_splits

    n_frames, n_per_class, epochs = (10, 50, 20) if args.quick else (20, 100, 316)
    table = data(n_frames, n_per_class)
    config = {"hidden_layer_sizes": (args.width,) * args.layers, "max_iter": epochs, "solver": "adam",
              "learning_rate_init": 1e-3, "alpha": 1e-4}
    folds = fold_splits(table, 5, seed=0)
    print(f"data: {len(table.y)} rows x {table.X.shape[1]} features, 5 folds grouped by frame; "
          f"MLP {args.layers}x{args.width}, {epochs} epochs, adam; torch threads 1 (glasstune's CPU default), "
          f"BLAS threads for sklearn: {args.blas_threads or 'library default'}")

    def lab(config: dict) -> Callable[[], float]:
        def run() -> float:
            with warnings.catch_warnings(), threadpool_limits(args.blas_threads):
                warnings.simplefilter("ignore")
                return cross_val_score(build_estimator(config, seed=0), table.X, table.y, cv=folds,
                                       scoring="balanced_accuracy").mean()
        return run

    def glasstune(backend: str) -> Callable[[dict], Callable[[], float]]:
        def make(config: dict) -> Callable[[], float]:
            objective = CrossValidatedMLP(lambda trial: dict(config), n_folds=5, backend=backend)

            def run() -> float:
                with threadpool_limits(args.blas_threads if backend == "sklearn" else None):
                    return run_objective(objective, table, device=args.device if backend == "torch" else "cpu")
            return run
        return make

    makers = {"lab cross_val_score": lab, "glasstune sklearn": glasstune("sklearn"),
              f"glasstune torch ({args.device})": glasstune("torch")}
    for make in makers.values():  # a first call pays one-off imports and initialisation: not timed
        make({**config, "max_iter": 2})()
    results = {name: timed(make(config), args.repeats) for name, make in makers.items()}
    reference = results["lab cross_val_score"][0]
    for name, (median, times, score) in results.items():
        spread = ", ".join(f"{t:.1f}" for t in times)
        print(f"{name:28s} median {median:7.2f} s  [{spread}]  CV balanced acc {score:.3f}  "
              f"speed-up vs lab {reference / median:5.2f}x")
    if args.json:
        torch_median = results[f"glasstune torch ({args.device})"][0]
        methods = {name: {"median_s": median, "times_s": times, "cv_balanced_accuracy": float(score),
                          "speedup_vs_lab": reference / median} for name, (median, times, score) in results.items()}
        report = {"device": args.device, "rows": len(table.y), "layers": args.layers, "width": args.width,
                  "epochs": epochs, "repeats": args.repeats, "blas_threads": args.blas_threads,
                  "lab_seconds": reference, "torch_seconds": torch_median, "torch_vs_lab": reference / torch_median,
                  "methods": methods}
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
