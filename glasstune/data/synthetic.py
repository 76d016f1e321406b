"""A fast statistical stand-in for the KA softness data, for tests and ``--smoke``.

Each particle has a latent softness S (a per-frame part plus a per-particle part). S lowers and
broadens its first neighbour shell; its radial structure functions are a smooth KA-like profile plus
noise correlated along r. Labels follow an Arrhenius-like law: the log-odds of rearranging grow as
S * barrier / T, so structure predicts rearrangement well when cold and barely when hot. Classes are
balanced per frame, as the lab selected "rearranging" vs "quiet" particles. Everything it makes is
tagged synthetic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from glasstune.data.schema import FEATURE_COLUMNS, GAUSSIAN_WIDTH, LAB_TEMPERATURES, LABEL_COLUMN, RADII

GENERATOR = "glasstune.synthetic.softness"
GENERATOR_VERSION = 1
BARRIER = 0.9
"""Softness-to-log-odds scale at T = 1: tuned so that a linear model scores ~0.75 balanced accuracy
at T = 0.45 and ~0.55 at T = 2.0, close to the lab's measured trend (SCIENCE.md)."""

_DENSITY = {"A": 0.96, "B": 0.24}
_PEAKS = {"A": ((1.0, 2.2, 0.09), (1.95, 0.45, 0.18), (2.95, 0.2, 0.25)),
          "B": ((0.82, 1.7, 0.08), (1.85, 0.4, 0.18), (2.9, 0.18, 0.25))}


def _profile(species: str, temperature: float, softness: np.ndarray) -> np.ndarray:
    """Expected G_X(r) for each particle: rho 4 pi r^2 g(r) smeared by the Gaussian width."""
    r = np.asarray(RADII)[None, :]
    s = softness[:, None]
    g = np.ones_like(r * s)
    core = peaks = _PEAKS[species]
    first_r, first_h, first_w = peaks[0]
    thermal = np.sqrt(temperature / 0.45)
    height = first_h * (1.0 - 0.12 * s) / thermal**0.3
    width = first_w * thermal**0.35 * (1.0 + 0.08 * s)
    g = g + (height - 1.0) * np.exp(-((r - first_r - 0.02 * s) ** 2) / (2 * width**2))
    for centre, h, w in core[1:]:
        g = g + (h - 0.0) * np.exp(-((r - centre) ** 2) / (2 * (w * thermal**0.2) ** 2))
    g = g * (1.0 / (1.0 + np.exp(-(r - 0.8 * first_r) / 0.03)))
    return _DENSITY[species] * 4 * np.pi * r**2 * g * np.sqrt(2 * np.pi) * GAUSSIAN_WIDTH


def _correlated_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """White noise smoothed along r: adjacent radii correlate at about 0.6, as measured on KA."""
    kernel = np.exp(-0.5 * (np.arange(-3, 4) / 0.8) ** 2)
    kernel /= np.sqrt((kernel**2).sum())
    white = rng.standard_normal((shape[0], shape[1] + 6))
    return np.stack([np.convolve(row, kernel, mode="valid") for row in white])


def make_softness_table(
    temperatures: tuple[float, ...] = LAB_TEMPERATURES,
    *,
    n_frames: int = 12,
    n_per_class: int = 50,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict]:
    """Rows of (temperature, frame, particle) with 100 features and balanced labels."""
    rng = np.random.default_rng(seed)
    parts = []
    for temperature in temperatures:
        beta = BARRIER / temperature
        for frame in range(n_frames):
            pool = 12 * n_per_class
            softness = rng.normal(0.0, 0.35) + rng.standard_normal(pool)
            p_rearrange = 1.0 / (1.0 + np.exp(-beta * softness))
            chosen_1 = rng.choice(pool, n_per_class, replace=False, p=p_rearrange / p_rearrange.sum())
            quiet = np.setdiff1d(np.arange(pool), chosen_1)
            weights_0 = 1.0 - p_rearrange[quiet]
            chosen_0 = rng.choice(quiet, n_per_class, replace=False, p=weights_0 / weights_0.sum())
            index = np.concatenate([chosen_1, chosen_0])
            s = softness[index]
            features = []
            for species in ("A", "B"):
                mean = _profile(species, temperature, s)
                noise = _correlated_noise(rng, mean.shape) * (0.35 * np.sqrt(mean + 0.05))
                features.append(np.clip(mean + noise, 0.0, None))
            block = pd.DataFrame(np.hstack(features).astype(np.float32), columns=list(FEATURE_COLUMNS))
            block.insert(0, "species", np.zeros(len(index), dtype=np.int8))
            block.insert(0, "particle", rng.choice(4096, len(index), replace=False))
            block.insert(0, "frame", frame)
            block.insert(0, "temperature", float(temperature))
            block[LABEL_COLUMN] = np.r_[np.ones(n_per_class), np.zeros(n_per_class)].astype(np.int8)
            parts.append(block)
    provenance = {
        "name": "ka-softness-synthetic",
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "synthetic": True,
        "seed": seed,
        "temperatures": list(temperatures),
        "n_frames": n_frames,
        "n_per_class": n_per_class,
        "barrier": BARRIER,
    }
    return pd.concat(parts, ignore_index=True), provenance
