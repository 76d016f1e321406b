"""A trained model as an MLflow model: saved to a folder, logged to a run, registered by name, loaded.

Any object with ``predict_frame(DataFrame) -> DataFrame`` (``glasstune.objectives.mlp.final.FinalMLP``)
becomes an MLflow pyfunc model whose input signature names its feature columns (as doubles; float32
columns are accepted). ``mlflow.pyfunc.load_model(PATH_OR_URI).predict(frame)`` then gives exactly
what ``glasstune predict`` writes. The model's code is glasstune's: it loads where glasstune is
installed.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from glasstune.errors import StoreError, one_line
from glasstune.stores.names import Tag
from glasstune.urls import redact

MODEL_ROLE = "model"
"""``Tag.ROLE`` of the run that holds a retrained model."""
ARTIFACT_NAME = "model"
REQUIREMENTS = ("numpy", "pandas", "scipy", "scikit-learn", "cloudpickle")
"""What the model's code imports, pinned to the versions here (given, so MLflow need not guess them by
importing the model in a subprocess, which takes many seconds)."""


class FramePredictor(mlflow.pyfunc.PythonModel):
    """The MLflow face of a glasstune model: a table in, one row of predictions per row out."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """MLflow reads these type hints: a DataFrame in, a DataFrame out."""
        return self.model.predict_frame(model_input)


def _requirements() -> list[str]:
    pinned = []
    for package in REQUIREMENTS:
        try:
            pinned.append(f"{package}=={importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pinned.append(package)
    return pinned


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow draws download bars and warns about pickling and integer columns on stderr; the command
    says what matters itself (``--debug`` lets MLflow talk)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logger = logging.getLogger("mlflow")
    level = logger.level
    if os.environ.get("GLASSTUNE_DEBUG") != "1":
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            if os.environ.get("GLASSTUNE_DEBUG") != "1":
                warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _signature(model: Any, example: pd.DataFrame) -> Any:
    from mlflow.models import infer_signature

    return infer_signature(example, model.predict_frame(example))


def save_model(model: Any, folder: Path, example: pd.DataFrame, metadata: dict[str, Any]) -> Path:
    """Write ``model`` as an MLflow model into ``folder``; ``example`` holds a few rows of its feature
    columns (as float64) for the signature and the input example. The model is written beside the
    folder and renamed into place; a model saved there before is replaced, anything else is refused."""
    import shutil

    if folder.exists() and not (folder / "MLmodel").exists():
        raise StoreError(f"{folder}: exists and is not a saved model; choose another --out")
    partial = folder.with_name(f".{folder.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with _quiet():
            mlflow.pyfunc.save_model(str(partial), python_model=FramePredictor(model),
                                     signature=_signature(model, example), input_example=example.head(3),
                                     pip_requirements=_requirements(), metadata=metadata)
        if folder.exists():
            shutil.rmtree(folder)
        partial.rename(folder)
    except OSError as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise StoreError(f"{folder}: cannot write the model ({error.strerror}); choose another --out") from error
    return folder


def log_model(model: Any, example: pd.DataFrame, *, tracking_uri: str, experiment: str, run_name: str,
              tags: dict[str, str], params: dict[str, Any], metrics: dict[str, float], metadata: dict[str, Any],
              register: str | None = None) -> dict[str, Any]:
    """A finished run in ``experiment`` holding the model, its scores and parameters; with
    ``register``, a new version of that registered model. Returns the run id, model URI and version."""
    from mlflow.entities import Metric, Param

    from glasstune.stores.tracking import Tracker

    tracker = Tracker.open(tracking_uri)
    try:
        run = tracker.client.create_run(tracker.experiment_id(experiment), run_name=run_name,
                                        tags={Tag.ROLE: MODEL_ROLE, **tags})
        run_id = run.info.run_id
        tracker.client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                                 metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items() if v == v])
        mlflow.set_tracking_uri(tracking_uri)
        with _quiet(), mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(name=ARTIFACT_NAME, python_model=FramePredictor(model),
                                           signature=_signature(model, example), input_example=example.head(3),
                                           pip_requirements=_requirements(), metadata=metadata,
                                           registered_model_name=register)
    except StoreError:
        raise
    except Exception as error:
        raise StoreError(f"MLflow store {redact(tracking_uri)}: the model could not be logged: {one_line(error)}; "
                         f"the model folder is saved all the same") from error
    return {"run_id": run_id, "model_uri": info.model_uri, "runs_uri": f"runs:/{run_id}/{ARTIFACT_NAME}",
            "registered_version": getattr(info, "registered_model_version", None)}


def load_model(location: str, *, tracking_uri: str | None = None) -> Any:
    """A saved model folder, or an MLflow URI (``models:/NAME/VERSION``, ``runs:/ID/model``), as an
    object with ``predict(frame)``; ``metadata`` says what it was trained on."""
    if "://" not in location and not location.startswith(("models:/", "runs:/")):
        if not (Path(location) / "MLmodel").exists():
            raise StoreError(f"{location}: not a saved model (no MLmodel file); give the folder glasstune retrain "
                             f"wrote (OUT/model) or an MLflow URI such as models:/NAME/1")
    elif tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    try:
        with _quiet():
            return mlflow.pyfunc.load_model(location)
    except Exception as error:
        raise StoreError(f"{location}: cannot load the model: {one_line(error)}") from error


def model_metadata(loaded: Any) -> dict[str, Any]:
    """The metadata a glasstune model was saved with (empty for any other model)."""
    metadata = getattr(loaded, "metadata", None)
    return dict(getattr(metadata, "metadata", None) or {})
