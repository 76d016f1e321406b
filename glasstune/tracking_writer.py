"""A study's MLflow writes, made by a child process while the next trial trains.

Why: after its training, a trial's records cost 0.1-0.3 s of CPU (MLflow's SQL store spends about
0.1 ms per metric row; drawing the loss-curve figure 0.1-0.2 s), and far more against a tracking
server across a network. Made in this process, that is time no trial trains; a thread would not
help, because the work holds Python's GIL. A child process does it on another core instead.

The child keeps the order of the calls, so a run's records land before its end, and a trial's
folder of artifacts is removed only after they are copied. Calls that fail are counted and reported
back (``errors``), never raised: tracking must not cost a trial its result. ``drain`` waits until
everything sent so far is written; a study drains before it returns, so what a study's command
leaves behind is complete. The child ignores Ctrl-C (the study ends its runs, then drains) and
exits by itself if this process dies.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import shutil
import signal
import time
from pathlib import Path
from typing import Any

POLL_SECONDS = 1.0


class BackgroundWriter:
    """MlflowClient calls for trial runs, made in order by one child process."""

    def __init__(self, tracking_uri: str) -> None:
        context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
        if os.name == "posix":  # a forkserver made once per process imports MLflow once for every child
            context.set_forkserver_preload(["glasstune.tracking_writer", "mlflow.tracking"])
        self._commands = context.Queue()
        self._results = context.Queue()
        self._process = context.Process(target=_serve, args=(tracking_uri, self._commands, self._results, os.getpid()),
                                        name="glasstune-tracking", daemon=True)
        self._process.start()
        self._sent = 0
        self.synced = 0
        """Every command up to this number is done (see ``mark``)."""
        self._errors: list[tuple[str, str]] = []

    def call(self, run_id: str, method: str, *args: Any, **kwargs: Any) -> None:
        """``MlflowClient.<method>(*args, **kwargs)`` for run ``run_id``, in the child."""
        self._send(("call", run_id, method, args, kwargs))

    def figure(self, run_id: str, figure: Any, path: Path) -> None:
        """Draw ``figure`` to ``path`` in the child, then log it as an artifact of the run."""
        self._send(("figure", run_id, pickle.dumps(figure), str(path)))

    def remove(self, folder: Path) -> None:
        """Delete ``folder`` once everything sent before is written (a trial's artifact folder)."""
        self._send(("remove", None, str(folder)))

    def mark(self) -> int:
        """A number that ``synced`` reaches once everything sent so far is done."""
        self._send(("sync", None, self._sent + 1))
        return self._sent

    def poll(self) -> None:
        """Take in what the child reported (failures, progress) without waiting."""
        self._collect(wait=0)

    def errors(self) -> list[tuple[str, str]]:
        """(run id, error) of every failed call taken in since the last look."""
        found, self._errors = self._errors, []
        return found

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until everything sent so far is written; False if the child died or time ran out."""
        token = self.mark()
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.synced < token:
            self._collect(wait=POLL_SECONDS if timeout is None else min(POLL_SECONDS, timeout))
            if self.synced >= token:
                break
            if not self._process.is_alive() or (deadline is not None and time.monotonic() > deadline):
                return False
        return True

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def close(self) -> None:
        """Stop the child once it has done what was sent (``drain`` first to know it is all written)."""
        if self._process.is_alive():
            self._commands.put(None)
            self._process.join(timeout=10)
        if self._process.is_alive():  # stuck (a server that does not answer): the study is over anyway
            self._process.kill()
        self._commands.cancel_join_thread()  # never hang at exit on what no child will read
        self._commands.close()

    def _send(self, command: tuple) -> None:
        self._sent += 1
        self._commands.put(command)

    def _collect(self, wait: float) -> None:
        """Read the child's reports, waiting up to ``wait`` seconds for the first one."""
        timeout = wait
        while True:
            try:
                kind, first, second = self._results.get(timeout=timeout) if timeout > 0 else \
                    self._results.get_nowait()
            except queue.Empty:
                return
            timeout = 0
            if kind == "error":
                self._errors.append((first, second))
            elif kind == "synced":
                self.synced = max(self.synced, first)


def _serve(tracking_uri: str, commands: Any, results: Any, parent: int) -> None:
    """The child: make each call in order; report failures and syncs; stop on None or when orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the study's to handle; it then drains us
    from mlflow.tracking import MlflowClient

    from glasstune.tracking import first_line

    client = MlflowClient(tracking_uri)
    try:
        client.search_experiments(max_results=1)  # open the store now, while the first trial trains
    except Exception:
        pass  # the first real call says what is wrong
    while True:
        try:
            command = commands.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if not _alive(parent):  # the study's process died (e.g. SIGKILL): nothing more will come
                return
            continue
        if command is None:
            return
        kind, run_id, *rest = command
        try:
            if kind == "call":
                method, args, kwargs = rest
                getattr(client, method)(*args, **kwargs)
            elif kind == "figure":
                _draw(client, run_id, *rest)
            elif kind == "remove":
                shutil.rmtree(rest[0], ignore_errors=True)
            elif kind == "sync":
                results.put(("synced", rest[0], None))
        except Exception as error:  # reported, never raised: the trial's result is safe in Optuna
            results.put(("error", run_id, first_line(error)))


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still exists (the forkserver, not the study, is the child's parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _draw(client: Any, run_id: str, figure: bytes, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loaded = pickle.loads(figure)
    loaded.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(loaded)
    client.log_artifact(run_id, path)
