"""Kob–Andersen data made here: OpenMM simulation, Phop labels, structure features, images.

Modules: ``simulation`` (OpenMM runs), ``trajectory`` (readers), ``phop`` (labels), ``structure``
(features), ``featurize`` (trajectory -> table), ``render`` (2D images), ``datasets`` (cached
built-in sources). Only the sources are re-exported; importing this package loads no OpenMM.
"""

from glasstune.data.ka.datasets import SimulatedImages, SimulatedSoftness

__all__ = ["SimulatedImages", "SimulatedSoftness"]
