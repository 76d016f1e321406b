"""Where things live by default, and the environment variables that move them."""

from __future__ import annotations

import os
from pathlib import Path

ENV_STORAGE = "GLASSTUNE_STORAGE"
ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
ENV_DATA_DIR = "GLASSTUNE_DATA_DIR"
ENV_SEED = "GLASSTUNE_SEED"
STORE_DIR = Path("mlruns")


def default_storage() -> str:
    """Optuna storage: ``$GLASSTUNE_STORAGE`` or an SQLite file in ./mlruns (heartbeats work on it).

    Absolute, because MLflow and SQLAlchemy cache engines by URL: a relative one would follow
    whichever folder used it first."""
    return os.environ.get(ENV_STORAGE) or f"sqlite:///{STORE_DIR.resolve() / 'optuna.db'}"


def default_tracking_uri() -> str:
    """MLflow store: ``$MLFLOW_TRACKING_URI`` or ./mlruns/mlflow.db (never the deprecated file store)."""
    return os.environ.get(ENV_TRACKING_URI) or f"sqlite:///{STORE_DIR.resolve() / 'mlflow.db'}"


def data_dir() -> Path:
    """Cache of built-in data sets: ``$GLASSTUNE_DATA_DIR`` or ~/.cache/glasstune/data."""
    configured = os.environ.get(ENV_DATA_DIR)
    if configured:
        return Path(configured).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "glasstune" / "data"


def sqlite_path(url: str) -> Path | None:
    """The file behind an ``sqlite:///`` URL, or None for other URLs."""
    prefix = "sqlite:///"
    return Path(url[len(prefix):]) if url.startswith(prefix) else None


def trial_checkpoint_dir(study_name: str, trial_number: int) -> Path:
    """Where a trial keeps its checkpoints (``glasstune continue`` reads them from here)."""
    return STORE_DIR / "checkpoints" / study_name / f"trial-{trial_number:04d}"
