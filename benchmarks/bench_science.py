"""Per temperature, what the built-in softness sets hold and what the models make of them.

For each of the lab's temperatures (the set each default study uses, made on first use): the label
rule, rows and frames (the part a study tunes on, and the held-out part), hop counts, tau_alpha and
the ageing check, the linear SVM baseline on the study's own 5 folds, and, where the default study
has been run (``glasstune run studies/mlp_XXX.py``), its best trial against that baseline.

    python benchmarks/bench_science.py                  # the six sets, markdown table
    python benchmarks/bench_science.py --storage URL    # read the studies from another storage
"""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--temperatures", default="0.45,0.5,0.6,1,1.2,2")
    parser.add_argument("--storage", default=None, help="Optuna storage of the default studies")
    args = parser.parse_args()

    from glasstune.config import default_storage
    from glasstune.data import softness
    from glasstune.data.catalog import labels_for
    from glasstune.objectives.mlp import CrossValidatedMLP

    storage = args.storage or default_storage()
    print("| T | labels | rows (frames) tuned / held out | hop events | (particle, frame) pairs above "
          "0.2 / quiet | tau_alpha | ageing: F_s first / second half | equilibrated | SVM bal. acc (fold std) "
          "| tuned MLP (trials) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for temperature in (float(t) for t in args.temperatures.split(",")):
        source = softness(temperature, labels=labels_for(temperature))
        tuning, heldout = source.load(), source.held_out()
        p = tuning.provenance
        hops = p["hop_counts"]
        ageing = p["ageing_check"]
        svm = CrossValidatedMLP(n_folds=5).baseline(tuning)
        tau = p.get("tau_alpha")
        print(f"| {temperature:g} | {p['label_rule']} | {len(tuning)} ({tuning.frame['frame'].nunique()}) / "
              f"{len(heldout)} ({heldout.frame['frame'].nunique()}) | {hops['hop_events']} | "
              f"{hops['above_hop_threshold']} ({hops['fraction_above_hop_threshold']:.2%}) / "
              f"{hops['quiet_throughout_interval']} | {'-' if tau is None else f'{tau:.3g}'} | "
              f"{ageing['fs_first_half']} / {ageing['fs_second_half']} at t = {ageing['lag']:g} | "
              f"{p['equilibrated']} | {svm['score']:.3f} ({svm['spread']:.3f}) | "
              f"{best_of(storage, f'mlp_{round(temperature * 100):03d}', tuning.fingerprint())} |")


def best_of(storage: str, name: str, fingerprint: str) -> str:
    """The default study's best value and its trial count, if it ran on exactly these rows."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return "not run"
    if study.user_attrs.get("glasstune.data_fingerprint") != fingerprint:
        return "run on other data"
    done = [t for t in study.trials if t.value is not None and t.state.name == "COMPLETE"]
    if not done:
        return "no complete trial"
    best = max(done, key=lambda t: t.value)
    return f"{best.value:.3f} ({len(study.trials)})"


if __name__ == "__main__":
    main()
