"""Export the best configurations: parameters, scores, seeds, versions, run ids, the command that
retrains them, and what makes that retraining exact: the data source's description and the
fingerprint of its rows, the objective's full settings, and the study file's checksum."""

from __future__ import annotations

import datetime as dt
import hashlib
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


def file_sha256(path: str | Path | None) -> str | None:
    """The checksum of a study file as it is now (None when it is not here)."""
    if not path or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def export_document(study: Any, *, top: int, storage_url: str, tracking_uri: str,
                    output: Path) -> dict[str, Any]:
    attrs = study.user_attrs
    trials = []
    ranked = ranked_trials(study, top)
    metric = attrs.get(StudyAttr.METRIC, "value")
    if metric == "auto":  # the objective chose by the data's task; its trials say which
        metric = ranked[0].user_attrs.get("metric", metric)
    for rank, trial in enumerate(ranked, start=1):
        trials.append({
            "rank": rank,
            "trial": trial.number,
            "value": trial.value,
            "params": trial.params,
            "metrics": {k: v for k, v in trial.user_attrs.items()
                        if isinstance(v, (int, float)) and k not in (TrialAttr.SEED, TrialAttr.TRIALS_TOGETHER)},
            "seed": trial.user_attrs.get(TrialAttr.SEED),
            "trials_together": trial.user_attrs.get(TrialAttr.TRIALS_TOGETHER, 1),
            "mlflow_run_id": trial.user_attrs.get(TrialAttr.RUN_ID),
            "retrain": f"glasstune retrain {output} --rank {rank}",
        })
    study_file = attrs.get(StudyAttr.STUDY_FILE)
    return {
        "study": study.study_name,
        "study_file": study_file,
        "study_file_sha256": file_sha256(study_file),
        "metric": metric,
        "direction": study.direction.name.lower(),
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "study_seed": attrs.get(StudyAttr.SEED),
        "data": {"source": attrs.get(StudyAttr.DATA), "fingerprint": attrs.get(StudyAttr.DATA_FINGERPRINT),
                 "provenance": attrs.get(StudyAttr.PROVENANCE)},
        "objective": attrs.get(StudyAttr.OBJECTIVE_SETTINGS),
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
