"""Objectives: one package per model family (``mlp``, ``cnn``), each with its model, training and
figures, all talking to the study through a ``TrialContext`` (``context``). ``device`` decides
where and in which precision a family trains. Nothing heavy loads at import."""
