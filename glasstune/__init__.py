"""glasstune: hyperparameter studies for glass-physics machine learning.

The study-file API: ``Study``, ``TrialContext`` and ``default_pruner``. Importing the package is
cheap: each name loads on first use, and Optuna, MLflow, torch and scikit-learn only when a study runs.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
_HOMES = {"Study": "glasstune.study.spec", "default_pruner": "glasstune.study.spec",
          "TrialContext": "glasstune.objectives.context"}
__all__ = ["Study", "TrialContext", "default_pruner", "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'glasstune' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
