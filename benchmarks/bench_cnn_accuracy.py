"""What the lab's CNN configuration scores on the built-in glass/liquid images, thermal and minimised.

Trains the lab's configuration (batch 80, Adam 1e-3, L2 beta 0.01, dropout 0.5, augmentation, the
threshold schedule 1e-3 -> 1e-4 at 90 % validation accuracy) through ``CNNObjective``, exactly as a
study trial would, on the thermal image set and on its inherent-structure twin (the same runs, every
configuration energy-minimised before it is drawn). Prints best-checkpoint validation and test
accuracy with their 95 % intervals (Wilson; what the set sizes can resolve), the best iteration and
the time. The two sets answer different questions: thermal images can be told apart by vibration
alone; minimised ones only by the structure of the packing.

CPU default (the study's default data and budget): ``python benchmarks/bench_cnn_accuracy.py``.
The lab's size on a GPU (20,000 images of 250 px, 1,500 iterations)::

    python benchmarks/bench_cnn_accuracy.py --runs 10000 --size 250 --iterations 1500 \\
        --platform cuda --device cuda --replicates 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

LAB = {"batch_size": 80, "learning_rate": 1e-3, "dropout": 0.5, "l2_beta": 0.01, "schedule": "threshold",
       "lr_final": 1e-4, "lr_threshold": 0.90, "augment": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="cooling runs (two images each)")
    parser.add_argument("--size", type=int, default=48, help="image size in pixels (the lab's: 250)")
    parser.add_argument("--iterations", type=int, default=150, help="iterations of 10 batches")
    parser.add_argument("--replicates", type=int, default=1, help="seeds of the same configuration")
    parser.add_argument("--variants", default="thermal,minimised", help="thermal, minimised or both")
    parser.add_argument("--device", default="auto", help="training device: auto, cpu or cuda")
    parser.add_argument("--platform", default="auto", help="OpenMM platform for a first simulation")
    args = parser.parse_args()

    from glasstune.data import images
    from glasstune.objectives.cnn import CNNObjective

    objective = CNNObjective(lambda trial: dict(LAB), iterations=args.iterations, replicates=args.replicates,
                             eval_examples=1000, checkpoint_seconds=1e9)
    for variant in args.variants.split(","):
        started = time.perf_counter()
        data = images(runs=args.runs, size=args.size, minimised=variant == "minimised",
                      platform=args.platform).load()
        made = time.perf_counter() - started
        summary, seconds = train(objective, data, args.device)
        val_low, val_high = summary["val_accuracy_ci95"]
        test_low, test_high = summary["test_accuracy_ci95"]
        print(f"{variant:9s} {data.provenance['name']}: {len(data)} images ({made:.0f} s to load or make)")
        print(f"  validation {summary['val_accuracy']:.3f} [{val_low:.3f}, {val_high:.3f}] on "
              f"{summary['val_images']} images; test {summary['test_accuracy']:.3f} "
              f"[{test_low:.3f}, {test_high:.3f}] on {summary['test_images']} images")
        print(f"  final model: validation {summary['final_val_accuracy']:.3f}, test "
              f"{summary['final_test_accuracy']:.3f}")
        print(f"  best iteration(s) {summary['best_iterations']} of {args.iterations}; collapsed "
              f"{summary['collapsed_replicates']}/{args.replicates}; {seconds:.0f} s training and measuring")


def train(objective, data, device: str) -> tuple[dict, float]:
    """One trial of the objective with a fixed configuration; its summary values and wall time."""
    import optuna

    from glasstune.objectives.context import TrialContext

    trial = optuna.trial.FixedTrial({})
    with tempfile.TemporaryDirectory() as folder:
        ctx = TrialContext(trial=trial, data=data, seed=0, workdir=Path(folder),
                           checkpoint_dir=Path(folder) / "ckpt", device=device)
        started = time.perf_counter()
        from glasstune.objectives.cnn.session import Job, TrialSession

        session = TrialSession(ctx, data, objective, None)
        jobs = [Job(index, dict(LAB), index, objective.iterations, ctx.checkpoint_dir / f"rep{index}")
                for index in range(objective.replicates)]
        summary = session.run(jobs, report=False, prune_on_collapse=False)
        summary["best_iterations"] = [record["best_iteration"] for record in summary["per_replicate"]]
        return summary, time.perf_counter() - started


if __name__ == "__main__":
    main()
