"""The one exception type that reaches a user as a single line instead of a traceback."""

from __future__ import annotations


class GlasstuneError(Exception):
    """A problem the user can fix: the message says what is wrong and how to fix it.

    The CLI prints it as one line and exits with ``exit_code``; ``--debug`` shows the traceback.
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class DataError(GlasstuneError):
    """A data file or data set that cannot be used as it is."""


class StudyFileError(GlasstuneError):
    """A study file that is missing, broken or defines no study."""


class StoreError(GlasstuneError):
    """An Optuna storage or MLflow store that cannot be reached or written."""


INTERRUPTED = "interrupted (Ctrl-C)"


class Stopped(KeyboardInterrupt):
    """A signal that asks glasstune to stop (SIGTERM from a scheduler at its time limit, SIGHUP when
    the terminal goes): handled as Ctrl-C is, the trial ended and the study left to resume."""

    def __init__(self, signal_name: str, signal_number: int) -> None:
        super().__init__(signal_name)
        self.signal_name, self.signal_number = signal_name, signal_number


def interrupted_reason(error: BaseException) -> str:
    """What an interrupted trial records: ``interrupted (Ctrl-C)``, ``interrupted (SIGTERM)``..."""
    return f"interrupted ({error.signal_name})" if isinstance(error, Stopped) else INTERRUPTED


def one_line(error: BaseException) -> str:
    """The error's type and first line, with any password in a URL shown as ***: how a failure is
    recorded (trial attributes, run tags) and said (one line on the terminal)."""
    from glasstune.urls import redact

    if isinstance(error, KeyboardInterrupt):
        return interrupted_reason(error)
    if isinstance(error, SystemExit):
        return f"the study's code called sys.exit({error.code!r})"
    text = str(error).strip().splitlines()
    return redact(f"{type(error).__name__}: {text[0] if text else ''}")[:500]
