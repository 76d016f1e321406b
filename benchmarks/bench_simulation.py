"""How fast the KA data are made, and whether they mean something.

    python benchmarks/bench_simulation.py --quick         # speeds only (about a minute)
    python benchmarks/bench_simulation.py --out /tmp/ka   # + the six-temperature set, the baseline

Speeds: OpenMM steps/s for 3D KA (N = 1000) on 1 and all threads, 2D KA (N = 300) alone and
stacked ten runs deep (with --platform cuda: 3D KA at N = 1000 and 4096 on OpenMM's CUDA platform);
structure functions and Phop in particles/s.

Meaning: a linear baseline on each simulated temperature (standardised features; logistic
regression and the lab's linear SVM, C = 0.01), 5-fold cross-validation grouped by frame,
balanced accuracy and ROC AUC; and the T = 0.6 model's AUC on every temperature. Expected: well
above chance at low T, falling towards 0.5 as T rises (SCIENCE.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from glasstune.data.catalog import labels_for
from glasstune.data.ka.datasets import SimulatedImages, SimulatedSoftness
from glasstune.data.ka.phop import phop
from glasstune.data.ka.simulation import (
    KA2D,
    KA3D,
    Protocol,
    build_system,
    create_context,
    jittered_lattice,
    maxwell_velocities,
    simulate_ka3d,
)
from glasstune.data.ka.structure import structure_functions
from glasstune.data.schema import LAB_TEMPERATURES


def md_speed(n_particles: int, dimensions: int, *, layers: int = 1, threads: int | None = None,
             steps: int = 2000, platform: str = "cpu") -> float:
    """Steps per second of Nose–Hoover MD after a short warm-up."""
    import openmm

    from glasstune.data.ka.simulation import LAYER_GAP, kelvin

    rng = np.random.default_rng(0)
    model = KA3D if dimensions == 3 else KA2D
    length = model.box_length(n_particles)
    if dimensions == 3:
        box = np.full(3, length)
        species = model.species(n_particles, rng)
        positions = jittered_lattice(n_particles, box, 3, rng)
    else:
        box = np.array([length, length, max(LAYER_GAP * layers, 5.01)])
        species = np.concatenate([model.species(n_particles, rng) for _ in range(layers)])
        positions = np.concatenate([jittered_lattice(n_particles, box, 2, rng)
                                    + [0, 0, LAYER_GAP * k] for k in range(layers)])
    system = build_system(species, box)
    context, integrator, _ = create_context(
        system, lambda: openmm.NoseHooverIntegrator(kelvin(1.0), 1.0, 0.005), platform,
        threads=threads)
    context.setPositions(positions)
    openmm.LocalEnergyMinimizer.minimize(context, 1.0, 500)
    context.setVelocities(maxwell_velocities(len(species), 1.0, rng, dimensions))
    integrator.step(300)
    started = time.perf_counter()
    integrator.step(steps)
    return steps / (time.perf_counter() - started)


def featurisation_speed() -> dict[str, float]:
    """Structure functions of every A particle of a liquid frame; Phop of a whole trajectory."""
    trajectory = simulate_ka3d(1.0, n_particles=1000, platform="cpu",
                               protocol=Protocol(equilibration=2.0, production=10.0))
    frame = trajectory.wrapped(trajectory.n_frames - 1)
    started = time.perf_counter()
    features = structure_functions(frame, trajectory.species, trajectory.box)
    structure_rate = len(features) / (time.perf_counter() - started)
    started = time.perf_counter()
    phop(trajectory.positions, 40)
    phop_rate = trajectory.n_frames * trajectory.n_particles / (time.perf_counter() - started)
    return {"structure_functions_particles_per_s": structure_rate,
            "phop_particle_frames_per_s": phop_rate}


def make_sets(temperatures: list[float], n_particles: int, out: Path) -> list[dict]:
    rows = []
    for temperature in temperatures:
        source = SimulatedSoftness(temperature, n_particles=n_particles, labels=labels_for(temperature))
        path = out / source.path.name
        if not path.exists():
            source.make(path)
        provenance = json.loads(path.with_name(path.name.split(".")[0]
                                               + ".provenance.json").read_text())
        rows.append({"temperature": temperature, "path": str(path), **{
            key: provenance.get(key) for key in (
                "simulation_seconds", "featurize_seconds", "rows", "frames", "label_rule",
                "fraction_phop_above_0.2", "equilibrated", "tau_alpha", "kinetic_temperature",
                "platform")}})
    return rows


def baseline(rows: list[dict]) -> list[dict]:
    """Grouped 5-fold CV of two linear models per temperature, and the T = 0.6 model's AUC."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    from glasstune.data.table import load_table

    tables = {row["temperature"]: load_table(row["path"]) for row in rows}
    reference = tables.get(0.6)
    transfer = None
    if reference is not None:
        transfer = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        transfer.fit(reference.X, reference.y)
    results = []
    for temperature, table in tables.items():
        folds = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
        result = {"temperature": temperature, "rows": len(table),
                  "majority": float(max(table.y.mean(), 1 - table.y.mean()))}
        for name, model in (("logistic", LogisticRegression(max_iter=5000)),
                            ("svm", LinearSVC(C=0.01))):
            scores = cross_val_predict(make_pipeline(StandardScaler(), model), table.X, table.y,
                                       groups=table.groups, cv=folds, method="decision_function")
            result[f"{name}_balanced_accuracy"] = balanced_accuracy_score(table.y, scores > 0)
            result[f"{name}_auc"] = roc_auc_score(table.y, scores)
        if transfer is not None:
            result["auc_of_T0.6_model"] = roc_auc_score(table.y, transfer.decision_function(table.X))
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="speeds only")
    parser.add_argument("--out", type=Path, default=Path("ka-benchmark"))
    parser.add_argument("--temperatures", default=",".join(map(str, LAB_TEMPERATURES)))
    parser.add_argument("--n-particles", type=int, default=1000)
    parser.add_argument("--images", action="store_true", help="also time the default image set")
    parser.add_argument("--json", type=Path, help="write all figures here")
    parser.add_argument("--platform", choices=("cpu", "cuda"), default="cpu",
                        help="OpenMM platform of the MD speeds (cuda: 3D KA at N = 1000 and 4096)")
    args = parser.parse_args()

    if args.platform == "cuda":  # threads do not apply; a GPU needs thousands of particles to be busy
        md = {f"3d_n{n}_cuda": md_speed(n, 3, platform="cuda") for n in (1000, 4096)}
    else:
        md = {
            "3d_n1000_1_thread": md_speed(1000, 3, threads=1),
            "3d_n1000_all_threads": md_speed(1000, 3),
            "2d_n300_1_layer": md_speed(300, 2),
            "2d_n300_10_layers (runs x steps/s)": 10 * md_speed(300, 2, layers=10, steps=1000),
        }
    report: dict = {"platform": args.platform, "md_steps_per_s": md}
    report["featurisation"] = featurisation_speed()
    for key, value in {**report["md_steps_per_s"], **report["featurisation"]}.items():
        print(f"{key:40s} {value:12,.0f}")
    if args.images:
        started = time.perf_counter()
        SimulatedImages().make(args.out / SimulatedImages().path.name)
        report["default_image_set_seconds"] = time.perf_counter() - started
        print(f"default image set (30 runs, N=300, 250 px): {report['default_image_set_seconds']:.0f} s")
    if not args.quick:
        temperatures = [float(t) for t in args.temperatures.split(",")]
        report["sets"] = make_sets(temperatures, args.n_particles, args.out)
        report["baseline"] = baseline(report["sets"])
        print("\n| T | sim s | features s | rows | frames | labels | Phop>0.2 | equilibrated |")
        print("|---|---|---|---|---|---|---|---|")
        for row in report["sets"]:
            print(f"| {row['temperature']:g} | {row['simulation_seconds']} | "
                  f"{row['featurize_seconds']} | {row['rows']} | {row['frames']} | "
                  f"{row['label_rule']} | {row['fraction_phop_above_0.2']:.1%} | "
                  f"{row['equilibrated']} |")
        print("\n| T | logistic bal. acc | logistic AUC | SVM bal. acc | SVM AUC | AUC of T=0.6 model |")
        print("|---|---|---|---|---|---|")
        for row in report["baseline"]:
            print(f"| {row['temperature']:g} | {row['logistic_balanced_accuracy']:.3f} | "
                  f"{row['logistic_auc']:.3f} | {row['svm_balanced_accuracy']:.3f} | "
                  f"{row['svm_auc']:.3f} | {row.get('auc_of_T0.6_model', float('nan')):.3f} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
