"""Apply a saved model to a new table: one row of predictions per row (P(label) per particle, the
softness field a physicist maps onto a configuration), with the table's other columns beside them.

The table is read as ``table_file`` reads it (Parquet file or folder, CSV, NPZ, NPY) and its
feature columns are named the same way (a list, a glob, a range; default the model's own feature
names). Labels are not needed. The predictions come from the MLflow model itself, so they are what
``mlflow.pyfunc.load_model(MODEL).predict(table)`` returns.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from glasstune.errors import GlasstuneError

OUTPUT_SUFFIXES = (".parquet", ".csv")


def predict(model: str, data: Path, output: Path, *, features: Any = None,
            tracking_uri: str | None = None) -> dict[str, Any]:
    """Write ``model``'s predictions for every row of ``data`` to ``output``; returns a summary."""
    import numpy as np
    import pandas as pd

    from glasstune.data.columns import feature_matrix, resolve_features
    from glasstune.data.readers import read_table_file
    from glasstune.stores.models import load_model, model_metadata

    if output.suffix not in OUTPUT_SUFFIXES:
        raise GlasstuneError(f"{output}: write predictions to a .parquet or .csv file")
    if not output.parent.is_dir():
        raise GlasstuneError(f"{output}: folder {output.parent} does not exist; create it or choose another -o")
    loaded = load_model(model, tracking_uri=tracking_uri)
    metadata = model_metadata(loaded).get("glasstune") or {}
    trained_on = [str(name) for name in metadata.get("features") or []]
    if not trained_on:
        raise GlasstuneError(f"{model}: not a model saved by glasstune retrain (it names no feature columns)")
    frame = read_table_file(data)
    source = str(data)
    columns = resolve_features(frame.columns, features if features is not None else trained_on, source)
    if len(columns) != len(trained_on):
        raise GlasstuneError(f"{source}: --features names {len(columns)} column(s); the model was trained on "
                             f"{len(trained_on)} ({trained_on[0]} ... {trained_on[-1]})")
    values = feature_matrix(frame, columns, source)
    inputs = pd.DataFrame(values.astype(np.float64), columns=trained_on)  # the model's own names, in its order
    predictions = loaded.predict(inputs).reset_index(drop=True)
    kept = frame.drop(columns=list(columns)).reset_index(drop=True)
    clash = [name for name in predictions.columns if name in kept.columns]
    if clash:
        raise GlasstuneError(f"{source}: has a column {clash[0]!r}, which the predictions would overwrite; rename it")
    result = pd.concat([kept, predictions], axis=1)
    _write(result, output)
    return {"rows": len(result), "columns": list(predictions.columns), "task": metadata.get("task"),
            "output": str(output), "features": len(columns)}


def _write(frame: Any, output: Path) -> None:
    """Write through a temporary name, so a failure leaves no half-written file."""
    temporary = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        if output.suffix == ".parquet":
            frame.to_parquet(temporary, index=False)
        else:
            frame.to_csv(temporary, index=False)
        temporary.replace(output)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise GlasstuneError(f"{output}: cannot write ({error.strerror}); choose another path with -o") from error
