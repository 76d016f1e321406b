"""Several first runs at once in an empty folder (two terminals, a SLURM array): one creates the
stores' tables while the others wait, and together they finish exactly the budget."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from glasstune.config import default_storage


@pytest.mark.slow  # over 10 s: runs in make test after the fast suite
def test_three_first_runs_at_once_share_the_new_stores(write_study):
    path = write_study(n_trials=2)
    command = [sys.executable, "-m", "glasstune", "run", str(path), "--no-progress"]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
    results = [(process.wait(timeout=300), process.communicate()) for process in processes]
    assert [code for code, _ in results] == [0, 0, 0], [err for _, (_, err) in results]
    study = optuna.load_study(study_name="tiny", storage=default_storage())
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 2
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.FAIL))
