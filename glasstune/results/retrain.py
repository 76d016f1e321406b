"""Retrain an exported configuration: the same objective, parameters, data and seed as the trial,
then (where the objective can) the final model on all rows."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from glasstune.errors import GlasstuneError
from glasstune.objectives.context import FolderSink, TrialContext
from glasstune.study.loader import load_study_file


def retrain(document: dict[str, Any], rank: int, out_dir: Path) -> dict[str, Any]:
    import optuna

    trials = document["trials"]
    if not 1 <= rank <= len(trials):
        raise GlasstuneError(f"--rank {rank}: the export holds ranks 1 to {len(trials)}")
    entry = trials[rank - 1]
    study_file = document.get("study_file")
    if not study_file or not Path(study_file).exists():
        raise GlasstuneError(
            f"the study file {study_file!r} named in the export is not here; run from the project folder"
        )
    spec = load_study_file(study_file)
    data = spec.data.load()
    out_dir.mkdir(parents=True, exist_ok=True)
    seed = int(entry["seed"])
    ctx = TrialContext(trial=optuna.trial.FixedTrial(entry["params"]), data=data, seed=seed,
                       workdir=out_dir, checkpoint_dir=out_dir / "checkpoints", sink=FolderSink())
    value = float(spec.objective(ctx))
    result: dict[str, Any] = {"trial": entry["trial"], "value": value, "recorded_value": entry["value"],
                              "out_dir": str(out_dir)}
    fit_final = getattr(spec.objective, "fit_final", None)
    search_space = getattr(spec.objective, "search_space", None)
    if callable(fit_final) and callable(search_space):
        config = search_space(optuna.trial.FixedTrial(entry["params"]))
        model = fit_final(config, data, seed)
        model_path = out_dir / "model.pkl"
        model_path.write_bytes(pickle.dumps(model))
        result["model"] = str(model_path)
    return result
