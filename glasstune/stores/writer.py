"""A study's MLflow writes, made by a child process while the next trial trains.

Why: after its training, a trial's records cost a noticeable share of a second of CPU (MLflow's SQL
store per metric row, drawing the loss-curve figure; figures in benchmarks/README.md), and far more
against a tracking server across a network. Made in the study's process, that is time no trial trains; a thread would
not help, because the work holds Python's GIL. A child process does it on another core instead.

The child is a plain ``python -m glasstune.stores.writer`` reading pickled commands from a pipe
(not a ``multiprocessing`` process, which would import the caller's ``__main__`` again). It keeps
the order of the calls, so a run's records land before its end and a trial's folder of artifacts is
removed only after its files are copied. Calls that fail are reported back (``errors``), never
raised: tracking must not cost a trial its result. ``drain`` waits until everything sent so far is
written; a study drains before it returns, so what its command leaves behind is complete. The child
ignores Ctrl-C (the study ends its runs, then drains) and leaves when the study's process closes the
pipe or dies. The tracking URI (which may hold a password) goes through the pipe, not the command line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

STOP_SECONDS = 10.0


class BackgroundWriter:
    """MlflowClient calls for trial runs, made in order by one child process."""

    def __init__(self) -> None:
        commands_read, commands_write = os.pipe()
        results_read, results_write = os.pipe()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "glasstune.stores.writer", str(commands_read), str(results_write)],
            pass_fds=(commands_read, results_write), stdin=subprocess.DEVNULL)
        os.close(commands_read)
        os.close(results_write)
        self._commands = Connection(commands_write, readable=False)
        self._results = Connection(results_read, writable=False)
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send_all, name="glasstune-tracking-sender", daemon=True)
        self._sender.start()
        self._sent = 0
        self._worked = False
        self.synced = 0
        """Every command up to this number is done (see ``mark``)."""
        self._errors: list[tuple[str | None, str]] = []

    def open(self, tracking_uri: str) -> None:
        """Connect the child to the store; only once this process has opened (and maybe created) it,
        so that two processes never create a new store's tables at once."""
        self._send(("open", None, tracking_uri))

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

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
        self._collect(0.0)

    def errors(self) -> list[tuple[str | None, str]]:
        """(run id, error) of every failed call taken in since the last look (run id None: the store)."""
        found, self._errors = self._errors, []
        return found

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until everything sent so far is written; False if the child died or time ran out."""
        token = self.mark()
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.synced < token:
            if not self.alive or (deadline is not None and time.monotonic() > deadline):
                self.poll()
                return self.synced >= token
            self._collect(0.5)
        return True

    def close(self) -> None:
        """Stop the child once it has done what was sent (``drain`` first to know it is all written);
        a child that was never given work is stopped at once."""
        self._outbox.put(None)
        self._sender.join(timeout=STOP_SECONDS)
        try:
            self._process.wait(timeout=STOP_SECONDS if self._worked else 0.1)
        except subprocess.TimeoutExpired:  # stuck (a server that does not answer) or never used
            self._process.kill()
            self._process.wait()
        self._results.close()

    def _send(self, command: tuple) -> None:
        self._sent += 1
        self._worked = self._worked or command[0] not in ("open", "sync")
        self._outbox.put(pickle.dumps(command))

    def _send_all(self) -> None:
        """The sender thread: the pipe may be full while the child works; the trial never waits on it."""
        while (item := self._outbox.get()) is not None:
            try:
                self._commands.send_bytes(item)
            except OSError:  # the child is gone: what is left is lost (the study says so when it drains)
                break
        self._commands.close()

    def _collect(self, wait: float) -> None:
        """Read the child's reports, waiting up to ``wait`` seconds for the first one."""
        try:
            while self._results.poll(wait):
                kind, first, second = self._results.recv()
                wait = 0.0
                if kind == "error":
                    self._errors.append((first, second))
                elif kind == "synced":
                    self.synced = max(self.synced, first)
        except (EOFError, OSError):  # the child is gone
            return


def _serve(commands: Connection, results: Connection) -> None:
    """The child: make each call in order; report failures and syncs; stop at the end of the pipe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # imported now, while the study is prepared, not at the first figure
    from mlflow.tracking import MlflowClient

    from glasstune.errors import one_line
    from glasstune.figures import save_figure
    from glasstune.stores.tracking import while_away

    for name in ("mlflow", "alembic", "urllib3"):  # after MLflow's import, which sets its own levels
        logging.getLogger(name).setLevel(logging.CRITICAL)  # failures are reported to the study, in one line
    uri, client = "", None
    lost: dict[str, tuple[int, str]] = {}  # run id -> (calls that failed, the first error)
    while True:
        try:
            kind, run_id, *rest = pickle.loads(commands.recv_bytes())
        except (EOFError, OSError):  # the study closed the pipe, or its process died
            return
        try:
            if kind == "open":
                uri = rest[0]
                client = MlflowClient(uri)
                _open_store(client)
            elif kind in ("call", "figure"):
                client = client or MlflowClient(uri)  # the open failed: try again
                if kind == "call":
                    method, args, kwargs = rest
                    if method == "set_terminated" and run_id in lost:  # the run's status says records are missing
                        count, first = lost.pop(run_id)
                        kwargs = {**kwargs, "status": "FAILED"}
                        with contextlib.suppress(Exception):  # the store may refuse this too: end the run anyway
                            _mark_lost(client, run_id, count, first)
                    while_away(getattr(client, method), *args, **kwargs)  # a server restarting is waited for
                else:
                    figure, path = rest
                    loaded = pickle.loads(figure)
                    save_figure(loaded, path)
                    plt.close(loaded)
                    while_away(client.log_artifact, run_id, path)
            elif kind == "remove":
                shutil.rmtree(rest[0], ignore_errors=True)
            elif kind == "sync":
                results.send(("synced", rest[0], None))
        except Exception as error:  # reported, never raised: the trial's result is safe in Optuna
            if run_id is not None:
                count, first = lost.get(run_id, (0, one_line(error)))
                lost[run_id] = (count + 1, first)
            results.send(("error", run_id, one_line(error)))


def _mark_lost(client: Any, run_id: str, count: int, first: str) -> None:
    """Tag a run whose records were not all written (best effort: the store may still refuse)."""
    from mlflow.entities import RunTag

    from glasstune.stores.tracking import records_lost_tag

    client.log_batch(run_id, tags=[RunTag(key, value) for key, value in records_lost_tag(count, first).items()])


def _open_store(client: Any) -> None:
    """Open the store now, while the first trial trains; if it fails, the first real call says why."""
    try:
        client.search_experiments(max_results=1)
    except Exception:
        pass


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the study's to handle; it then drains us
    _serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
    os._exit(0)  # every call was made and acknowledged; skip MLflow's exit hooks (about 0.8 s)
