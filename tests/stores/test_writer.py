"""The background writer: a study's MLflow records written by a child process, in order, on a real store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from matplotlib.figure import Figure
from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from glasstune.stores.writer import BackgroundWriter


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("writer", artifact_location=(tmp_path / "artifacts").as_uri())
    return uri, client, experiment


def test_records_land_in_order_and_the_folder_goes_after_its_files(store, tmp_path):
    uri, client, experiment = store
    run_id = client.create_run(experiment).info.run_id
    folder = tmp_path / "trial"
    folder.mkdir()
    (folder / "folds.csv").write_text("fold,score\n1,0.7\n")
    figure = Figure()
    figure.add_subplot().plot([1, 2, 3], [3, 2, 1])
    writer = BackgroundWriter()
    writer.open(uri)
    try:
        losses = [Metric("loss", 1.0 / step, 0, step) for step in range(1, 301)]
        writer.call(run_id, "log_batch", run_id, metrics=losses)
        writer.call(run_id, "log_artifact", run_id, str(folder / "folds.csv"))
        writer.figure(run_id, figure, folder / "curves.png")
        writer.call(run_id, "set_terminated", run_id, status="FINISHED")
        writer.remove(folder)
        assert writer.drain(timeout=60)
    finally:
        writer.close()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert len(client.get_metric_history(run_id, "loss")) == 300
    assert {a.path for a in client.list_artifacts(run_id)} == {"folds.csv", "curves.png"}
    assert not folder.exists()  # removed only after both files were copied
    assert writer.errors() == []


def test_a_failed_call_is_reported_with_its_run_and_the_next_ones_still_land(store):
    uri, client, experiment = store
    broken, fine = (client.create_run(experiment).info.run_id for _ in range(2))
    client.delete_run(broken)  # the store refuses records for a deleted run
    writer = BackgroundWriter()
    writer.open(uri)
    try:
        writer.call(broken, "log_batch", broken, tags=[RunTag("a", "1")])
        mark = writer.mark()
        writer.call(fine, "log_batch", fine, tags=[RunTag("b", "2")])
        assert writer.drain(timeout=60) and writer.synced >= mark
        errors = writer.errors()
    finally:
        writer.close()
    assert len(errors) == 1 and errors[0][0] == broken and "MlflowException" in errors[0][1]
    assert client.get_run(fine).data.tags["b"] == "2"


def test_the_child_ignores_ctrl_c_and_leaves_when_its_parent_dies(store, tmp_path):
    uri, client, experiment = store
    script = textwrap.dedent(f"""
        import os, sys, time
        from glasstune.stores.writer import BackgroundWriter
        writer = BackgroundWriter()
        writer.open({uri!r})
        assert writer.drain(timeout=60)
        print(writer._process.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    os.kill(child, signal.SIGINT)  # Ctrl-C reaches the whole process group: the child stays for the study
    time.sleep(1.5)
    assert _alive(child)
    parent.kill()  # SIGKILL: no chance to say goodbye
    parent.wait()
    deadline = time.monotonic() + 15
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(child), "the writer's child outlived its study's process"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"  # a zombie has exited, waiting to be reaped
    except FileNotFoundError:
        return False
