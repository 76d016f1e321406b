"""``glasstune continue``: train a finished CNN trial's model further, as a new MLflow run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glasstune.cli.options import DeviceOption, StorageOption, TrackingOption, make_console
from glasstune.config import default_storage, default_tracking_uri
from glasstune.errors import GlasstuneError


def continue_trial(
    study_file: Annotated[Path, typer.Argument(
        help="The study file the trial ran from, e.g. studies/cnn_glass_liquid.py.")],
    trial: Annotated[int, typer.Option("--trial", help="The trial's number (see glasstune trials).")],
    iterations: Annotated[int, typer.Option("--iterations", help="How many iterations to add (at least 1).")],
    device: DeviceOption = "auto",
    smoke: Annotated[bool, typer.Option(
        "--smoke", help="The trial is one of STUDY-smoke (made by glasstune run --smoke).")] = False,
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Continue training a finished CNN trial's model for more iterations, from its latest checkpoint.

    A continuation is a new MLflow run beside the trial's (tag glasstune.continued_from_run), not a new trial.

    The trial in Optuna and its own checkpoints stay as they were; the continued ones get a folder of their own.

    Run it in the folder the study ran in: checkpoints live in ./mlruns/checkpoints.
    """
    from glasstune.cli.options import quiet_libraries
    from glasstune.results.continuation import continue_trial as run_continuation
    from glasstune.study.loader import load_study_file

    quiet_libraries()
    spec = load_study_file(study_file)
    if smoke:
        spec = spec.smoke_variant()
    console = make_console()
    try:
        with console.status(f"continuing trial {trial} of {spec.name}") as status:
            result = run_continuation(spec, trial, iterations, storage=storage or default_storage(),
                                  tracking_uri=tracking_uri or default_tracking_uri(), device=device,
                                  on_status=lambda text: status.update(f"trial {trial} continued · {text}"))
    except KeyboardInterrupt:  # the study-level message ("resumes with the same command") would mislead
        raise GlasstuneError(f"interrupted: the continuation of trial {trial} was discarded (its MLflow run, "
                             f"if made, is FAILED); trial {trial} itself is unchanged", exit_code=130) from None
    console.print(result.line(), soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``continue`` (and ``resume``, its former name, hidden) to the glasstune command."""
    app.command("continue")(continue_trial)
    app.command("resume", hidden=True)(continue_trial)
