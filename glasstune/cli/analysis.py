"""Commands that analyse finished studies: the temperature-transfer matrix and the study report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glasstune.cli.options import StorageOption, StudyArgument, TrackingOption, make_console, study_name
from glasstune.config import default_storage, default_tracking_uri
from glasstune.errors import GlasstuneError


def transfer(
    studies: Annotated[list[str], typer.Argument(help="MLP studies, one per temperature: names or patterns (mlp_*).")],
    config: Annotated[Path | None, typer.Option(
        "--config", help="An export (best.yaml) whose best configuration trains every temperature.")] = None,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Replicates (training seeds): mean and std.")] = 1,
    include_smoke: Annotated[bool, typer.Option(
        "--include-smoke", help="Also use -smoke studies (tuned on the tiny synthetic stand-in).")] = False,
    allow_mixed: Annotated[bool, typer.Option(
        "--allow-mixed", help="Allow synthetic and simulated data, or configurations tuned on one and "
                              "trained on the other, in one matrix.")] = False,
    out: Annotated[Path, typer.Option("--out", help="Folder for CSVs, plots, observations, models.")] = Path(
        "out/transfer"),
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Train one network per temperature, score each on every temperature's held-out frames.

    Each network is its study's best configuration (or the export's), trained with the study's
    backend on the frames the study tuned on; held-out frames are those no study saw."""
    from glasstune.cli.options import quiet_libraries
    from glasstune.results import transfer as analysis
    from glasstune.results.export import read_document
    from glasstune.results.transfer_outputs import log_run, write_outputs
    from glasstune.stores.optuna_storage import open_storage, study_names

    quiet_libraries()
    storage_url = storage or default_storage()
    names, skipped = analysis.match_studies(studies, study_names(open_storage(storage_url, heartbeat=False)),
                                            include_smoke=include_smoke)
    if len(names) < 2:
        raise GlasstuneError(f"transfer needs studies at two or more temperatures; got {names}"
                             + (f" (smoke studies skipped: {', '.join(skipped)}; --include-smoke uses them)"
                                if skipped else ""))
    document = read_document(config) if config else None
    networks = analysis.networks_from_studies(names, storage_url, document, export_name=str(config),
                                              allow_mixed=allow_mixed)
    console = make_console()
    if skipped:
        console.print(f"Skipped smoke studies: {', '.join(skipped)} (--include-smoke to use them)")
    console.print(f"Training {len(networks)} network(s) x {seeds} replicate(s): "
                  + ", ".join(f"{n.study} (T = {n.temperature:g})" for n in networks))
    result = analysis.transfer_matrix(networks, seeds=seeds)
    write_outputs(result, out)
    run_id = log_run(result, out, tracking_uri or default_tracking_uri(),
                     config_source=str(config) if config else "best trial of each study")
    console.print((out / "observations.txt").read_text())
    console.print(f"Outputs: {out}")
    console.print(f"MLflow run {run_id} in experiment 'transfer'")


def report(
    study: StudyArgument,
    out: Annotated[Path | None, typer.Option("--out", help="Folder.", show_default="out/report-STUDY")] = None,
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """One HTML page with the study's figures, also logged to its MLflow parent run."""
    from glasstune.cli.options import quiet_libraries
    from glasstune.results.report import report as write_report
    from glasstune.results.trials import load_study

    quiet_libraries()
    study = study_name(study)
    loaded = load_study(study, storage or default_storage())
    page = write_report(loaded, out or Path(f"out/report-{study}"), tracking_uri or default_tracking_uri())
    make_console().print(f"Report: {page}")


def register(app: typer.Typer) -> None:
    """Add ``transfer`` and ``report`` to the glasstune command."""
    app.command()(transfer)
    app.command()(report)
