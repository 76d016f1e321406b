"""What MLflow tracking costs a study: glasstune.study.run_study vs a plain Optuna loop.

Both run the same objective (the CV MLP, torch backend, one fixed configuration and no pruning, so
every trial is the same work) for the same number of trials on the same kind of SQLite Optuna
storage. The plain loop gives the objective a NullSink context, which keeps nothing (so no figure is
even drawn); the difference is everything tracking costs: runs, metrics, artifacts, the loss-curve
figure, run_study's bookkeeping, and the wait at the end until the last trial's records are written.
After a warm-up of each, the two alternate (A B, B A, A B, ...) so drifting load hits both alike.
Two figures, each the median over repeats of the paired ratio tracked / plain: the whole study
(start-up included) and the trials alone (sum of the trials' durations from the storage's
timestamps). Target: at most 3 % overhead.

A third runner, ``async``, is the simpler design the background writer must beat: no child process;
the study's own process sends metrics, parameters and tags with MLflow's asynchronous logging
(``log_batch(..., synchronous=False)``) and draws and uploads the figures itself. The writer is worth
its code only if it is more than 2 % faster than that (printed as writer / async).

The MLflow store is made once, in the warm-up, and every tracked study is a new study in it, as for a
user (creating the store's tables is a one-off second, not a cost per study). Trial length matters:
the overhead is roughly fixed per trial and per study, so the default trials (about 2-3 s here) are
nearer the lab's (10 s to minutes) than --quick's (under 1 s), which shows the worst case.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import data


def make_space(epochs: int) -> Any:
    def space(trial: Any) -> dict[str, Any]:
        return {"hidden_layer_sizes": (trial.suggest_categorical("width", [32]),) * 3, "max_iter": epochs,
                "solver": "adam", "learning_rate_init": 1e-3, "alpha": 1e-4}
    return space


Timing = tuple[float, float]
"""(whole study in seconds, sum of the trials' own durations in seconds)"""


def trial_seconds(study: Any) -> float:
    """Sum of the finished trials' durations, from the storage's timestamps."""
    return sum((t.datetime_complete - t.datetime_start).total_seconds()
               for t in study.get_trials(deepcopy=False) if t.state.is_finished())


def tracked(table_source: Any, objective: Any, n_trials: int, folder: Path, store: Path) -> Timing:
    import optuna

    from glasstune.study.runner import RunOptions, run_study
    from glasstune.study.spec import Study

    folder.mkdir(parents=True, exist_ok=True)
    name = f"overhead-{folder.name}"
    spec = Study(name=name, data=table_source, objective=objective, n_trials=n_trials,
                 pruner=optuna.pruners.NopPruner())
    options = RunOptions(storage=f"sqlite:///{folder / 'optuna.db'}",
                         tracking_uri=f"sqlite:///{store / 'mlflow.db'}", progress=False, device="cpu")
    start = time.perf_counter()
    run_study(spec, options)
    whole = time.perf_counter() - start
    return whole, trial_seconds(optuna.load_study(study_name=name, storage=options.storage))


def asynchronous(table_source: Any, objective: Any, n_trials: int, folder: Path, store: Path) -> Timing:
    """``tracked`` without the writer process, with MLflow's asynchronous logging in this process."""
    from glasstune.stores import tracking, writer

    def no_writer(self: Any) -> None:
        raise OSError("the async runner writes in the study's process")

    def log_async(self: Any, method: str, *args: Any, **kwargs: Any) -> None:
        if self.run_id is None:
            return
        if method == "log_batch":
            kwargs["synchronous"] = False
        try:
            getattr(self.client, method)(*args, **kwargs)
        except Exception as error:
            self.note_failure(str(error))

    saved = writer.BackgroundWriter.__init__, tracking.TrialRun._safely
    writer.BackgroundWriter.__init__, tracking.TrialRun._safely = no_writer, log_async
    try:
        result = tracked(table_source, objective, n_trials, folder, store)
        from mlflow.tracking import MlflowClient

        MlflowClient(f"sqlite:///{store / 'mlflow.db'}")._tracking_client.store.flush_async_logging()
        return result
    finally:
        writer.BackgroundWriter.__init__, tracking.TrialRun._safely = saved


def plain(table_source: Any, objective: Any, n_trials: int, folder: Path, store: Path) -> Timing:
    import optuna

    from glasstune.objectives.context import NullSink, TrialContext

    folder.mkdir(parents=True, exist_ok=True)
    table = table_source.load()
    study = optuna.create_study(storage=f"sqlite:///{folder / 'optuna.db'}", direction="maximize",
                                pruner=optuna.pruners.NopPruner())

    def run(trial: optuna.Trial) -> float:
        with tempfile.TemporaryDirectory() as workdir:
            ctx = TrialContext(trial=trial, data=table, seed=trial.number, workdir=Path(workdir),
                               checkpoint_dir=Path(workdir), sink=NullSink())
            return objective(ctx)

    start = time.perf_counter()
    study.optimize(run, n_trials=n_trials)
    return time.perf_counter() - start, trial_seconds(study)


def load() -> str:
    """The 1-minute load average (other jobs on a shared machine show here)."""
    path = Path("/proc/loadavg")
    return path.read_text().split()[0] if path.exists() else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="--trials 5 --repeats 3 --epochs 60 (under a minute)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (default 300; --quick 60)")
    parser.add_argument("--trials", type=int, default=None, help="trials per study (default 8; --quick 5)")
    parser.add_argument("--repeats", type=int, default=None, help="alternating pairs (default 4; --quick 3)")
    args = parser.parse_args()
    n_trials = args.trials or (5 if args.quick else 8)
    repeats = args.repeats or (3 if args.quick else 4)
    epochs = args.epochs or (60 if args.quick else 300)

    import optuna

    from glasstune.cli.options import quiet_libraries
    from glasstune.data.sources import SyntheticSoftness
    from glasstune.objectives.mlp import CrossValidatedMLP

    quiet_libraries()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "false")
    source = SyntheticSoftness(0.45, n_frames=10, n_per_class=50)
    data(10, 50)  # build the cache outside the timings
    objective = CrossValidatedMLP(make_space(epochs), n_folds=5, backend="torch")
    scratch = tempfile.mkdtemp(prefix="glasstune-bench-overhead-")
    atexit.register(shutil.rmtree, scratch, True)
    os.chdir(scratch)  # run_study's ./mlruns/checkpoints go here, not into the repository
    print(f"{n_trials} equal trials per study (CV MLP 3x32, {epochs} epochs, 5 folds, torch), {repeats} "
          f"alternating pairs after a warm-up; load {load()}")
    store = Path(scratch) / "store"  # one MLflow store for every tracked study, as a user has
    store.mkdir()
    with tempfile.TemporaryDirectory() as folder:  # warm-up: imports, first torch calls, MLflow schema
        plain(source, objective, 1, Path(folder) / "a", store)
        tracked(source, objective, 1, Path(folder) / "b", store)
        asynchronous(source, objective, 1, Path(folder) / "c", store)
    runners = {"plain": plain, "tracked": tracked, "async": asynchronous}
    timings: dict[str, list[Timing]] = {name: [] for name in runners}
    for repeat in range(repeats):
        orders = [("plain", "tracked", "async"), ("async", "tracked", "plain"), ("tracked", "async", "plain")]
        order = orders[repeat % 3]
        for name in order:
            with tempfile.TemporaryDirectory() as folder:
                timings[name].append(runners[name](source, objective, n_trials, Path(folder), store))
        (pw, pt), (tw, tt), (aw, at) = (timings[name][-1] for name in ("plain", "tracked", "async"))
        print(f"round {repeat + 1} ({' then '.join(order)}): plain {pw:.1f} s (trials {pt:.1f} s), "
              f"writer {tw:.1f} s (trials {tt:.1f} s), async {aw:.1f} s (trials {at:.1f} s); load {load()}")
    pairs = list(zip(timings["plain"], timings["tracked"], strict=True))
    whole = statistics.median(t[0] / p[0] for p, t in pairs)
    trials = statistics.median(t[1] / p[1] for p, t in pairs)
    per_trial = {name: statistics.median(t[1] for t in runs) / n_trials for name, runs in timings.items()}
    extra = statistics.median((t[1] - p[1]) / n_trials for p, t in pairs)
    print(f"per trial (median): plain {per_trial['plain']:.3f} s, tracked {per_trial['tracked']:.3f} s; "
          f"tracking adds {extra:.2f} s per trial (median of pairs)")
    print(f"tracking overhead, median of paired ratios: {100 * (whole - 1):+.1f} % whole study (ratio {whole:.3f}), "
          f"{100 * (trials - 1):+.1f} % trials alone (ratio {trials:.3f}); target <= 3 %: "
          f"{'met' if whole <= 1.03 else 'MISSED'}")
    rounds = list(zip(timings["tracked"], timings["async"], strict=True))
    versus_whole = statistics.median(t[0] / a[0] for t, a in rounds)
    versus_trials = statistics.median(t[1] / a[1] for t, a in rounds)
    verdict = "the writer pays for itself" if versus_whole < 0.98 else "within 2 %: the simpler design would do"
    print(f"writer / MLflow async logging, median of ratios: whole study {versus_whole:.3f}, trials alone "
          f"{versus_trials:.3f} ({verdict})")


if __name__ == "__main__":
    main()
