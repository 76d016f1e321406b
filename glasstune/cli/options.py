"""Options and helpers shared by every command module, so each flag reads the same everywhere."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

import typer

from glasstune.config import ENV_STORAGE, ENV_TRACKING_URI

ENV_DEBUG = "GLASSTUNE_DEBUG"

StorageOption = Annotated[
    str | None, typer.Option("--storage", envvar=ENV_STORAGE, show_envvar=True,
                                help="Optuna storage URL.", show_default="sqlite:///mlruns/optuna.db")]
TrackingOption = Annotated[
    str | None, typer.Option("--tracking-uri", envvar=ENV_TRACKING_URI, show_envvar=True,
                                help="MLflow tracking URI.", show_default="sqlite:///mlruns/mlflow.db")]
StudyArgument = Annotated[str, typer.Argument(help="The study's name or its study file.")]
DeviceOption = Annotated[str, typer.Option("--device", help="auto, cuda[:N] or cpu (GPU objectives).")]


def debug_enabled() -> bool:
    """``--debug`` (or ``GLASSTUNE_DEBUG=1``): tracebacks and the libraries' own logging."""
    return os.environ.get(ENV_DEBUG) == "1"


def make_console(width: int | None = None) -> Any:
    from rich.console import Console

    return Console(width=width)


def print_table(console: Any, title: str, header: Sequence[str], rows: Iterable[Sequence[Any]], *,
                numeric: Sequence[bool] | None = None, compact: bool = False) -> None:
    """A rich table of plain cells (floats at 4 significant digits, None and NaN blank).

    ``numeric`` columns are right-aligned and never wrapped (a number cut in two reads as two
    numbers); the others wrap at word boundaries. ``compact``: no vertical rules, so more of 80
    characters goes to the cells."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD, title_justify="left")
    for index, column in enumerate(header):
        number = bool(numeric and numeric[index])
        table.add_column(str(column), justify="right" if number else "left", no_wrap=number,
                         overflow="ellipsis" if number else "fold")
    for row in rows:
        table.add_row(*[_cell(value) for value in row])
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return "" if value is None else str(value)


def study_name(study: str) -> str:
    """A study file stands for the study it defines."""
    if study.endswith(".py"):
        from glasstune.study.loader import load_study_file

        return load_study_file(study).name
    return study


def quiet_libraries() -> None:
    """Optuna and MLflow talk a lot at INFO; the progress display says what matters (``--debug``
    lets them talk)."""
    import optuna

    debug = debug_enabled()
    optuna.logging.set_verbosity(optuna.logging.INFO if debug else optuna.logging.ERROR)
    for name in ("alembic", "mlflow", "urllib3"):
        logging.getLogger(name).setLevel(logging.INFO if debug else logging.WARNING)
