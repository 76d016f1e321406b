"""The model a study's chosen configuration gives: trained on all rows with the trial's own backend,
its scaler inside, and it applies itself to a table by column name.

This is what ``glasstune retrain`` saves (as an MLflow model) and ``glasstune predict`` applies. The
torch backend's network is kept as numpy arrays (scaler, weights, biases), so the saved model needs
neither torch nor a device to predict; the sklearn backend's fitted pipeline is kept as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

PREDICTION_COLUMNS = {"binary": ("probability", "predicted"), "regression": ("prediction",)}
"""What ``predict_frame`` returns: P(the second class) and the predicted label; the value; for K
classes one ``p_<class>`` column per class and the predicted label."""


@dataclass
class FinalMLP:
    """A fitted MLP over named feature columns; ``classes`` are the label values in code order."""

    features: tuple[str, ...]
    task: str
    backend: str
    classes: tuple[Any, ...] | None = None
    parameters: dict[str, Any] | None = None
    """torch backend: ``mean``, ``scale``, ``weights``, ``biases`` as numpy arrays."""
    estimator: Any = None
    """sklearn backend: the fitted StandardScaler + MLPClassifier/MLPRegressor pipeline."""

    def predict_output(self, X: np.ndarray) -> np.ndarray:
        """P(the second class) (binary), the class probabilities (rows, K), or the predicted values."""
        X = np.asarray(X, dtype=np.float32)
        if self.estimator is not None:
            if self.task == "regression":
                return np.asarray(self.estimator.predict(X), dtype=np.float64)
            probability = np.asarray(self.estimator.predict_proba(X), dtype=np.float64)
            return probability[:, 1] if self.task == "binary" else probability
        return self._forward(X)

    def _forward(self, X: np.ndarray) -> np.ndarray:
        from scipy.special import expit, softmax

        p = self.parameters or {}
        h = (X - p["mean"]) / p["scale"]
        layers = list(zip(p["weights"], p["biases"], strict=True))
        for index, (weight, bias) in enumerate(layers):
            h = h @ weight + bias
            if index < len(layers) - 1:
                h = np.maximum(h, 0)
        h = h.astype(np.float64)
        if self.task == "multiclass":
            return softmax(h, axis=1)
        return h[:, 0] if self.task == "regression" else expit(h[:, 0])

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-row predictions for a table that has this model's feature columns (others are ignored)."""
        missing = [name for name in self.features if name not in frame.columns]
        if missing:
            raise ValueError(f"the table lacks the model's feature column(s) {', '.join(missing[:3])}"
                             f"{f' and {len(missing) - 3} more' if len(missing) > 3 else ''}")
        output = self.predict_output(frame.loc[:, list(self.features)].to_numpy(dtype=np.float32))
        if self.task == "regression":
            return pd.DataFrame({"prediction": output}, index=frame.index)
        if self.task == "binary":
            predicted = _labels(self.classes, (output > 0.5).astype(int), frame.index)
            return pd.DataFrame({"probability": output, "predicted": predicted}, index=frame.index)
        columns = {f"p_{value}": output[:, code] for code, value in enumerate(self.classes)}
        predicted = _labels(self.classes, output.argmax(axis=1), frame.index)
        return pd.DataFrame({**columns, "predicted": predicted}, index=frame.index)

    def output_columns(self) -> tuple[str, ...]:
        if self.task == "multiclass":
            return (*(f"p_{value}" for value in self.classes or ()), "predicted")
        return PREDICTION_COLUMNS[self.task]


def _labels(classes: Any, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """Predicted labels in the label's own values and type (strings stay strings, numbers numbers)."""
    return pd.Series([classes[code] for code in codes], index=index).infer_objects()
