"""Export the best configurations: parameters, scores, data provenance, seeds, versions, run ids,
and the command that retrains them."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
from pathlib import Path
from typing import Any

from glasstune.errors import GlasstuneError
from glasstune.results.trials import ranked_trials
from glasstune.stores.names import StudyAttr, TrialAttr
from glasstune.urls import redact

PACKAGES = ("glasstune", "optuna", "mlflow", "scikit-learn", "torch", "numpy", "pandas")


def versions() -> dict[str, str]:
    """Installed versions, read from package metadata (no heavy import)."""
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def export_document(study: Any, *, top: int, storage_url: str, tracking_uri: str,
                    output: Path) -> dict[str, Any]:
    attrs = study.user_attrs
    trials = []
    for rank, trial in enumerate(ranked_trials(study, top), start=1):
        trials.append({
            "rank": rank,
            "trial": trial.number,
            "value": trial.value,
            "params": trial.params,
            "metrics": {k: v for k, v in trial.user_attrs.items()
                        if isinstance(v, (int, float)) and k != "seed"},
            "seed": trial.user_attrs.get(TrialAttr.SEED),
            "mlflow_run_id": trial.user_attrs.get(TrialAttr.RUN_ID),
            "retrain": f"glasstune retrain {output} --rank {rank}",
        })
    return {
        "study": study.study_name,
        "study_file": attrs.get(StudyAttr.STUDY_FILE),
        "metric": attrs.get(StudyAttr.METRIC, "value"),
        "direction": study.direction.name.lower(),
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "study_seed": attrs.get(StudyAttr.SEED),
        "data": {"source": attrs.get(StudyAttr.DATA), "provenance": attrs.get(StudyAttr.PROVENANCE)},
        "optuna_storage": redact(storage_url),
        "mlflow": {"tracking_uri": redact(tracking_uri),
                   "experiment_id": attrs.get(StudyAttr.EXPERIMENT),
                   "parent_run_id": attrs.get(StudyAttr.PARENT_RUN)},
        "versions": versions(),
        "trials": trials,
    }


def write_document(document: dict[str, Any], output: Path) -> None:
    """Write YAML or JSON by suffix; write to a temporary file first so a failure leaves nothing."""
    import yaml

    if output.suffix not in (".yaml", ".yml", ".json"):
        raise GlasstuneError(f"{output}: export to a .yaml, .yml or .json file")
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise GlasstuneError(f"{output}: folder {folder} does not exist; create it or choose another path")
    if not os.access(folder, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        raise GlasstuneError(f"{output}: not writable; choose another path with -o")
    text = (json.dumps(document, indent=2, default=str) if output.suffix == ".json"
            else yaml.safe_dump(json.loads(json.dumps(document, default=str)), sort_keys=False))
    temporary = output.with_name(output.name + ".partial")
    try:
        temporary.write_text(text)
        temporary.replace(output)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise GlasstuneError(f"{output}: cannot write ({error.strerror}); choose another path") from error


def read_document(path: Path) -> dict[str, Any]:
    import yaml

    if not path.exists():
        raise GlasstuneError(f"{path}: no such export file; make one with glasstune export STUDY -o {path}")
    try:
        document = yaml.safe_load(path.read_text())  # JSON is YAML too
    except yaml.YAMLError as error:
        raise GlasstuneError(f"{path}: not a valid export file ({error.__class__.__name__})") from error
    if not isinstance(document, dict) or not document.get("trials"):
        raise GlasstuneError(f"{path}: not a glasstune export (no 'trials' list)")
    return document
