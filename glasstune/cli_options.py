"""Options and helpers shared by every command module, so each flag reads the same everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

from glasstune.config import ENV_STORAGE, ENV_TRACKING_URI

StorageOption = Annotated[
    str | None, typer.Option("--storage", envvar=ENV_STORAGE, show_envvar=True,
                                help="Optuna storage URL [default: sqlite:///mlruns/optuna.db].")]
TrackingOption = Annotated[
    str | None, typer.Option("--tracking-uri", envvar=ENV_TRACKING_URI, show_envvar=True,
                                help="MLflow tracking URI [default: sqlite:///mlruns/mlflow.db].")]
StudyArgument = Annotated[str, typer.Argument(help="The study's name or its study file.")]


def make_console():
    from rich.console import Console

    return Console()


def study_name(study: str) -> str:
    """A study file stands for the study it defines."""
    if study.endswith(".py"):
        from glasstune.studyfile import load_study_file

        return load_study_file(study).name
    return study
