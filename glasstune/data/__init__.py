"""Data sets: feature tables, built-in sources (by name or function), a lab's own tables, validation,
provenance.

The names below load on first use, so ``glasstune --help`` (which imports ``glasstune.cli.data``)
does not pay for pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "builtin": "glasstune.data.catalog", "builtin_names": "glasstune.data.catalog",
    "images": "glasstune.data.catalog", "softness": "glasstune.data.catalog",
    "table_file": "glasstune.data.sources", "TableFile": "glasstune.data.sources",
    "DataSource": "glasstune.data.sources",
    "FeatureTable": "glasstune.data.table", "load_table": "glasstune.data.table",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'glasstune.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
