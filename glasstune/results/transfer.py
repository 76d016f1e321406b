"""The temperature-transfer matrix: train one network per temperature, score it on every temperature.

Rows are the temperature a network was trained at, columns the temperature it is evaluated at. No
network is ever scored on rows it was trained on: each temperature's table is split once per
replicate into a training part and a held-out part, by whole frames (particles of one frame are
correlated), and every score comes from a held-out part. A linear SVM (C = 0.01, standardised
features, the lab's earlier method) and the chance level are computed on the same splits.
"""

from __future__ import annotations

import fnmatch
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glasstune.errors import GlasstuneError
from glasstune.stores.names import StudyAttr

METRICS = ("balanced_accuracy", "accuracy", "roc_auc")
HELDOUT_FRACTION = 1 / 3
SVM_C = 0.01


@dataclass
class Network:
    """One trained-at temperature: its data, and the configuration and seed that train it."""

    study: str
    temperature: float
    table: Any
    config: dict[str, Any]
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    epoch_cap: int | None = None


@dataclass
class TransferResult:
    """Per-replicate scores in long form; matrices and baselines are views of them."""

    temperatures: list[float]
    scores: Any  # DataFrame: replicate, trained_at, evaluated_at, metrics
    baseline: Any  # DataFrame: replicate, temperature, svm metrics, chance accuracy
    splits: Any  # DataFrame: replicate, temperature, frame, role (train / heldout)
    models: dict[tuple[float, int], Any]
    networks: list[Network]
    provenance: dict[str, Any]

    def matrix(self, metric: str, statistic: str = "mean") -> Any:
        """rows = trained at, columns = evaluated at; mean or std over replicates."""
        grouped = self.scores.groupby(["trained_at", "evaluated_at"])[metric]
        values = grouped.mean() if statistic == "mean" else grouped.std(ddof=0)
        return values.unstack("evaluated_at").reindex(index=self.temperatures, columns=self.temperatures)

    def baseline_summary(self) -> Any:
        """Mean and std over replicates of the SVM scores and the chance level, per temperature."""
        summary = self.baseline.drop(columns="replicate").groupby("temperature").agg(["mean", "std"])
        summary.columns = [f"{name}_{stat}" for name, stat in summary.columns]
        return summary.reindex(self.temperatures)


def match_studies(patterns: list[str], known: list[str]) -> list[str]:
    """Names or glob patterns (``mlp_*``) against the storage's study names, in the order given."""
    chosen: list[str] = []
    for pattern in patterns:
        hits = fnmatch.filter(known, pattern) if any(c in pattern for c in "*?[") else (
            [pattern] if pattern in known else [])
        if not hits:
            shown = ", ".join(known[:8]) or "none"
            raise GlasstuneError(f"no study matches {pattern!r}; known studies: {shown}")
        chosen.extend(name for name in sorted(hits) if name not in chosen)
    return chosen


def networks_from_studies(names: list[str], storage_url: str, export: dict[str, Any] | None = None,
                          ) -> list[Network]:
    """Each study's best trial (params, seed) and its data; an export overrides params and seed."""
    import optuna

    from glasstune.results.trials import load_study, ranked_trials
    from glasstune.study.loader import load_study_file

    override = _export_config(export) if export else None
    networks = []
    for name in names:
        study = load_study(name, storage_url)
        study_file = study.user_attrs.get(StudyAttr.STUDY_FILE)
        if not study_file or not Path(study_file).exists():
            raise GlasstuneError(f"study {name!r}: its study file {study_file!r} is not here; "
                                 f"run from the project folder")
        spec = load_study_file(study_file)
        table = spec.data.load()
        if len(table.temperatures) != 1:
            raise GlasstuneError(f"study {name!r}: its data hold temperatures {table.temperatures}; "
                                 f"a transfer study needs one temperature per study")
        if override is not None:
            config, seed, params, epoch_cap = override
        else:
            best = ranked_trials(study, 1)[0]
            search_space = getattr(spec.objective, "search_space", None)
            if not callable(search_space):
                raise GlasstuneError(f"study {name!r}: its objective has no search space (not an MLP study)")
            params = best.params
            config = search_space(optuna.trial.FixedTrial(params))
            seed = int(best.user_attrs.get("seed", 0))
            epoch_cap = getattr(spec.objective, "epoch_cap", None)
        networks.append(Network(name, table.temperatures[0], table, config, seed, params, epoch_cap))
    temperatures = [n.temperature for n in networks]
    if len(set(temperatures)) != len(temperatures):
        raise GlasstuneError(f"studies {names} share a temperature ({temperatures}); give one study per temperature")
    return sorted(networks, key=lambda n: n.temperature)


def _export_config(document: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, Any], int | None]:
    """The exported best trial, turned into an estimator configuration by its own study file."""
    import optuna

    from glasstune.study.loader import load_study_file

    entry = document["trials"][0]
    study_file = document.get("study_file")
    if not study_file or not Path(study_file).exists():
        raise GlasstuneError(f"the study file {study_file!r} named in the export is not here; "
                             f"run from the project folder")
    objective = load_study_file(study_file).objective
    config = objective.search_space(optuna.trial.FixedTrial(entry["params"]))
    return config, int(entry.get("seed") or 0), entry["params"], getattr(objective, "epoch_cap", None)


def heldout_split(table: Any, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, held-out): whole frames on one side, classes stratified where possible."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y, groups = table.y, table.groups
    n_splits = max(2, round(1 / fraction))
    if groups is not None and len(np.unique(groups)) >= n_splits:
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        train, test = next(splitter.split(np.zeros(len(y)), y, groups))
    else:
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        train, test = next(splitter.split(np.zeros(len(y)), y))
    return train, test


def score(y: np.ndarray, predicted: np.ndarray, ranking: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score

    auc = roc_auc_score(y, ranking) if len(np.unique(y)) == 2 else np.nan
    return {"balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
            "accuracy": float(accuracy_score(y, predicted)), "roc_auc": float(auc)}


def linear_svm() -> Any:
    """The lab's earlier method: a linear SVM with C = 0.01 on standardised features."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return make_pipeline(StandardScaler(), LinearSVC(C=SVM_C, dual="auto", max_iter=10_000))


def transfer_matrix(networks: list[Network], *, seeds: int = 1, fraction: float = HELDOUT_FRACTION,
                    split_seed: int = 0) -> TransferResult:
    """Train each network on its own temperature's training part, score it on every held-out part."""
    import pandas as pd

    from glasstune.objectives.mlp.objective import build_estimator

    if seeds < 1:
        raise GlasstuneError(f"--seeds {seeds}: need at least one replicate")
    temperatures = [n.temperature for n in networks]
    rows, baseline_rows, split_rows, models = [], [], [], {}
    for replicate in range(seeds):
        parts = {}
        for network in networks:
            train, test = heldout_split(network.table, fraction, split_seed + replicate)
            parts[network.temperature] = (network.table, train, test)
            frames = network.table.frame.get("frame")
            for role, index in (("train", train), ("heldout", test)):
                ids = sorted(set(frames.to_numpy()[index].tolist())) if frames is not None else []
                split_rows.extend({"replicate": replicate, "temperature": network.temperature,
                                   "frame": int(f), "role": role} for f in ids)
        for network in networks:
            table, train, _ = parts[network.temperature]
            model = build_estimator(network.config, network.seed + replicate, network.epoch_cap)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning: the lab runs all epochs
                model.fit(table.X[train], table.y[train])
            models[(network.temperature, replicate)] = model
            for other in temperatures:
                eval_table, _, test = parts[other]
                X, y = eval_table.X[test], eval_table.y[test]
                rows.append({"replicate": replicate, "trained_at": network.temperature, "evaluated_at": other,
                             "n_train": len(train), "n_heldout": len(test),
                             **score(y, model.predict(X), model.predict_proba(X)[:, 1])})
        for temperature, (table, train, test) in parts.items():
            svm = linear_svm()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                svm.fit(table.X[train], table.y[train])
            X, y = table.X[test], table.y[test]
            svm_scores = score(y, svm.predict(X), svm.decision_function(X))
            majority = int(np.bincount(table.y[train]).argmax())
            baseline_rows.append({"replicate": replicate, "temperature": temperature,
                                  **{f"svm_{k}": v for k, v in svm_scores.items()},
                                  "chance_accuracy": float(np.mean(y == majority)),
                                  "chance_balanced_accuracy": 0.5, "chance_roc_auc": 0.5})
    provenance = dict(networks[0].table.provenance) if networks else {}
    provenance["name"] = str(provenance.get("name") or provenance.get("source", "data")).split("/T")[0]
    provenance["synthetic"] = any(bool(n.table.provenance.get("synthetic")) for n in networks)
    return TransferResult(temperatures, pd.DataFrame(rows), pd.DataFrame(baseline_rows),
                          pd.DataFrame(split_rows), models, networks, provenance)


def write_outputs(result: TransferResult, out_dir: Path) -> list[Path]:
    """CSVs, heatmaps, the lab's curves plot, the observations and the models, into ``out_dir``."""
    import pickle

    import matplotlib.pyplot as plt

    from glasstune.data.provenance import provenance_label
    from glasstune.results.observations import observations
    from glasstune.results.plots import heatmaps, transfer_curves

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

    def keep(path: Path) -> Path:
        written.append(path)
        return path

    result.scores.to_csv(keep(out_dir / "scores.csv"), index=False)
    result.baseline.to_csv(keep(out_dir / "baseline.csv"), index=False)
    result.baseline_summary().to_csv(keep(out_dir / "baseline_summary.csv"))
    result.splits.to_csv(keep(out_dir / "splits.csv"), index=False)
    for metric in METRICS:
        for statistic in ("mean", "std"):
            matrix = result.matrix(metric, statistic)
            matrix.index.name, matrix.columns.name = "trained_at", "evaluated_at"
            matrix.to_csv(keep(out_dir / f"matrix_{metric}_{statistic}.csv"))
    label = provenance_label(result.provenance)
    figure = heatmaps({m: result.matrix(m).to_numpy() for m in METRICS}, result.temperatures,
                      f"temperature transfer (held-out frames) · {label}")
    figure.savefig(keep(out_dir / "heatmap.png"), dpi=110)
    plt.close(figure)
    summary = result.baseline_summary()
    for metric in ("accuracy", "balanced_accuracy"):
        figure = transfer_curves(
            result.temperatures, result.matrix(metric).to_numpy(), result.matrix(metric, "std").to_numpy(),
            baseline=summary[f"svm_{metric}_mean"].to_numpy(),
            baseline_std=summary[f"svm_{metric}_std"].to_numpy(),
            chance=summary[f"chance_{metric}_mean"].to_numpy(), metric=metric,
            title=f"one network per training temperature · {label}")
        figure.savefig(keep(out_dir / f"transfer_{metric}.png"), dpi=110)
        plt.close(figure)
    keep(out_dir / "observations.txt").write_text(observations(result))
    models = out_dir / "models"
    models.mkdir(exist_ok=True)
    for (temperature, replicate), model in result.models.items():
        keep(models / f"trained_T{temperature:g}_rep{replicate}.pkl").write_bytes(pickle.dumps(model))
    return written


def log_run(result: TransferResult, out_dir: Path, tracking_uri: str, *, config_source: str) -> str:
    """One MLflow run in experiment ``transfer``: parameters, diagonal metrics, every output file."""
    from glasstune.stores.names import Role, Tag
    from glasstune.stores.tracking import Tracker

    studies = [n.study for n in result.networks]
    params = {"studies": ",".join(studies), "temperatures": ",".join(f"{t:g}" for t in result.temperatures),
              "seeds": str(int(result.scores["replicate"].nunique())), "config_source": config_source,
              "svm_C": str(SVM_C), "heldout": "frame-grouped fraction of each temperature"}
    for network in result.networks:
        params[f"params_T{network.temperature:g}"] = str(network.params)
        params[f"seed_T{network.temperature:g}"] = str(network.seed)
    metrics = {}
    for metric in METRICS:
        mean = result.matrix(metric)
        for t in result.temperatures:
            metrics[f"{metric}_T{t:g}_on_T{t:g}"] = float(mean.loc[t, t])
    summary = result.baseline_summary()
    for t in result.temperatures:
        metrics[f"svm_balanced_accuracy_T{t:g}"] = float(summary.loc[t, "svm_balanced_accuracy_mean"])
    tags = {Tag.ROLE: Role.TRANSFER, Tag.STUDIES: ",".join(studies),
            Tag.SYNTHETIC: str(bool(result.provenance.get("synthetic"))).lower()}
    return Tracker.open(tracking_uri).log_analysis_run(
        "transfer", "transfer " + " ".join(studies), tags=tags, params=params,
        metrics={key: value for key, value in metrics.items() if np.isfinite(value)},
        note=(out_dir / "observations.txt").read_text(), folder=out_dir)
