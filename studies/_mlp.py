"""Settings shared by the six MLP studies of problem A (one per temperature): edit them here once.

The search space is the lab's hand grid made continuous: hidden layers 2-10, width 10-100,
training epochs log-spaced over 10^2.5-10^3.5, solver, initial learning rate and L2 alpha.

Data: the built-in simulated set at the study's temperature (3D KA in OpenMM, N = 1000, Phop
labels; made on first use, about 2 CPU minutes at T = 0.45, then loaded from the cache).
``--smoke`` uses the tiny synthetic stand-in instead.
"""

import optuna

from glasstune import Study
from glasstune.data import softness
from glasstune.objectives.mlp import CrossValidatedMLP


def search_space(trial: optuna.Trial) -> dict:
    n_layers = trial.suggest_int("n_layers", 2, 10)
    width = trial.suggest_int("width", 10, 100)
    return {
        "hidden_layer_sizes": (width,) * n_layers,
        "max_iter": trial.suggest_int("max_iter", 316, 3162, log=True),  # 10^2.5 .. 10^3.5 epochs
        "solver": trial.suggest_categorical("solver", ["adam", "sgd"]),
        "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-4, 1e-1, log=True),
        "alpha": trial.suggest_float("alpha", 1e-6, 1e-1, log=True),
    }


def mlp_study(temperature: float) -> Study:
    return Study(
        name=f"mlp_{round(temperature * 100):03d}",
        description=f"Which particles rearrange at T = {temperature}? 5-fold CV, grouped by frame.",
        data=softness(temperature),  # the simulated set "ka-softness-T<temperature>"
        objective=CrossValidatedMLP(search_space, n_folds=5),
        n_trials=12,  # --n-trials 100 for the full study
        # No new trial after 4 minutes: with the first use's simulation (~2 min) and the trial that
        # is still running (the simulated T = 0.45 set has 2,700 rows; a big trial takes 2-3 min on
        # 2 busy cores), the default job ends within 10 minutes.
        timeout=240,
        seed=0,  # sampler and pruner: glasstune's defaults (TPE; prune the bottom quarter at each report)
    )
