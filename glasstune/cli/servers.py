"""Commands that serve a UI over the study stores: MLflow's (``ui``) and optuna-dashboard."""

from __future__ import annotations

from typing import Annotated

import typer

from glasstune.cli.options import StorageOption, TrackingOption, make_console, study_name
from glasstune.config import default_storage, default_tracking_uri
from glasstune.errors import GlasstuneError

PortOption = Annotated[int, typer.Option("--port", min=1, max=65535, help="Port on 127.0.0.1.")]


def _free(host: str, port: int) -> None:
    """A busy port is said now, not after the server has started and failed (or, worse, after another
    program's page was opened at the printed address)."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise GlasstuneError(f"port {port} on {host} is not free ({error.strerror}); choose another with "
                                 f"--port") from error


def ui(
    study: Annotated[str | None, typer.Argument(help="Open this study's runs.")] = None,
    port: PortOption = 5000,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    tracking_uri: TrackingOption = None,
    storage: StorageOption = None,
) -> None:
    """The MLflow UI over the study store, on 127.0.0.1; with STUDY, opening on its trials by score."""
    from glasstune.results.ui import serve_mlflow

    _free(host, port)
    serve_mlflow(tracking_uri or default_tracking_uri(), host=host, port=port,
                 study=study_name(study) if study else None, console=make_console(),
                 storage=storage or default_storage())


def dashboard(
    study: Annotated[str | None, typer.Argument(help="Open this study's page.")] = None,
    port: PortOption = 8080,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """optuna-dashboard over the study storage, on 127.0.0.1, with the trials' figures from MLflow."""
    from glasstune.results.dashboard import serve_dashboard

    _free(host, port)
    serve_dashboard(storage or default_storage(), host=host, port=port, console=make_console(),
                    tracking_uri=tracking_uri or default_tracking_uri(), study=study_name(study) if study else None)


def register(app: typer.Typer) -> None:
    """Add ``ui`` and ``dashboard`` to the glasstune command."""
    app.command()(ui)
    app.command()(dashboard)
