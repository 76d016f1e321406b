"""Built-in data sets by name, so a study file can say ``data="ka-softness-T0.45"`` or
``data=softness(0.45)`` and never point at a file.

Simulated sets (OpenMM, ``glasstune.data.ka.datasets``) are made on first use and cached in
``$GLASSTUNE_DATA_DIR`` (default ``~/.cache/glasstune/data``); later uses load the cache. A softness
set holds out the last quarter of its frames by default (``glasstune.data.holdout``): a study tunes
on the rest, and ``glasstune transfer`` scores on frames no tuning has seen. The
statistical stand-ins (``glasstune.data.sources.SyntheticSoftness``,
``glasstune.data.image_sets.SyntheticImages``) have names too, for tests and quick demos; they are
tagged synthetic everywhere, and every source's ``smoke()`` is a tiny synthetic set, so
``glasstune run --smoke`` never simulates.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, fields
from typing import Any

from glasstune.data.holdout import HELDOUT_FRACTION, HoldsOutFrames, check_fraction
from glasstune.data.image_sets import SyntheticImages
from glasstune.data.ka.datasets import SimulatedImages, SimulatedSoftness
from glasstune.data.schema import LAB_TEMPERATURES
from glasstune.data.sources import SyntheticSoftness
from glasstune.errors import DataError

SOURCES = ("simulated", "synthetic")
IMAGES = "ka-glass-liquid"
SYNTHETIC_IMAGES = "synthetic-glass-liquid"
_SOFTNESS_NAME = re.compile(r"^(ka|synthetic)-softness-t(\d+(?:\.\d*)?)$")


def softness_name(temperature: float, *, source: str = "simulated") -> str:
    """The registry name of the softness set at one temperature, e.g. ``ka-softness-T0.45``."""
    prefix = "ka" if source == "simulated" else "synthetic"
    return f"{prefix}-softness-T{temperature:g}"


def builtin_names() -> list[str]:
    """Every name ``builtin`` knows, simulated sets first."""
    return [*(softness_name(t) for t in LAB_TEMPERATURES), IMAGES,
            *(softness_name(t, source="synthetic") for t in LAB_TEMPERATURES), SYNTHETIC_IMAGES]


def softness(temperature: float, *, source: str = "simulated", heldout: float = HELDOUT_FRACTION,
             **params: Any) -> SimulatedSoftness | SyntheticHeldOut:
    """The KA softness set at one temperature: 3D KA simulated with OpenMM and labelled by the lab's
    rule (the default), or ``source="synthetic"``, the statistical stand-in. ``params`` go to the
    source (e.g. ``n_particles=4096``, ``production=1000.0``, ``labels="quantiles"``,
    ``propensity_frames=4``, ``platform="cuda"``); all but ``platform`` are part of the cache key, so
    changing one makes a new set rather than reusing the old one. ``heldout``: the fraction of
    frames (the last ones in time) a study never tunes on, kept for ``glasstune transfer``; 0 tunes
    on every frame."""
    _check_source(source)
    if not isinstance(temperature, numbers.Real) or not math.isfinite(temperature) or temperature <= 0:
        raise DataError(f"softness({temperature!r}): the temperature must be a positive number "
                        f"(LJ units), e.g. softness(0.45)")
    kind = SimulatedSoftness if source == "simulated" else SyntheticHeldOut
    return kind(float(temperature), heldout=heldout, **_checked(kind, params, "softness"))


@dataclass(frozen=True)
class SyntheticHeldOut(HoldsOutFrames, SyntheticSoftness):
    """The synthetic stand-in with its last frames held out, as the simulated sets hold theirs."""

    heldout: float = HELDOUT_FRACTION

    def __post_init__(self) -> None:
        check_fraction(self.heldout)

    def load_all(self) -> Any:
        return SyntheticSoftness.load(self)

    def smoke(self) -> SyntheticHeldOut:
        small = SyntheticSoftness.smoke(self)
        return SyntheticHeldOut(small.temperature, small.n_frames, small.n_per_class, small.seed, self.heldout)


LAB_RULE_BELOW = 1.0
"""From here up no particle stays below Phop 0.05 for 10 tau: above the onset of glassy dynamics
(about T = 1 for KA) the lab's rule finds no quiet class (docs/science.md)."""


def labels_for(temperature: float) -> str:
    """The label rule the built-in studies ask for at a temperature: the lab's thresholds where they
    can label both classes (T < 1), the relative quantile rule above (flagged wherever it shows)."""
    return "thresholds" if temperature < LAB_RULE_BELOW else "quantiles"


def images(*, source: str = "simulated", **params: Any) -> SimulatedImages | SyntheticImages:
    """The glass/liquid image set: 2D KA cooling runs simulated with OpenMM and drawn as the lab's
    scatter plots (the default; 30 runs, 250 px), or ``source="synthetic"``, jammed packings with
    thermal noise. ``params`` go to the source (e.g. ``runs=60, size=48``; ``minimised=True`` draws
    every configuration energy-minimised, its inherent structure, so that thermal vibration cannot
    tell glass from liquid); all but ``platform`` key the cache."""
    _check_source(source)
    kind = SimulatedImages if source == "simulated" else SyntheticImages
    return kind(**_checked(kind, params, "images"))


def builtin(name: str) -> Any:
    """The data source a registry name stands for; an unknown name is one line listing the known."""
    key = str(name).strip().lower()
    if key == IMAGES:
        return images()
    if key == SYNTHETIC_IMAGES:
        return images(source="synthetic")
    match = _SOFTNESS_NAME.match(key)
    if match:
        temperature = float(match.group(2))
        for known in LAB_TEMPERATURES:
            if math.isclose(temperature, known):
                source = "simulated" if match.group(1) == "ka" else "synthetic"
                return softness(known, source=source)
    raise DataError(f"unknown data set {name!r}; built-in data sets are {', '.join(builtin_names())} "
                    f"(other temperatures: softness(T); your own file: table_file(PATH))")


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise DataError(f"unknown data source {source!r}; use {' or '.join(map(repr, SOURCES))}")


def _checked(kind: type, params: dict[str, Any], function: str) -> dict[str, Any]:
    """Refuse parameters the source does not have, naming the ones it does."""
    allowed = [field.name for field in fields(kind) if field.name not in ("temperature", "heldout")]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise DataError(f"{function}(): unknown parameter(s) {', '.join(unknown)} for {kind.__name__}; "
                        f"it takes {', '.join(allowed)}")
    return params
