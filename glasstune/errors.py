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
