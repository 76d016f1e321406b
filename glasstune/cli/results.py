"""Commands that read a study's results: the trials table, the best trial, exports and retraining."""

from __future__ import annotations

import contextlib
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
    columns: Annotated[str | None, typer.Option(
        "--columns", help="Columns to show, by their csv names: number,state,value,gap,param_width,...")] = None,
    wide: Annotated[bool, typer.Option("--wide", help="Every column, parameters too, in lines as long as "
                                                      "they need.")] = False,
    storage: StorageOption = None,
) -> None:
    """Every trial: state, score, memorisation gap, time, why it stopped (--wide: parameters too)."""
    from glasstune.results.table_view import trials_view
    from glasstune.results.trials import load_study, trials_frame

    chosen = [name.strip() for name in columns.split(",") if name.strip()] if columns else None
    if format != TableFormat.table:  # a study file that prints while it loads must not break the csv or json
        with contextlib.redirect_stdout(sys.stderr):
            loaded = load_study(study_name(study), storage or default_storage())
        frame = trials_frame(loaded)
        if chosen:
            frame = frame[_known(chosen, frame)]
        if format == TableFormat.csv:
            sys.stdout.write(frame.to_csv(index=False))
        else:
            sys.stdout.write(frame.to_json(orient="records", indent=2) + "\n")
        return
    loaded = load_study(study_name(study), storage or default_storage())
    view = trials_view(loaded, trials_frame(loaded), columns=chosen, wide=wide)
    console = make_console(width=WIDE if wide else None)
    for note in view.notes:
        console.print(note, highlight=False)
    print_table(console, view.title, view.headers, view.rows, numeric=view.numeric, compact=True)


WIDE = 10_000
"""--wide: the table's lines are as long as its cells need (the terminal wraps them, or a pager scrolls)."""


def _known(chosen: list[str], frame: object) -> list[str]:
    from glasstune.errors import GlasstuneError

    available = list(frame.columns)  # type: ignore[attr-defined]
    named = [name if name in available else f"param_{name}" for name in chosen]
    unknown = [name for name, full in zip(chosen, named, strict=True) if full not in available]
    if unknown:
        raise GlasstuneError(f"no column {', '.join(map(repr, unknown))}; choose from: {', '.join(available)}")
    return named


def best(study: StudyArgument, storage: StorageOption = None) -> None:
    """The best trial: score, parameters, memorisation gap, MLflow run (numbers at 4 significant digits)."""
    from glasstune.results.trials import load_study, ranked_trials, summary_columns
    from glasstune.results.words import baseline_words, data_words, metric_words
    from glasstune.stores.names import TrialAttr

    loaded = load_study(study_name(study), storage or default_storage())
    trial = ranked_trials(loaded, 1)[0]
    console = make_console()
    console.print(f"trial {trial.number}: {metric_words(loaded)} {_digits(trial.value)}", highlight=False)
    console.print(f"  [dim]data[/dim] {data_words(loaded)}", highlight=False)
    for key, value in trial.params.items():
        console.print(f"  {key} = {_digits(value)}", highlight=False)
    for key in (*summary_columns(loaded), TrialAttr.RUN_ID, TrialAttr.SEED):
        if key in trial.user_attrs:
            console.print(f"  [dim]{key}[/dim] {_digits(trial.user_attrs[key])}", highlight=False)
    baseline = baseline_words(loaded, trial.value)
    if baseline:
        console.print(f"  [dim]baseline[/dim] {baseline}", highlight=False)


def _digits(value: object) -> str:
    """Floats at 4 significant digits: the fifth is noise for a score, and unreadable for a rate."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


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
    allow_other_data: Annotated[bool, typer.Option(
        "--allow-other-data", help="Retrain even if the data are not the rows the study was tuned on.")] = False,
    register_as: Annotated[str | None, typer.Option(
        "--register", help="Also register the model in MLflow's model registry under this name.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Live progress display.")] = True,
    tracking_uri: TrackingOption = None,
) -> None:
    """Retrain an exported configuration exactly and save the model trained on all rows (MLflow model).

    Same data (fingerprint checked), objective settings, parameters and seed as the exported trial; the
    final model is trained with the trial's own backend and reported with its training score."""
    from glasstune.cli.models import status_display
    from glasstune.results.export import read_document
    from glasstune.results.retrain import retrain as run_retrain

    quiet_libraries()
    document = read_document(export_file)
    with status_display(progress) as status:
        result = run_retrain(document, rank, out, source=str(export_file), allow_other_data=allow_other_data,
                             tracking_uri=tracking_uri or default_tracking_uri(), register=register_as,
                             on_status=status)
    _print_retrained(result)


def _print_retrained(result: dict) -> None:
    console = make_console()
    value, recorded = result["value"], result["recorded_value"]
    same = "reproduced exactly" if value == recorded else f"differs by {value - recorded:+.2g}"
    if value != recorded and result.get("trials_together", 1) > 1:
        same += (f" (the study trained it in one batch with {result['trials_together'] - 1} other trial(s), "
                 f"which changes float rounding; docs/studies.md)")
    console.print(f"trial {result['trial']}: score {value:.4f} (recorded {recorded:.4f}), {result['metric']} "
                  f"on held-out folds, {same}" + (" (smoke study)" if result["smoke"] else ""))
    if result["other_data"]:
        console.print(f"  [bold yellow]on other data than the study's[/]: {result['data']} (fingerprint "
                      f"{result['fingerprint']}; the study's {result['recorded_fingerprint']}), --allow-other-data")
    if "model" in result:
        scores = ", ".join(f"{key.removeprefix('train_')} {value:.4f}" for key, value in result["train_scores"].items())
        console.print(f"final model ({result['backend']}, trained on all {result['rows']} rows): training score "
                      f"{scores} (on the rows it learned, not held out)")
        console.print(f"model: {result['model']} (mlflow.pyfunc.load_model('{result['model']}'))")
        logged = result.get("mlflow")
        if logged:
            registered = (f", registered as version {logged['registered_version']}"
                          if logged.get("registered_version") else "")
            console.print(f"  MLflow: {logged['runs_uri']} ({logged['model_uri']}){registered}")
        console.print(f"apply it: glasstune predict {result['model']} TABLE -o predictions.parquet")
    console.print(f"scores and plots: {result['out_dir']}")


def register(app: typer.Typer) -> None:
    """Add ``trials``, ``best``, ``export`` and ``retrain`` to the glasstune command."""
    for command in (trials, best, export, retrain):
        app.command()(command)
