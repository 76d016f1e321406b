"""A password in a store's URL, whatever characters it holds, appears nowhere glasstune writes or
shows: output, errors, study and trial attributes, run tags and parameters, artifacts, exports, and
the command line of a server it starts (every user of a machine can read those with ps)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient

from glasstune.config import default_tracking_uri

SECRET = "S3cr/et:pw"
"""Raw: '/' and ':' are legal in a database URL's password and broke the old redaction."""


def _with_password(url: str, password: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@")


def _everything_recorded(study_name: str, storage: str) -> str:
    """Every text a run leaves in both stores, and every artifact file."""
    study = optuna.load_study(study_name=study_name, storage=storage)
    parts = [json.dumps(study.user_attrs, default=str)]
    parts += [json.dumps([t.user_attrs, t.params], default=str) for t in study.trials]
    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name(study_name).experiment_id
    for run in client.search_runs([experiment]):
        parts.append(json.dumps([run.data.tags, run.data.params]))
    parts += [path.read_text(errors="replace") for path in Path("mlruns", "artifacts").rglob("*")
              if path.is_file() and path.suffix in (".json", ".csv", ".txt", ".yaml")]
    return "\n".join(parts)


@pytest.mark.postgres
@pytest.mark.parametrize("password", [SECRET, "S3cr%2Fet%3Apw"], ids=["raw", "percent-encoded"])
def test_no_password_anywhere(cli, write_study, postgres_url, tmp_path, password):
    storage = _with_password(postgres_url, password)  # the server trusts any password: it is only carried
    secret = "S3cr"
    path = write_study(n_trials=2)
    outputs = [cli("run", path, "--no-progress", "--storage", storage)]
    assert outputs[0].exit_code == 0, outputs[0].stderr
    outputs += [cli("trials", "tiny", "--storage", storage), cli("best", "tiny", "--storage", storage),
                cli("export", "tiny", "-o", "best.yaml", "--storage", storage),
                cli("doctor", "tiny", "--storage", storage)]
    bad_host = storage.replace("127.0.0.1:5432", "127.0.0.1:1")
    outputs.append(cli("trials", "tiny", "--storage", bad_host))
    assert outputs[-1].exit_code == 2
    for result in outputs:
        assert secret not in result.stdout + result.stderr
    assert secret not in (tmp_path / "best.yaml").read_text()
    assert secret not in _everything_recorded("tiny", storage)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.postgres
def test_the_ui_server_command_line_holds_no_password(postgres_url, tmp_path):
    tracking = _with_password(postgres_url, SECRET)
    port = _free_port()
    ui = subprocess.Popen([sys.executable, "-m", "glasstune", "ui", "--port", str(port), "--tracking-uri", tracking],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        lines: list[str] = []
        while time.monotonic() < deadline and not lines:
            lines = [Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").replace("\0", " ")
                     for pid in _descendants(ui.pid)]
            time.sleep(0.5)
        assert lines, "the ui started no server"
        assert all("S3cr" not in line for line in lines), lines
    finally:
        ui.terminate()
        ui.communicate(timeout=60)


def _descendants(pid: int) -> list[int]:
    found = []
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = path.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(path.parent.name)
            found += [child, *_descendants(child)]
    return found
