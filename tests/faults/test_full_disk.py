"""The MLflow store's disk fills up mid-study (a real tmpfs, mounted small): every trial's result is
still saved in Optuna, each run that lost records says so in its status and in one line, no
traceback is printed, and doctor lists the runs whose records are missing."""

from __future__ import annotations

import shutil
import subprocess

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs mounted at tmp_path/full; yields a function that sizes it to hold ``size_kb`` KiB."""
    mount = tmp_path / "full"
    mount.mkdir()

    def make(size_kb: int):
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mount)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"a small tmpfs cannot be mounted here: {done.stderr.strip()}")
        return mount

    yield make
    subprocess.run(["umount", str(mount)], capture_output=True)


@pytest.mark.slow  # over 10 s: runs in make test after the fast suite
def test_a_full_disk_costs_records_not_results_and_says_so(cli, write_study, tmp_path, small_disk):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    path = write_study(n_trials=6)
    first = tmp_path / "first"
    assert cli("run", path, "--no-progress", "--n-trials", "1", "--storage", storage,
               "--tracking-uri", f"sqlite:///{first / 'mlflow.db'}").exit_code == 0
    size_kb = (first / "mlflow.db").stat().st_size // 1024
    disk = small_disk(size_kb + 160)  # room for a trial or two more
    shutil.copytree(first, disk, dirs_exist_ok=True)
    tracking = f"sqlite:///{disk / 'mlflow.db'}"

    result = cli("run", path, "--no-progress", "--storage", storage, "--tracking-uri", tracking)
    assert result.exit_code == 0, result.stderr
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 6  # every result kept
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and all("MLflow record(s) not written" in line and "is marked FAILED" in line for line in lines)
    assert "Traceback" not in result.stderr
    client = MlflowClient(tracking)
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id], "tags.`glasstune.role` = 'trial'")
    lost = [run for run in runs if "glasstune.records_lost" in run.data.tags]
    assert len(lost) == len(lines) and all(run.info.status == "FAILED" for run in lost)
    assert not [run for run in runs if run.info.status == "RUNNING"]
    doctor = cli("doctor", "tiny", "--storage", storage, "--tracking-uri", tracking)
    assert doctor.exit_code == 1 and "records lost" in doctor.stdout
