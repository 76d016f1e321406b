"""MLP study of problem A at T = 0.6 (shared settings in studies/_mlp.py)."""

from _mlp import mlp_study

STUDY = mlp_study(temperature=0.6)
