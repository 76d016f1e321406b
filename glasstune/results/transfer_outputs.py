"""What ``glasstune transfer`` writes: tables, figures whose titles carry every caveat, the
observations, the models, and one MLflow run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from glasstune.objectives.mlp.baseline import NAME as SVM_NAME
from glasstune.objectives.mlp.baseline import SVM_C
from glasstune.results.transfer import METRICS, TransferResult


def caveat_line(result: TransferResult) -> str:
    """The data set and every caveat of the matrix in one line, grouped by caveat: for titles."""
    from glasstune.data.provenance import caveats, provenance_label

    grouped: dict[str, list[str]] = {}
    for network in result.networks:
        notes = caveats(network.provenance)
        if network.selection_saw_heldout:
            notes.append("configuration chosen on every frame (held-out frames included)")
        if network.config_synthetic and not network.synthetic:
            notes.append("configuration tuned on synthetic data")
        for note in notes:
            grouped.setdefault(note, []).append(f"{network.temperature:g}")
    parts = [provenance_label(result.provenance)]
    parts += [f"{note}: T = {', '.join(temps)}" for note, temps in grouped.items()]
    collapsed = sum(result.collapsed().values())
    if collapsed:
        parts.append(f"{collapsed} collapsed replicate(s) left out")
    return " · ".join(parts)


def baseline_notes(result: TransferResult, metric: str = "balanced_accuracy") -> list[str]:
    """Per temperature: the tuned MLP on its own held-out frames against the SVM, in words."""
    mean = result.matrix(metric)
    std = result.matrix(metric, "std")
    summary = result.baseline_summary()
    notes = []
    for t in result.temperatures:
        mlp, spread, svm = mean.loc[t, t], std.loc[t, t], summary.loc[t, f"svm_{metric}"]
        spread = float(spread) if np.isfinite(spread) else 0.0
        if not mlp > svm:
            verdict = "not better than the baseline"
        elif mlp - svm <= spread:
            verdict = "level with the baseline (within the replicates' spread)"
        else:
            verdict = "above the baseline"
        notes.append(f"T = {t:g}: tuned MLP {mlp:.3f}, linear SVM {svm:.3f}: {verdict}")
    return notes


def write_outputs(result: TransferResult, out_dir: Path) -> list[Path]:
    """CSVs, heatmaps, the lab's curves plot, the observations and the models, into ``out_dir``."""
    import pickle

    import matplotlib.pyplot as plt
    import pandas as pd

    from glasstune.results.observations import observations
    from glasstune.results.plots import heatmaps, transfer_curves

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

    def keep(path: Path) -> Path:
        written.append(path)
        return path

    pd.DataFrame([n.describe() for n in result.networks]).to_csv(keep(out_dir / "networks.csv"), index=False)
    result.scores.to_csv(keep(out_dir / "scores.csv"), index=False)
    result.baseline.to_csv(keep(out_dir / "baseline.csv"), index=False)
    result.splits.to_csv(keep(out_dir / "splits.csv"), index=False)
    for metric in METRICS:
        for statistic in ("mean", "std"):
            matrix = result.matrix(metric, statistic)
            matrix.index.name, matrix.columns.name = "trained_at", "evaluated_at"
            matrix.to_csv(keep(out_dir / f"matrix_{metric}_{statistic}.csv"))
    caveat = caveat_line(result)
    title = f"temperature transfer (held-out frames, {result.replicates} replicate(s))\n{_wrap(caveat, 170)}"
    figure = heatmaps({m: result.matrix(m).to_numpy() for m in METRICS}, result.temperatures, title)
    figure.savefig(keep(out_dir / "heatmap.png"), dpi=110)
    plt.close(figure)
    summary = result.baseline_summary()
    for metric in ("accuracy", "balanced_accuracy"):
        figure = transfer_curves(
            result.temperatures, result.matrix(metric).to_numpy(), result.matrix(metric, "std").to_numpy(),
            baseline=summary[f"svm_{metric}"].to_numpy(), chance=summary[f"chance_{metric}"].to_numpy(),
            metric=metric, title=f"one network per training temperature\n{_wrap(caveat, 105)}",
            notes=baseline_notes(result, metric))
        figure.savefig(keep(out_dir / f"transfer_{metric}.png"), dpi=110)
        plt.close(figure)
    keep(out_dir / "observations.txt").write_text(observations(result))
    models = out_dir / "models"
    models.mkdir(exist_ok=True)
    for temperature, replicates in result.models.items():
        keep(models / f"trained_T{temperature:g}.pkl").write_bytes(pickle.dumps(replicates))
    return written


def log_run(result: TransferResult, out_dir: Path, tracking_uri: str, *, config_source: str) -> str:
    """One MLflow run in experiment ``transfer``: parameters, diagonal metrics, every output file."""
    from glasstune.stores.names import Role, Tag
    from glasstune.stores.tracking import Tracker

    studies = [n.study for n in result.networks]
    params = {"studies": ",".join(studies), "temperatures": ",".join(f"{t:g}" for t in result.temperatures),
              "seeds": str(result.replicates), "config_source": config_source,
              "svm": SVM_NAME, "svm_C": str(SVM_C),
              "heldout": "frames no study tuned on (the last frames of each run)",
              "caveats": caveat_line(result)[:500]}
    for network in result.networks:
        t = f"{network.temperature:g}"
        params[f"params_T{t}"] = str(network.params)
        params[f"seed_T{t}"] = str(network.seed)
        params[f"data_T{t}"] = str(network.provenance.get("name"))
        params[f"config_from_T{t}"] = network.config_from
        params[f"backend_T{t}"] = network.backend
    metrics: dict[str, float] = {}
    for metric in METRICS:
        mean = result.matrix(metric)
        for t in result.temperatures:
            metrics[f"{metric}_T{t:g}_on_T{t:g}"] = float(mean.loc[t, t])
    summary = result.baseline_summary()
    for t in result.temperatures:
        metrics[f"svm_balanced_accuracy_T{t:g}"] = float(summary.loc[t, "svm_balanced_accuracy"])
        metrics[f"collapsed_replicates_T{t:g}"] = float(result.collapsed()[t])
    tags = {Tag.ROLE: Role.TRANSFER, Tag.STUDIES: ",".join(studies),
            Tag.SYNTHETIC: str(bool(result.provenance.get("synthetic"))).lower()}
    return Tracker.open(tracking_uri).log_analysis_run(
        "transfer", "transfer " + " ".join(studies), tags=tags, params=params,
        metrics={key: value for key, value in metrics.items() if np.isfinite(value)},
        note=(out_dir / "observations.txt").read_text(), folder=out_dir)


def _wrap(text: str, width: int) -> str:
    """A title's long caveat line broken into lines that fit the figure."""
    return "\n".join(textwrap.wrap(text, width))
