"""The live display of a running study: trial k of N, best so far, the current trial's status."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class StudyProgress:
    """A rich progress bar over the budget plus one line per finished trial."""

    def __init__(self, study_name: str, budget: int, done: int, *, enabled: bool = True,
                 console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self.best: float | None = None
        self._started = 0.0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"),
            TextColumn("[dim]{task.fields[status]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not enabled,
            transient=False,
        )
        self._task = self._progress.add_task(study_name, total=budget, completed=done,
                                             best="-", status="")

    def __enter__(self) -> StudyProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    def update_counts(self, finished: int, best: float | None) -> None:
        """Refresh from the storage (several workers: no per-trial events here)."""
        self._progress.update(self._task, completed=finished, best=f"{best:.4f}" if best is not None else "-",
                              status="workers running")

    def trial_started(self, number: int) -> None:
        self._started = time.monotonic()
        self._progress.update(self._task, status=f"trial {number}: starting")

    def status(self, number: int, text: str) -> None:
        self._progress.update(self._task, status=f"trial {number}: {text}")

    def note(self, text: str) -> None:
        """A line of its own about a trial (e.g. tracking errors reported after its line); shown with
        --no-progress too: a lost record is never silent."""
        self.console.print(text, soft_wrap=True)

    def trial_finished(self, number: int, state: str, value: float | None, best: float | None,
                       note: str = "", finished_count: int | None = None) -> None:
        seconds = time.monotonic() - self._started
        shown = f"{value:.4f}" if value is not None else "-"
        self.best = best
        if finished_count is not None:
            self._progress.update(self._task, completed=finished_count)
        self._progress.update(self._task, best=f"{best:.4f}" if best is not None else "-", status="")
        if self.enabled:
            style = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red"}.get(state, "white")
            extra = f"  [dim]{note}[/dim]" if note else ""
            self._progress.console.print(
                f"trial {number:>3} [{style}]{state:<8}[/{style}] value {shown}  ({seconds:.1f}s){extra}"
            )
