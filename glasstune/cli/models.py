"""``glasstune predict``: apply a model saved by ``glasstune retrain`` to a new table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from glasstune.cli.options import TrackingOption, make_console, quiet_libraries
from glasstune.config import default_tracking_uri

FeaturesOption = Annotated[str | None, typer.Option(
    "--features", help="Feature columns: a comma-separated list, a glob such as 'f*' or a range such as "
    "'f0:f99'.")]


def parse_features(text: str | None) -> str | list[str] | None:
    """``--features``: a glob or range as it is, a comma-separated list as a list."""
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",") if part.strip()]
    return parts if len(parts) > 1 else (parts[0] if parts else None)


@contextmanager
def status_display(enabled: bool) -> Iterator[Callable[[str], None]]:
    """A live line saying what a long command is doing (a spinner and the stage); off: silent."""
    if not enabled:
        yield lambda text: None
        return
    with make_console().status("starting") as status:
        yield lambda text: status.update(text)


def predict(
    model: Annotated[str, typer.Argument(help="A model folder written by glasstune retrain (OUT/model), or an "
                                        "MLflow URI such as models:/NAME/1.")],
    data: Annotated[Path, typer.Argument(help="A table: .parquet (file or folder), .csv, .npz or X.npy.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="predictions.parquet or .csv.")] = Path(
        "predictions.parquet"),
    features: FeaturesOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Per-row probability (or value) for every row of a table, beside its other columns.

    The feature columns are the model's own names unless --features names others (as many, in order)."""
    from glasstune.results.predict import predict as run_predict

    quiet_libraries()
    result = run_predict(model, data, output, features=parse_features(features),
                         tracking_uri=tracking_uri or default_tracking_uri())
    make_console().print(f"{result['rows']} row(s), {result['features']} feature column(s) -> "
                         f"{', '.join(result['columns'])}: {result['output']}")


def register(app: typer.Typer) -> None:
    """Add ``predict`` to the glasstune command."""
    app.command()(predict)
