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


class TrialInterrupted(Exception):
    """Ctrl-C during a trial, once the trial's run is closed: an ordinary exception, so Optuna
    records the trial FAIL through its normal path and calls the callbacks, which stop the study."""


def one_line(error: BaseException) -> str:
    """The error's type and first line, with any password in a URL shown as ***: how a failure is
    recorded (trial attributes, run tags) and said (one line on the terminal)."""
    from glasstune.urls import redact

    if isinstance(error, (KeyboardInterrupt, TrialInterrupted)):
        return INTERRUPTED
    text = str(error).strip().splitlines()
    return redact(f"{type(error).__name__}: {text[0] if text else ''}")[:500]
