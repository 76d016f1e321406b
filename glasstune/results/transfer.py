"""The temperature-transfer matrix: train one network per temperature, score it on every temperature.
(What it writes: ``transfer_outputs``.)

Rows are the temperature a network was trained at, columns the temperature it is evaluated at.
Each network is the configuration its study chose, trained with the study's own backend (the torch
network by default) on the frames the study tuned on, and scored on every temperature's held-out
frames: the last frames of each run, which no study saw (``glasstune.data.holdout``; each study
records the frames it tuned on, and they are checked here). A study whose data held nothing out
chose its configuration on every frame: its frames are split here and its scores carry the caveat.

Replicates train the same configuration from other seeds. A replicate that predicts one class for
every held-out row of its own temperature has collapsed: it is flagged and left out of the means,
with a count. The lab's linear SVM and the chance level are scored on the same frames.
"""

from __future__ import annotations

import fnmatch
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glasstune.errors import GlasstuneError
from glasstune.objectives.mlp.baseline import linear_svm
from glasstune.stores.names import StudyAttr

METRICS = ("balanced_accuracy", "accuracy", "roc_auc")
SMOKE_SUFFIX = "-smoke"


@dataclass
class Network:
    """One trained-at temperature: the frames it trains on and is scored on, and the configuration."""

    study: str
    temperature: float
    tuning: Any  # FeatureTable: the frames the study tuned on; the network trains on them
    heldout: Any  # FeatureTable: frames no tuning saw; every network is scored on them
    config: dict[str, Any]
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    epoch_cap: int | None = None
    backend: str = "torch"
    config_from: str = ""
    """Where the configuration came from: the study's best trial, or an export file."""
    config_synthetic: bool = False
    """The configuration was chosen on synthetic data."""
    selection_saw_heldout: bool = False
    """The study chose its configuration on every frame (its data held none out)."""

    @property
    def provenance(self) -> dict[str, Any]:
        return self.tuning.provenance

    @property
    def synthetic(self) -> bool:
        return bool(self.provenance.get("synthetic"))

    def describe(self) -> dict[str, Any]:
        """One row of ``networks.csv``: which study and data this network came from."""
        from glasstune.data.provenance import caveats

        provenance = self.provenance
        return {
            "trained_at": self.temperature, "study": self.study, "data": provenance.get("name"),
            "data_fingerprint": self.tuning.fingerprint(), "synthetic": self.synthetic,
            "label_rule": provenance.get("label_rule", "-"), "equilibrated": provenance.get("equilibrated"),
            "tau_alpha": provenance.get("tau_alpha"), "caveats": "; ".join(caveats(provenance)),
            "config_from": self.config_from, "config_synthetic": self.config_synthetic,
            "params": str(self.params), "seed": self.seed, "backend": self.backend,
            "tuning_rows": len(self.tuning), "tuning_frames": _frames(self.tuning),
            "heldout_rows": len(self.heldout), "heldout_frames": _frames(self.heldout),
            "selection_saw_heldout": self.selection_saw_heldout,
        }


@dataclass
class TransferResult:
    """Per-replicate scores in long form; matrices and baselines are views of them."""

    temperatures: list[float]
    scores: Any  # DataFrame: replicate, trained_at, evaluated_at, collapsed, metrics
    baseline: Any  # DataFrame: temperature, svm metrics, chance accuracy
    splits: Any  # DataFrame: temperature, frame, role (tuning / heldout)
    models: dict[float, dict[int, Any]]
    networks: list[Network]
    provenance: dict[str, Any]

    def matrix(self, metric: str, statistic: str = "mean") -> Any:
        """rows = trained at, columns = evaluated at; mean or std over the replicates that did not
        collapse (a row of collapsed replicates only is NaN)."""
        kept = self.scores[~self.scores["collapsed"]]
        grouped = kept.groupby(["trained_at", "evaluated_at"])[metric]
        values = grouped.mean() if statistic == "mean" else grouped.std(ddof=0)
        return values.unstack("evaluated_at").reindex(index=self.temperatures, columns=self.temperatures)

    def collapsed(self) -> dict[float, int]:
        """Collapsed replicates per training temperature (left out of every mean)."""
        per_network = self.scores.drop_duplicates(["trained_at", "replicate"])
        counts = per_network.groupby("trained_at")["collapsed"].sum()
        return {float(t): int(counts.get(t, 0)) for t in self.temperatures}

    @property
    def replicates(self) -> int:
        return int(self.scores["replicate"].nunique())

    def baseline_summary(self) -> Any:
        """The SVM's held-out scores and the chance level per temperature (one fit per temperature)."""
        return self.baseline.set_index("temperature").reindex(self.temperatures)


def match_studies(patterns: list[str], known: list[str], *, include_smoke: bool = False,
                  ) -> tuple[list[str], list[str]]:
    """Names or glob patterns (``mlp_*``) against the storage's study names, in the order given.

    Returns (chosen, skipped): ``-smoke`` studies (tuned on the tiny synthetic stand-in) are
    skipped unless ``include_smoke``; naming one outright without it is an error.
    """
    chosen: list[str] = []
    skipped: list[str] = []
    for pattern in patterns:
        glob = any(c in pattern for c in "*?[")
        hits = fnmatch.filter(known, pattern) if glob else ([pattern] if pattern in known else [])
        if not hits:
            shown = ", ".join(known[:8]) or "none"
            raise GlasstuneError(f"no study matches {pattern!r}; known studies: {shown}")
        for name in sorted(hits):
            if name.endswith(SMOKE_SUFFIX) and not include_smoke:
                if not glob:
                    raise GlasstuneError(f"{name} is a smoke study (tuned on the tiny synthetic stand-in); "
                                         f"pass --include-smoke to use it anyway")
                skipped.append(name)
            elif name not in chosen:
                chosen.append(name)
    return chosen, sorted(set(skipped))


def networks_from_studies(names: list[str], storage_url: str, export: dict[str, Any] | None = None, *,
                          export_name: str = "export", allow_mixed: bool = False) -> list[Network]:
    """Each study's best trial (or the export's) and its data, split into tuning and held-out frames."""
    import optuna

    from glasstune.results.trials import load_study, ranked_trials
    from glasstune.study.loader import load_study_file

    networks = []
    for name in names:
        study = load_study(name, storage_url)
        study_file = study.user_attrs.get(StudyAttr.STUDY_FILE)
        if not study_file or not Path(study_file).exists():
            raise GlasstuneError(f"study {name!r}: its study file {study_file!r} is not here; "
                                 f"run from the project folder")
        spec = load_study_file(study_file)
        tuning, heldout, saw_all = _study_frames(name, study, spec.data)
        if len(tuning.temperatures) != 1:
            raise GlasstuneError(f"study {name!r}: its data hold temperatures {tuning.temperatures}; "
                                 f"a transfer study needs one temperature per study")
        objective = spec.objective
        if export is not None:
            config, seed, params, epoch_cap, objective = _export_config(export)
            source = export_name
            config_synthetic = bool(((export.get("data") or {}).get("provenance") or {}).get("synthetic"))
        else:
            best = ranked_trials(study, 1)[0]
            search_space = getattr(objective, "search_space", None)
            if not callable(search_space):
                raise GlasstuneError(f"study {name!r}: its objective has no search space (not an MLP study)")
            params = best.params
            config = search_space(optuna.trial.FixedTrial(params))
            seed = int(best.user_attrs.get("seed", 0))
            epoch_cap = getattr(objective, "epoch_cap", None)
            source = f"best trial {best.number} of {name}"
            config_synthetic = bool((study.user_attrs.get(StudyAttr.PROVENANCE) or {}).get("synthetic"))
        backend = getattr(objective, "backend", "sklearn")
        networks.append(Network(name, tuning.temperatures[0], tuning, heldout, config, seed, params, epoch_cap,
                                backend="torch" if backend == "auto" else backend, config_from=source,
                                config_synthetic=config_synthetic, selection_saw_heldout=saw_all))
    temperatures = [n.temperature for n in networks]
    if len(set(temperatures)) != len(temperatures):
        raise GlasstuneError(f"studies {names} share a temperature ({temperatures}); give one study per temperature")
    if not allow_mixed:
        refuse_mixing(networks)
    return sorted(networks, key=lambda n: n.temperature)


def refuse_mixing(networks: list[Network]) -> None:
    """Synthetic and simulated data, or configurations tuned on one used on the other, do not mix
    in one matrix unless asked (``--allow-mixed``): the numbers would mean neither."""
    data = {n.synthetic for n in networks}
    if len(data) > 1:
        synthetic = [n.study for n in networks if n.synthetic]
        raise GlasstuneError(f"studies {', '.join(synthetic)} use synthetic data and the others do not; "
                             f"transfer them separately, or pass --allow-mixed")
    for network in networks:
        if network.config_synthetic and not network.synthetic:
            raise GlasstuneError(f"{network.study}: its configuration ({network.config_from}) was tuned on "
                                 f"synthetic data, but the network would train on {network.provenance.get('name')}; "
                                 f"tune on these data, or pass --allow-mixed")


def _study_frames(name: str, study: Any, source: Any) -> tuple[Any, Any, bool]:
    """(tuning, held-out, whether the study's selection saw every frame) for one study's data."""
    from glasstune.data.holdout import HELDOUT_FRACTION, HELDOUT_KEY, heldout_record, rows_in
    from glasstune.data.table import FeatureTable

    recorded = study.user_attrs.get(StudyAttr.PROVENANCE) or {}
    if callable(getattr(source, "held_out", None)) and getattr(source, "heldout", 0):
        tuning, heldout = source.load(), source.held_out()
        if recorded.get(HELDOUT_KEY) != tuning.provenance.get(HELDOUT_KEY):
            raise GlasstuneError(f"study {name!r} recorded other tuning frames than its data hold out now; "
                                 f"re-run the study on these data (or give it another name)")
        fingerprint = study.user_attrs.get(StudyAttr.DATA_FINGERPRINT)
        if fingerprint and fingerprint != tuning.fingerprint():
            raise GlasstuneError(f"study {name!r} was tuned on other rows (fingerprint {fingerprint}) than its "
                                 f"data give now ({tuning.fingerprint()}); re-run the study on these data")
        return tuning, heldout, False
    table = source.load()
    record = heldout_record(table.frame, table.provenance, HELDOUT_FRACTION)
    parts = []
    for side in ("tuning_frames", "heldout_frames"):
        rows = rows_in(table.frame, record, side)
        parts.append(FeatureTable(table.frame.loc[rows].reset_index(drop=True),
                                  {**table.provenance, HELDOUT_KEY: record}))
    return parts[0], parts[1], True


def _export_config(document: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, Any], int | None, Any]:
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
    return (config, int(entry.get("seed") or 0), entry["params"], getattr(objective, "epoch_cap", None),
            objective)


def score(y: np.ndarray, predicted: np.ndarray, ranking: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score

    defined = len(np.unique(y)) == 2 and np.all(np.isfinite(ranking))  # a diverged network ranks NaN
    auc = roc_auc_score(y, ranking) if defined else np.nan
    return {"balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
            "accuracy": float(accuracy_score(y, predicted)), "roc_auc": float(auc)}


def train_replicates(network: Network, seeds: int) -> dict[int, Any]:
    """The network's configuration trained ``seeds`` times (seed, seed + 1, ...) on its tuning
    frames with the study's backend; each replicate predicts like a fitted sklearn classifier."""
    X, y = network.tuning.X, network.tuning.y
    if network.backend == "torch":
        from glasstune.objectives.mlp.model import FoldBatchedMLP, MLPSettings

        epochs = int(network.config.get("max_iter", 200))
        epochs = min(epochs, network.epoch_cap) if network.epoch_cap is not None else epochs
        everything = (np.arange(len(y)), np.arange(0))
        model = FoldBatchedMLP(X, y, [everything] * seeds, settings=MLPSettings.from_sklearn(network.config),
                               seed=network.seed)  # replicate r draws from seed + r, as fold r does in CV
        model.train(epochs)
        return {replicate: model.fold(replicate) for replicate in range(seeds)}
    from glasstune.objectives.mlp.objective import build_estimator

    models = {}
    for replicate in range(seeds):
        model = build_estimator(network.config, network.seed + replicate, network.epoch_cap)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: the lab runs all epochs
            model.fit(X, y)
        models[replicate] = model
    return models


def transfer_matrix(networks: list[Network], *, seeds: int = 1) -> TransferResult:
    """Train each network on its tuning frames, score it on every temperature's held-out frames."""
    import pandas as pd

    if seeds < 1:
        raise GlasstuneError(f"--seeds {seeds}: need at least one replicate")
    temperatures = [n.temperature for n in networks]
    rows, baseline_rows, split_rows, models = [], [], [], {}
    for network in networks:
        for role, part in (("tuning", network.tuning), ("heldout", network.heldout)):
            split_rows.extend({"temperature": network.temperature, "frame": int(f), "role": role}
                              for f in sorted(set(part.frame["frame"].tolist())))
    for network in networks:
        models[network.temperature] = train_replicates(network, seeds)
        for replicate, model in models[network.temperature].items():
            own = network.heldout
            collapsed = len(np.unique(model.predict(own.X))) < 2
            for other in networks:
                X, y = other.heldout.X, other.heldout.y
                rows.append({"replicate": replicate, "trained_at": network.temperature,
                             "evaluated_at": other.temperature, "collapsed": collapsed,
                             "n_train": len(network.tuning), "n_heldout": len(y),
                             **score(y, model.predict(X), model.predict_proba(X)[:, 1])})
    for network in networks:
        svm = linear_svm()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            svm.fit(network.tuning.X, network.tuning.y)
        X, y = network.heldout.X, network.heldout.y
        majority = int(np.bincount(network.tuning.y).argmax())
        baseline_rows.append({"temperature": network.temperature,
                              **{f"svm_{k}": v for k, v in score(y, svm.predict(X), svm.decision_function(X)).items()},
                              "chance_accuracy": float(np.mean(y == majority)),
                              "chance_balanced_accuracy": 0.5, "chance_roc_auc": 0.5})
    return TransferResult(temperatures, pd.DataFrame(rows), pd.DataFrame(baseline_rows),
                          pd.DataFrame(split_rows), models, networks, combined_provenance(networks))


def combined_provenance(networks: list[Network]) -> dict[str, Any]:
    """One description of all the networks' data: the common name, synthetic if any is."""
    first = dict(networks[0].provenance) if networks else {}
    names = sorted({_data_name(n.provenance) for n in networks})
    return {"name": " + ".join(names) if names else "data",
            "engine": first.get("engine"),
            "synthetic": any(n.synthetic for n in networks)}


def _data_name(provenance: dict[str, Any]) -> str:
    """The data set's name without its temperature: ``ka-softness-openmm/T0.45/N1000`` -> ``.../N1000``."""
    name = str(provenance.get("name") or Path(str(provenance.get("source", "data"))).name)
    return "/".join(part for part in name.split("/") if not (part.startswith("T") and part[1:2].isdigit()))


def _frames(table: Any) -> int:
    return int(table.frame["frame"].nunique()) if "frame" in table.frame else 0
