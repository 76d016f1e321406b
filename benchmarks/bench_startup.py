"""How long the CLI takes to start, as whole processes: `glasstune --help` and `glasstune trials`
on a stored study, with `python -c "import mlflow"` for scale (what a lazy-import slip would add)."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def seconds(command: list[str], cwd: Path, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "GLASSTUNE_DATA_DIR": str(cwd / "data")})
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def stored_study(folder: Path) -> None:
    """A tiny finished study in folder/mlruns (made with the CLI itself, not timed)."""
    study = folder / "studies" / "startup.py"
    study.parent.mkdir()
    study.write_text(
        "from glasstune import Study\nfrom glasstune.data.sources import SyntheticSoftness\n"
        "from glasstune.objectives.mlp import CrossValidatedMLP\n\n"
        "def space(trial):\n    return {'hidden_layer_sizes': (trial.suggest_int('width', 4, 8),), 'max_iter': 5}\n\n"
        "STUDY = Study(name='startup', data=SyntheticSoftness(0.45, n_frames=6, n_per_class=12),\n"
        "              objective=CrossValidatedMLP(space, n_folds=3), n_trials=3)\n")
    subprocess.run([str(BIN / "glasstune"), "run", str(study)], cwd=folder, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "GLASSTUNE_DATA_DIR": str(folder / "data")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        stored_study(folder)
        rows = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "glasstune --help": [str(BIN / "glasstune"), "--help"],
            "glasstune trials startup": [str(BIN / "glasstune"), "trials", "startup"],
            "python -c 'import mlflow'": [sys.executable, "-c", "import mlflow"],
        }
        results = {label: seconds(command, folder, args.repeats) for label, command in rows.items()}
    mlflow = results["python -c 'import mlflow'"][0]
    for label, (median, times) in results.items():
        spread = ", ".join(f"{t:.2f}" for t in times)
        print(f"{label:28s} median {median:5.2f} s  [{spread}]  vs import mlflow {median / mlflow:4.2f}x")


if __name__ == "__main__":
    main()
