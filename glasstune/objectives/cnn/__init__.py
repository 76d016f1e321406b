"""Problem B: the lab's glass/liquid CNN (``network``), its training loop and protocol (``loop``,
``images``, ``augment``, ``schedules``, ``checkpoints``, ``collapse``), the objective that tunes it
(``objective``) and its figures (``plots``). Importing the package does not import torch."""

from glasstune.objectives.cnn.objective import CNNObjective, continue_training, default_search_space

__all__ = ["CNNObjective", "continue_training", "default_search_space"]
