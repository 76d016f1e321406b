"""The ``glasstune`` command: one Typer app (``app``), one module per command group."""

from glasstune.cli.app import app, main

__all__ = ["app", "main"]
