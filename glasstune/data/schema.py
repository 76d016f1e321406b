"""The built-in column layout of a per-particle feature table (one row per temperature, frame, particle).

A lab's own table may name its columns otherwise and say which is which (``glasstune.data.columns``).

Features are the radial structure functions G_X(i; r, d) of SCIENCE.md, X in {A, B}, r = 0.0 ... 4.9
in steps of 0.1, d = 0.2: ``G_A_00 ... G_A_49`` then ``G_B_00 ... G_B_49``.
"""

from __future__ import annotations

N_RADII = 50
RADII = tuple(round(0.1 * k, 1) for k in range(N_RADII))
GAUSSIAN_WIDTH = 0.2
FEATURE_COLUMNS: tuple[str, ...] = tuple(
    f"G_{species}_{k:02d}" for species in ("A", "B") for k in range(N_RADII)
)
LABEL_COLUMN = "label"
LAB_TEMPERATURES = (0.45, 0.5, 0.6, 1.0, 1.2, 2.0)
"""The temperatures the lab trained and evaluated at."""
