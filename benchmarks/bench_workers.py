"""Trials per hour with 1 vs 2 workers: the real `glasstune run STUDY --workers N` path.

Each run is a whole `glasstune run` process (with `--workers 2`: a coordinator and two worker
processes) on a fresh SQLite Optuna storage and MLflow store in a temporary folder. Every trial is
the same work: the CV MLP (torch backend, one thread) with one fixed configuration and no pruning.
The 1- and 2-worker runs alternate over --repeats rounds, so drifting load on a shared machine hits
both alike; medians are reported. Two rates: over the whole process (start-up included) and over the
trials alone (first trial start to last trial end, from the storage's timestamps).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import data

BIN = Path(sys.executable).parent

STUDY_FILE = '''
import optuna

from glasstune import Study
from glasstune.data.sources import SyntheticSoftness
from glasstune.objectives.mlp import CrossValidatedMLP


def space(trial: optuna.Trial) -> dict:
    width = trial.suggest_categorical("width", [{width}])  # one choice: every trial is equal work
    return {{"hidden_layer_sizes": (width,) * {layers}, "max_iter": {epochs}, "solver": "adam",
            "learning_rate_init": 1e-3, "alpha": 1e-4}}


STUDY = Study(name="workers", data=SyntheticSoftness(0.45, n_frames={frames}, n_per_class={per_class}),
              objective=CrossValidatedMLP(space, n_folds=5, backend="torch"), n_trials={trials},
              pruner=optuna.pruners.NopPruner())
'''


def load() -> str:
    """The 1-minute load average (other jobs on a shared machine show here)."""
    path = Path("/proc/loadavg")
    return path.read_text().split()[0] if path.exists() else "?"


def one_run(folder: Path, workers: int, trials: int) -> tuple[float, float, int, float]:
    """Wall time of the whole command, time from first trial start to last trial end, trials done,
    median seconds per trial."""
    import optuna

    storage = f"sqlite:///{folder / 'optuna.db'}"
    command = [str(BIN / "glasstune"), "run", str(folder / "study.py"), "--workers", str(workers),
               "--n-trials", str(trials), "--device", "cpu", "--no-progress", "--storage", storage,
               "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}"]
    start = time.perf_counter()
    subprocess.run(command, cwd=folder, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    study = optuna.load_study(study_name="workers", storage=storage)
    done = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    first = min(t.datetime_start for t in done)
    last = max(t.datetime_complete for t in done)
    per_trial = statistics.median((t.datetime_complete - t.datetime_start).total_seconds() for t in done)
    return wall, (last - first).total_seconds(), len(done), per_trial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="--trials 8 --repeats 2 (about 3 minutes)")
    parser.add_argument("--trials", type=int, default=None, help="trials per run, equal work each (default 12)")
    parser.add_argument("--repeats", type=int, default=None, help="alternating rounds of 1 and 2 workers (default 3)")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--width", type=int, default=32)
    args = parser.parse_args()
    args.trials = args.trials or (8 if args.quick else 12)
    args.repeats = args.repeats or (2 if args.quick else 3)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    frames, per_class = 10, 50
    data(frames, per_class)  # build the data cache outside the timings
    study_text = STUDY_FILE.format(width=args.width, layers=args.layers, epochs=args.epochs, frames=frames,
                                   per_class=per_class, trials=args.trials)
    env_data = os.environ.get("GLASSTUNE_DATA_DIR", "~/.cache/glasstune/data")
    print(f"{args.trials} equal trials per run (CV MLP, 5 folds, {args.layers}x{args.width}, {args.epochs} epochs, "
          f"torch, 1 thread), {os.cpu_count()} CPUs, data cache {env_data}; load {load()}")
    rates: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    for repeat in range(args.repeats):
        for workers in (1, 2):
            with tempfile.TemporaryDirectory(prefix="glasstune-bench-workers-") as name:
                folder = Path(name)
                (folder / "study.py").write_text(study_text)
                wall, busy, done, per_trial = one_run(folder, workers, args.trials)
            whole, trials_only = 3600 * done / wall, 3600 * done / busy
            rates[workers].append((whole, trials_only))
            print(f"round {repeat + 1}, {workers} worker(s): {done} trials, {wall:.1f} s whole command "
                  f"({whole:.0f} trials/h), {busy:.1f} s of trials ({trials_only:.0f} trials/h), "
                  f"{per_trial:.1f} s per trial; load {load()}")
    medians = {w: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
               for w, runs in rates.items()}
    for workers, (whole, trials_only) in medians.items():
        print(f"{workers} worker(s): median {whole:.0f} trials/h whole command, {trials_only:.0f} trials/h trials only")
    print(f"ratio 2 vs 1 workers: {medians[2][0] / medians[1][0]:.2f}x whole command, "
          f"{medians[2][1] / medians[1][1]:.2f}x trials only (ideal on 2 idle cores: 2x)")


if __name__ == "__main__":
    main()
