"""glasstune: hyperparameter studies for glass-physics machine learning.

Importing the package is cheap: Optuna, MLflow, torch and scikit-learn load only when used.
"""

from glasstune.study.spec import Study

__version__ = "0.1.0"
__all__ = ["Study", "__version__"]
