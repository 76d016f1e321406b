"""Settings shared by the six MLP studies of problem A (one per temperature): edit them here once.

The search space is the lab's hand grid made continuous and widened to the simple end: 1-6 hidden
layers (the lab tried 2-10), width 10-100, training epochs log-spaced over 10^2-10^3.5, solver,
initial learning rate, and L2 alpha up to 10 (strong enough to make one hidden layer nearly
linear). The linear SVM (C = 0.01, standardised) is every study's baseline, scored on the same
folds; a space that cannot reach a model that simple could not even match it.

Data: the built-in simulated set at the study's temperature (3D KA in OpenMM, N = 1000; made on first
use, a few CPU minutes per temperature, then loaded from the cache). Its last quarter of frames is
held out: the study never tunes on it, and ``glasstune transfer`` scores on it. ``--smoke`` uses the
tiny synthetic stand-in instead.

Warm starts: each study but the coldest first tries the three best configurations of the study at
the next colder temperature, when that one has run (the six landscapes are alike: small, short
networks win at every temperature measured). ``glasstune run studies/mlp_*.py`` runs them coldest
first.

Labels: the lab's Phop rule (Phop > 0.2 rearranging, < 0.05 for 10 tau quiet, 10 tau window) below
T = 1. Above the onset temperature (about 1 for KA) no particle stays below 0.05 for 10 tau
(docs/science.md), so those three studies ask for the relative quantile rule, flagged as such on
every plot and in the provenance.
"""

import optuna

from glasstune import Study
from glasstune.data import softness
from glasstune.data.catalog import labels_for
from glasstune.objectives.mlp import CrossValidatedMLP


def search_space(trial: optuna.Trial) -> dict:
    n_layers = trial.suggest_int("n_layers", 1, 6)
    width = trial.suggest_int("width", 10, 100)
    return {
        "hidden_layer_sizes": (width,) * n_layers,
        "max_iter": trial.suggest_int("max_iter", 100, 3162, log=True),  # 10^2 .. 10^3.5 epochs
        "solver": trial.suggest_categorical("solver", ["adam", "sgd"]),
        "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-4, 1e-1, log=True),
        "alpha": trial.suggest_float("alpha", 1e-5, 10.0, log=True),  # L2; 10 is strong
    }


TEMPERATURES = (0.45, 0.5, 0.6, 1.0, 1.2, 2.0)


def study_name(temperature: float) -> str:
    return f"mlp_{round(temperature * 100):03d}"


def mlp_study(temperature: float) -> Study:
    colder = [t for t in TEMPERATURES if t < temperature]
    return Study(
        name=study_name(temperature),
        description=f"Which particles rearrange at T = {temperature}? 5-fold CV, grouped by frame.",
        data=softness(temperature, labels=labels_for(temperature)),  # the lab's labels below T = 1
        objective=CrossValidatedMLP(search_space, n_folds=5),
        n_trials=12,  # --n-trials 100 for the full study
        # No new trial after 4 minutes: with the first use's simulation and the trial still running,
        # the default job ends in minutes; --n-trials / --timeout for more (docs/science.md).
        timeout=240,
        warm_start=[study_name(max(colder))] if colder else [],
        seed=0,  # sampler and pruner: glasstune's defaults (TPE; prune the bottom quarter at each report)
    )
