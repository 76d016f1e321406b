"""The one exception type that reaches a user as a single line instead of a traceback."""

from __future__ import annotations


class GlasstuneError(Exception):
    """A problem the user can fix: the message says what is wrong and how to fix it.

    The CLI prints it as one line and exits with ``exit_code``; ``--debug`` shows the traceback.
    """

    exit_code = 2
    prefix = "error: "

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class StudyStopped(GlasstuneError):
    """A run stopped by Ctrl-C or a signal, its study saved: said as it is (no "error:"), with the
    exit code of the signal (128 + its number), as shells expect."""

    prefix = ""


class DataError(GlasstuneError):
    """A data file or data set that cannot be used as it is."""


class StudyFileError(GlasstuneError):
    """A study file that is missing, broken or defines no study."""


class StoreError(GlasstuneError):
    """An Optuna storage or MLflow store that cannot be reached or written."""


INTERRUPTED = "interrupted (Ctrl-C)"


def one_line(error: BaseException) -> str:
    """The error's type and first line, with any password in a URL shown as ***: how a failure is
    recorded (trial attributes, run tags) and said (one line on the terminal)."""
    from glasstune.urls import redact

    if isinstance(error, KeyboardInterrupt):
        from glasstune.interrupts import interrupted_reason

        return interrupted_reason(error)
    if isinstance(error, SystemExit):
        return f"the study's code called sys.exit({error.code!r})"
    if type(error).__name__ == "StorageInternalError" and error.__cause__ is not None:
        error = error.__cause__  # Optuna's wrapper blames "invalid data"; the cause says what happened
    text = str(error).strip().splitlines()
    return redact(f"{type(error).__name__}: {text[0] if text else ''}")[:500]
