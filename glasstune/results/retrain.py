"""Retrain an exported configuration exactly as it was scored, then keep the model that was scored.

What the export says is what is used: the data source it describes (the smoke sample for a smoke
export, a lab's table with its column mapping), checked against the fingerprint of the rows the
study was tuned on; the objective of the study file, checked against the exported settings (the
smoke variant for a smoke export) and against the study file's checksum; the trial's parameters and
seed. Anything that differs is one line before any data are made or any network trained
(``allow_other_data`` retrains on other rows anyway, and the result says so).

Then, where the objective can (``fit_final``), the chosen configuration is trained on all rows with
the trial's own backend and saved as an MLflow model (its scaler inside, an input signature naming
the feature columns), with its training score beside the reproduced CV score.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Callable
from pathlib import Path
from typing import Any

from glasstune.errors import DataError, GlasstuneError
from glasstune.objectives.context import FolderSink, TrialContext
from glasstune.results.export import file_sha256
from glasstune.stores.names import Tag, data_tags
from glasstune.study.loader import load_study_file
from glasstune.study.spec import describe_objective

EXAMPLE_ROWS = 5

Status = Callable[[str], None]


def check_export(document: dict[str, Any], rank: int, source: str) -> dict[str, Any]:
    """The exported trial at ``rank``, after checking every key retraining reads: a hand-edited or
    older export is one line naming the key, before anything is loaded."""
    def need(path: str, kind: type | tuple[type, ...], what: str) -> None:
        value: Any = document
        *parents, last = path.split(".")
        for key in parents:
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, dict) or last not in value:
            raise GlasstuneError(f"{source}: key {path!r} is missing (an export of an older glasstune, or edited by "
                                 f"hand); export the study again with glasstune export")
        value = value[last]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise GlasstuneError(f"{source}: {path!r} should be {what}, got {value!r}; export the study again")

    nothing = type(None)
    for path, kind, what in (("study", str, "a study name"), ("study_file", str, "a path"),
                             ("study_file_sha256", (str, nothing), "a checksum"), ("data.source", dict, "a mapping"),
                             ("data.source.name", str, "a name"), ("data.fingerprint", (str, nothing), "a checksum"),
                             ("objective", dict, "a mapping"), ("objective.class", str, "a class name")):
        need(path, kind, what)
    trials = document["trials"]
    if not isinstance(trials, list) or not 1 <= rank <= len(trials):
        count = len(trials) if isinstance(trials, list) else 0
        raise GlasstuneError(f"--rank {rank}: the export holds ranks 1 to {count}")
    entry = trials[rank - 1]
    if not isinstance(entry, dict):
        raise GlasstuneError(f"{source}: trials[{rank - 1}] should be a mapping; export the study again")
    for key, kind, what in (("params", dict, "a mapping of parameters"), ("seed", int, "a whole number"),
                            ("value", numbers.Real, "a number"), ("trial", int, "a trial number")):
        value = entry.get(key)
        if value is None:
            raise GlasstuneError(f"{source}: key 'trials[{rank - 1}].{key}' is missing; export the study again")
        if not isinstance(value, kind) or isinstance(value, bool):
            raise GlasstuneError(f"{source}: 'trials[{rank - 1}].{key}' should be {what}, got {value!r}; "
                                 f"export the study again")
    return entry


def _plain(value: Any) -> Any:
    """Settings as they compare after a trip through YAML."""
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def _first_difference(recorded: dict[str, Any], current: dict[str, Any]) -> str:
    for key in sorted(set(recorded) | set(current)):
        if recorded.get(key) != current.get(key):
            return f"{key}: exported {recorded.get(key)!r}, now {current.get(key)!r}"
    return ""


def _study_objective(spec: Any, settings: dict[str, Any]) -> tuple[Any, bool]:
    """The objective of the study file (or its smoke variant) whose settings are the exported ones."""
    recorded = _plain(settings)
    candidates = [(spec.objective, False)]
    if callable(getattr(spec.objective, "smoke", None)):
        candidates.append((spec.objective.smoke(), True))
    for objective, smoke in candidates:
        if _plain(describe_objective(objective)) == recorded:
            return objective, smoke
    difference = _first_difference(recorded, _plain(describe_objective(spec.objective)))
    raise GlasstuneError(f"{spec.source_file}: its objective is not the exported one ({difference}); restore the "
                         f"study file as it was exported, or export the study again")


def _data_source(spec: Any, description: dict[str, Any], smoke: bool) -> Any:
    """The data source the export describes: the study file's own (or its smoke sample) when it is
    the same, else one made from the description (a built-in set, a lab's table file)."""
    from glasstune.data.sources import describe, from_description

    recorded = _plain(description)
    candidates = [spec.data]
    if smoke and callable(getattr(spec.data, "smoke", None)):
        candidates.insert(0, spec.data.smoke())
    for source in candidates:
        current = _plain(describe(source))
        if "class" not in recorded:  # described before sources named their class
            current.pop("class", None)
        if current == recorded:
            return source
    return from_description(description)


def retrain(document: dict[str, Any], rank: int, out_dir: Path, *, source: str = "the export",
            allow_other_data: bool = False, tracking_uri: str | None = None, register: str | None = None,
            on_status: Status | None = None) -> dict[str, Any]:
    """Retrain trial ``rank`` of an export into ``out_dir``; returns what was reproduced and saved."""
    import optuna

    status = on_status or (lambda text: None)
    entry = check_export(document, rank, source)
    study_file = document["study_file"]
    if not Path(study_file).is_file():
        raise GlasstuneError(f"the study file {study_file!r} named in the export is not here; run from the project "
                             f"folder")
    if document["study_file_sha256"] is None:
        raise GlasstuneError(f"{source}: the study file was not there when the study was exported, so nothing says "
                             f"{study_file} is the one it ran; export the study again from its project folder")
    if file_sha256(study_file) != document["study_file_sha256"]:
        raise GlasstuneError(f"{study_file} has changed since the export (its checksum differs); restore it as it "
                             f"was exported (e.g. with git), or export the study again")
    model_dir = out_dir / "model"
    if model_dir.exists() and not (model_dir / "MLmodel").exists():
        raise GlasstuneError(f"{model_dir}: exists and is not a saved model; choose another --out")
    spec = load_study_file(study_file)
    objective, smoke = _study_objective(spec, document["objective"])
    data_source = _data_source(spec, document["data"]["source"], smoke)
    status(f"loading {getattr(data_source, 'name', 'the data')}")
    data = data_source.load()
    check_data = getattr(objective, "check_data", None)
    if callable(check_data):
        check_data(data)
    recorded_fingerprint = document["data"]["fingerprint"]
    fingerprint = data.fingerprint() if callable(getattr(data, "fingerprint", None)) else None
    other_data = recorded_fingerprint is None or fingerprint != recorded_fingerprint
    if recorded_fingerprint is None and not allow_other_data:
        raise DataError(f"study {document['study']!r} recorded no fingerprint of its data (made by an older "
                        f"glasstune), so these rows cannot be checked; pass --allow-other-data to retrain unchecked")
    if other_data and not allow_other_data:
        raise DataError(f"{getattr(data_source, 'name', 'the data')}: these rows are not the ones study "
                        f"{document['study']!r} was tuned on (fingerprint {fingerprint}, exported "
                        f"{recorded_fingerprint}); retrain on the study's data, or pass --allow-other-data to "
                        f"retrain on these anyway")
    out_dir.mkdir(parents=True, exist_ok=True)
    seed = int(entry["seed"])
    ctx = TrialContext(trial=optuna.trial.FixedTrial(entry["params"]), data=data, seed=seed,
                       workdir=out_dir, checkpoint_dir=out_dir / "checkpoints", sink=FolderSink(),
                       on_status=lambda text: status(f"cross-validation: {text}"))
    value = float(objective(ctx))
    result: dict[str, Any] = {
        "study": document["study"], "trial": entry["trial"], "value": value, "recorded_value": float(entry["value"]),
        "metric": document.get("metric", "value"), "smoke": smoke, "data": getattr(data_source, "name", None),
        "fingerprint": fingerprint, "recorded_fingerprint": recorded_fingerprint, "other_data": other_data,
        "out_dir": str(out_dir), "trials_together": int(entry.get("trials_together", 1))}
    fit_final = getattr(objective, "fit_final", None)
    search_space = getattr(objective, "search_space", None)
    if callable(fit_final) and callable(search_space):
        config = search_space(optuna.trial.FixedTrial(entry["params"]))
        final = fit_final(config, data, seed, on_status=status)
        result.update(_keep_model(final, data, document, entry, result, out_dir, tracking_uri, register, status))
    (out_dir / "retrain.json").write_text(json.dumps(result, indent=2, default=str))
    return result


def _keep_model(final: Any, data: Any, document: dict[str, Any], entry: dict[str, Any], result: dict[str, Any],
                out_dir: Path, tracking_uri: str | None, register: str | None, status: Status) -> dict[str, Any]:
    """Score the final model on its training rows, save it as an MLflow model, log (and register) it."""
    import numpy as np
    import pandas as pd

    from glasstune.objectives.mlp.scoring import training_scores
    from glasstune.stores import models

    status("final model: scoring it on its training rows")
    X = data.X
    train = training_scores(final.predict_output(X), data.y, final.task)
    example = pd.DataFrame(X[:EXAMPLE_ROWS].astype(np.float64), columns=list(final.features))
    metadata = {"study": document["study"], "trial": entry["trial"], "params": entry["params"], "seed": entry["seed"],
                "task": final.task, "backend": final.backend, "features": list(final.features),
                "classes": list(final.classes) if final.classes is not None else None,
                "data": result["data"], "data_fingerprint": result["fingerprint"],
                "study_data_fingerprint": result["recorded_fingerprint"], "cv_metric": result["metric"],
                "cv_score": result["value"], "rows": len(data), **train}
    status("saving the model")
    folder = models.save_model(final, out_dir / "model", example, {"glasstune": metadata})
    kept: dict[str, Any] = {"backend": final.backend, "task": final.task, "rows": len(data), "train_scores": train,
                            "model": str(folder)}
    if tracking_uri:
        status("logging the model to MLflow" + (f" and registering it as {register}" if register else ""))
        provenance = getattr(data, "provenance", {})
        tags = {**data_tags(provenance), Tag.STUDY: document["study"], Tag.TRIAL_NUMBER: str(entry["trial"]),
                Tag.SEED: str(entry["seed"])}
        metrics = {"cv_score": result["value"], "recorded_cv_score": result["recorded_value"], **train}
        kept["mlflow"] = models.log_model(
            final, example, tracking_uri=tracking_uri, experiment=document["study"],
            run_name=f"model-trial-{int(entry['trial']):03d}", tags=tags, params=entry["params"], metrics=metrics,
            metadata={"glasstune": metadata}, register=register)
    return kept
