"""Data sets: feature tables, built-in sources, validation, provenance."""

from glasstune.data.sources import softness, table_file
from glasstune.data.table import FeatureTable, load_table

__all__ = ["FeatureTable", "load_table", "softness", "table_file"]
