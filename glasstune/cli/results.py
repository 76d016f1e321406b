"""Commands that read a study's results: the trials table, the best trial, exports and retraining."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from glasstune.cli.options import (
    StorageOption,
    StudyArgument,
    TrackingOption,
    make_console,
    print_table,
    quiet_libraries,
    study_name,
)
from glasstune.config import default_storage, default_tracking_uri


class TableFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def trials(
    study: StudyArgument,
    format: Annotated[TableFormat, typer.Option("--format", help="table, csv or json.")] = TableFormat.table,
    storage: StorageOption = None,
) -> None:
    """Every trial: state, parameters, CV score, train score, memorisation gap, duration."""
    from glasstune.results.trials import load_study, trials_frame

    frame = trials_frame(load_study(study_name(study), storage or default_storage()))
    if format == TableFormat.csv:
        sys.stdout.write(frame.to_csv(index=False))
    elif format == TableFormat.json:
        sys.stdout.write(frame.to_json(orient="records", indent=2) + "\n")
    else:
        header = [str(column).removeprefix("param_") for column in frame.columns]
        print_table(make_console(), f"trials of {study_name(study)}", header, frame.itertuples(index=False))


def best(study: StudyArgument, storage: StorageOption = None) -> None:
    """The best trial: score, parameters, memorisation gap, MLflow run."""
    from glasstune.results.trials import load_study, ranked_trials, summary_columns
    from glasstune.stores.names import TrialAttr

    loaded = load_study(study_name(study), storage or default_storage())
    trial = ranked_trials(loaded, 1)[0]
    console = make_console()
    console.print(f"trial {trial.number}: value {trial.value:.4f}")
    for key, value in trial.params.items():
        console.print(f"  {key} = {value}")
    for key in (*summary_columns(loaded), TrialAttr.RUN_ID, TrialAttr.SEED):
        if key in trial.user_attrs:
            console.print(f"  [dim]{key}[/dim] {trial.user_attrs[key]}")


def export(
    study: StudyArgument,
    output: Annotated[Path, typer.Option("-o", "--output", help="best.yaml or best.json.")] = Path("best.yaml"),
    top: Annotated[int, typer.Option("--top", min=1, help="Export the K best trials.")] = 1,
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Write the best configuration(s) with scores, data provenance, seeds, versions and run ids."""
    from glasstune.results.export import export_document, write_document
    from glasstune.results.trials import load_study

    storage_url = storage or default_storage()
    document = export_document(load_study(study_name(study), storage_url), top=top, storage_url=storage_url,
                               tracking_uri=tracking_uri or default_tracking_uri(), output=output)
    write_document(document, output)
    make_console().print(f"Wrote {len(document['trials'])} trial(s) to {output}. "
                     f"Retrain: {document['trials'][0]['retrain']}")


def retrain(
    export_file: Annotated[Path, typer.Argument(help="A file written by glasstune export.")],
    rank: Annotated[int, typer.Option("--rank", min=1, help="Which exported trial.")] = 1,
    out: Annotated[Path, typer.Option("--out", help="Folder for the scores, plots and model.")] = Path("retrained"),
) -> None:
    """Retrain an exported configuration (same data, parameters and seed) and save the model."""
    from glasstune.results.export import read_document
    from glasstune.results.retrain import retrain as run_retrain

    quiet_libraries()
    result = run_retrain(read_document(export_file), rank, out)
    console = make_console()
    console.print(f"trial {result['trial']}: score {result['value']:.4f} "
                  f"(recorded {result['recorded_value']:.4f})")
    if "model" in result:
        console.print(f"model: {result['model']}")
    console.print(f"scores and plots: {result['out_dir']}")


def register(app: typer.Typer) -> None:
    """Add ``trials``, ``best``, ``export`` and ``retrain`` to the glasstune command."""
    for command in (trials, best, export, retrain):
        app.command()(command)
