"""Settings shared by the six MLP studies of problem A (one per temperature): edit them here once.

The search space is the lab's hand grid made continuous: hidden layers 2-10, width 10-100,
training epochs log-spaced over 10^2.5-10^3.5, solver, initial learning rate and L2 alpha.
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
        data=softness(temperature),
        objective=CrossValidatedMLP(search_space, n_folds=5),
        n_trials=12,  # the default job fits in 10 minutes on 2 cores; --n-trials 100 for the full study
        timeout=300,  # and starts no new trial after 5 minutes (a long trial may take 4 more)
        seed=0,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1),
    )
