"""Problem A: a cross-validated MLP on per-particle structure features (``objective``), trained
with all folds as one batched network (``model``), and its figures (``plots``)."""

from glasstune.objectives.mlp.objective import CrossValidatedMLP, lab_search_space

__all__ = ["CrossValidatedMLP", "lab_search_space"]
