"""The ``glasstune`` command. Thin: parses options, calls the library, prints with rich.

Every command group lives in a module of its own with a ``register(app)``; this module builds the
app from them and turns errors into one line each. Heavy libraries load inside the commands, so
``glasstune --help`` starts fast.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys

import typer

from glasstune.cli import analysis, data, doctor, models, results, run, servers, training
from glasstune.cli.options import ENV_DEBUG, debug_enabled
from glasstune.errors import GlasstuneError, StudyStopped

app = typer.Typer(
    help="Hyperparameter studies for glass-physics machine learning: Optuna studies, "
    "cross-validated objectives, every trial an MLflow run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for group in (run, results, models, servers, analysis, doctor, training, data):
    group.register(app)


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="Show tracebacks and the libraries' own logging "
                                        "(also GLASSTUNE_DEBUG=1).")) -> None:
    """Hyperparameter studies for glass-physics machine learning: Optuna studies, cross-validated
    objectives, every trial an MLflow run."""  # --debug is read by main() before the command runs


def main() -> None:
    """Entry point: one line per user error (exit code 2), tracebacks only with --debug."""
    arguments = sys.argv[1:]
    if "--debug" in arguments:
        os.environ[ENV_DEBUG] = "1"  # worker processes inherit it
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "INFO" if debug_enabled() else "WARNING")
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
        if debug_enabled():
            raise
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "glasstune"
        print(f"error: {error.format_message()} (see {command} --help)", file=sys.stderr)
        sys.exit(error.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(1)
    except GlasstuneError as error:
        if debug_enabled() and not isinstance(error, StudyStopped):
            raise
        print(f"{error.prefix}{error}", file=sys.stderr)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:  # a server (ui, dashboard) stopped with Ctrl-C needs no words
        sys.exit(130)
    except Exception as error:  # a bug of ours: short by default, full with --debug
        if debug_enabled():
            raise
        print(f"error: {type(error).__name__}: {error} (run with --debug for the traceback)", file=sys.stderr)
        sys.exit(1)
