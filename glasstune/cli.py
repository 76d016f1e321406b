"""The ``glasstune`` command. Thin: parses options, calls the library, prints with rich.

Heavy libraries load inside the commands, so ``glasstune --help`` starts fast.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from glasstune.cli_options import StorageOption, StudyArgument, TrackingOption, make_console, study_name
from glasstune.config import ENV_SEED, default_storage, default_tracking_uri
from glasstune.errors import GlasstuneError

app = typer.Typer(
    help="Hyperparameter studies for glass-physics machine learning: Optuna studies, "
    "cross-validated objectives, every trial an MLflow run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

class TableFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command()
def run(
    study_file: Annotated[Path, typer.Argument(help="A study file, e.g. studies/mlp_045.py.")],
    n_trials: Annotated[int | None, typer.Option(
        "--n-trials", min=1, help="Total finished trials the study should have (overrides the file).")] = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", min=1, help="Stop starting new trials after this many seconds.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", envvar=ENV_SEED, help="Study seed.")] = None,
    smoke: Annotated[bool, typer.Option(
        "--smoke", help="Run the whole pipeline on a tiny budget as STUDY-smoke.")] = False,
    device: Annotated[str, typer.Option("--device", help="auto, cuda[:N] or cpu (GPU objectives).")] = "auto",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Live progress display.")] = True,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes sharing the study.")] = 1,
    gpus: Annotated[str | None, typer.Option(
        "--gpus", help="GPUs for the workers, e.g. 0,1: one per worker, round-robin [default: every visible "
        "GPU, for GPU objectives].")] = None,
    workers_per_gpu: Annotated[int | None, typer.Option(
        "--workers-per-gpu", min=1, help="At most this many workers on one GPU.")] = None,
    fail_stale: Annotated[bool, typer.Option(
        "--fail-stale", help="First mark FAIL the RUNNING trials no process runs any more (storages without "
        "heartbeats: use only when no other worker runs the study).")] = False,
    worker_index: Annotated[int, typer.Option("--worker-index", hidden=True)] = 0,
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Run (or resume) a study until it has its budget of finished trials."""
    from glasstune.study import RunOptions, quiet_libraries, run_study
    from glasstune.studyfile import load_study_file

    quiet_libraries(_DEBUG)
    spec = load_study_file(study_file)
    if smoke:
        spec = spec.smoke_variant()
    from glasstune.training.device import DEVICES  # torch loads only when a device is resolved

    base, colon, index = device.lower().partition(":")
    if base not in DEVICES or (colon and (base != "cuda" or not index.isdigit())):
        raise GlasstuneError(f"--device {device!r}: use auto, cuda, cuda:N or cpu")
    options = RunOptions(storage=storage or default_storage(), tracking_uri=tracking_uri or default_tracking_uri(),
                         n_trials=None if smoke else n_trials, timeout=timeout, seed=seed, device=device,
                         progress=progress, worker=worker_index, fail_stale=fail_stale)
    from glasstune.workers import plan_gpus

    placement = plan_gpus(spec.objective, device, workers, gpus, workers_per_gpu)
    if workers > 1:
        from glasstune.workers import run_with_workers

        summary = run_with_workers(spec, options, workers, smoke=smoke, gpus=placement)
    else:
        if placement[0] is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = placement[0]
        summary = run_study(spec, options)
    if summary.failed_stale:
        make_console().print(f"--fail-stale: trial(s) {', '.join(map(str, summary.failed_stale))} marked FAIL")
    if worker_index == 0:
        _print_summary(summary, options.tracking_uri)


def _print_summary(summary, tracking_uri: str) -> None:
    console = make_console()
    if summary.stopped_reason == "already finished":
        console.print(f"Study [bold]{summary.study_name}[/bold] already has {summary.finished} finished "
                      f"trials (budget {summary.budget}): nothing to do. Use --n-trials to extend it.")
    else:
        console.print(f"Study [bold]{summary.study_name}[/bold]: {summary.new_trials} trial(s) run now, "
                      f"{summary.finished}/{summary.budget} finished.")
    best = summary.best
    if best:
        attrs = best["user_attrs"]
        console.print(f"Best: trial {best['number']}, score {best['value']:.4f}")
        if "gap" in attrs:
            console.print(f"  train score {attrs.get('train_score', float('nan')):.4f}, "
                          f"memorisation gap {attrs['gap']:+.4f}")
        for key, value in best["params"].items():
            console.print(f"  {key} = {value}")
    if summary.experiment_id:
        console.print(f"Look: glasstune ui  ->  http://127.0.0.1:5000/#/experiments/{summary.experiment_id}/runs")
    console.print(f"Export: glasstune export {summary.study_name} -o best.yaml")


@app.command()
def trials(
    study: StudyArgument,
    format: Annotated[TableFormat, typer.Option("--format", help="table, csv or json.")] = TableFormat.table,
    storage: StorageOption = None,
) -> None:
    """Every trial: state, parameters, CV score, train score, memorisation gap, duration."""
    from glasstune.results import load_study, trials_frame

    frame = trials_frame(load_study(study_name(study), storage or default_storage()))
    if format == TableFormat.csv:
        sys.stdout.write(frame.to_csv(index=False))
    elif format == TableFormat.json:
        sys.stdout.write(frame.to_json(orient="records", indent=2) + "\n")
    else:
        _print_table(frame, title=f"trials of {study_name(study)}")


def _print_table(frame, title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column).removeprefix("param_"), overflow="fold")
    for _, row in frame.iterrows():
        table.add_row(*[_cell(v) for v in row])
    make_console().print(table)


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return "" if value is None else str(value)


@app.command()
def best(study: StudyArgument, storage: StorageOption = None) -> None:
    """The best trial: score, parameters, memorisation gap, MLflow run."""
    from glasstune.results import load_study, ranked_trials

    trial = ranked_trials(load_study(study_name(study), storage or default_storage()), 1)[0]
    console = make_console()
    console.print(f"trial {trial.number}: value {trial.value:.4f}")
    for key, value in trial.params.items():
        console.print(f"  {key} = {value}")
    for key in ("cv_score", "train_score", "gap", "cv_auc", "mlflow_run_id", "seed"):
        if key in trial.user_attrs:
            console.print(f"  [dim]{key}[/dim] {trial.user_attrs[key]}")


@app.command()
def export(
    study: StudyArgument,
    output: Annotated[Path, typer.Option("-o", "--output", help="best.yaml or best.json.")] = Path("best.yaml"),
    top: Annotated[int, typer.Option("--top", min=1, help="Export the K best trials.")] = 1,
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Write the best configuration(s) with scores, data provenance, seeds, versions and run ids."""
    from glasstune.export import export_document, write_document
    from glasstune.results import load_study

    storage_url = storage or default_storage()
    document = export_document(load_study(study_name(study), storage_url), top=top, storage_url=storage_url,
                               tracking_uri=tracking_uri or default_tracking_uri(), output=output)
    write_document(document, output)
    make_console().print(f"Wrote {len(document['trials'])} trial(s) to {output}. "
                     f"Retrain: {document['trials'][0]['retrain']}")


@app.command()
def retrain(
    export_file: Annotated[Path, typer.Argument(help="A file written by glasstune export.")],
    rank: Annotated[int, typer.Option("--rank", min=1, help="Which exported trial.")] = 1,
    out: Annotated[Path, typer.Option("--out", help="Folder for the scores, plots and model.")] = Path("retrained"),
) -> None:
    """Retrain an exported configuration (same data, parameters and seed) and save the model."""
    from glasstune.export import read_document
    from glasstune.retrain import retrain as run_retrain
    from glasstune.study import quiet_libraries

    quiet_libraries(_DEBUG)
    result = run_retrain(read_document(export_file), rank, out)
    console = make_console()
    console.print(f"trial {result['trial']}: score {result['value']:.4f} "
                  f"(recorded {result['recorded_value']:.4f})")
    if "model" in result:
        console.print(f"model: {result['model']}")
    console.print(f"scores and plots: {result['out_dir']}")


@app.command()
def ui(
    study: Annotated[str | None, typer.Argument(help="Open this study's runs.")] = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 5000,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    tracking_uri: TrackingOption = None,
) -> None:
    """The MLflow UI over the study store, on 127.0.0.1."""
    from glasstune.ui import serve_mlflow

    serve_mlflow(tracking_uri or default_tracking_uri(), host=host, port=port,
                 study=study_name(study) if study else None, console=make_console())


from glasstune.cli_doctor import register as register_doctor  # noqa: E402
from glasstune.cli_results import register as register_results  # noqa: E402
from glasstune.cli_training import register as register_training  # noqa: E402
from glasstune.data.commands import app as data_app  # noqa: E402

register_results(app)
register_doctor(app)
register_training(app)
app.add_typer(data_app, name="data")

_DEBUG = False


def main() -> None:
    """Entry point: one line per user error (exit code 2), tracebacks only with --debug."""
    global _DEBUG
    arguments = sys.argv[1:]
    _DEBUG = "--debug" in arguments or os.environ.get("GLASSTUNE_DEBUG") == "1"
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "INFO" if _DEBUG else "WARNING")
    arguments = [a for a in arguments if a != "--debug"]
    # click's exceptions as typer raises them (typer may vendor click): found through a public class
    click_exception = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    # At exit the interpreter's last garbage collections walk every object torch, MLflow and pandas
    # made: 1-2 s of waiting after a study's summary. Objects frozen at exit are skipped; the other
    # exit hooks still run. (At exit only: a process that calls main() and goes on keeps its GC.)
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    _run_app(arguments, click_exception)


def _run_app(arguments: list[str], click_exception: type) -> None:
    try:
        # not standalone: usage errors reach us and are printed as one line, not a box
        code = app(args=arguments, prog_name="glasstune", standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C into exit code 130
            raise KeyboardInterrupt
        if isinstance(code, int) and code:
            sys.exit(code)
    except click_exception as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # bare "glasstune": the help
            error.show()
            sys.exit(error.exit_code)
        if _DEBUG:
            raise
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "glasstune"
        print(f"error: {error.format_message()} (see {command} --help)", file=sys.stderr)
        sys.exit(error.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(1)
    except GlasstuneError as error:
        if _DEBUG:
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        if arguments[:1] == ["run"]:  # a server (ui, dashboard) stopped with Ctrl-C needs no words
            print("interrupted: the study is saved and resumes with the same command", file=sys.stderr)
        sys.exit(130)
    except Exception as error:  # a bug of ours: short by default, full with --debug
        if _DEBUG:
            raise
        print(f"error: {type(error).__name__}: {error} (run with --debug for the traceback)", file=sys.stderr)
        sys.exit(1)
