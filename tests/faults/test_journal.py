"""A journal file whose last record was cut short (the process died mid-append): the next run sets
the tail aside in a backup file before it writes anything, instead of gluing its first record to it."""

from __future__ import annotations

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage

CUT_SHORT = b'{"op_code": 5, "worker_id": "w", "trial_id": 0, "param_na'


def _journal(tmp_path):
    path = tmp_path / "mlruns" / "study.log"
    return path, f"journal:///{path}"


def test_a_cut_short_journal_tail_is_set_aside_and_the_study_goes_on(cli, write_study, tmp_path):
    path, url = _journal(tmp_path)
    study_file = write_study(n_trials=1)
    assert cli("run", study_file, "--no-progress", "--storage", url).exit_code == 0
    path.write_bytes(path.read_bytes() + CUT_SHORT)

    result = cli("run", study_file, "--no-progress", "--storage", url, "--n-trials", "2")
    assert result.exit_code == 0, result.stderr
    assert "last record was cut short" in result.stderr
    backups = list(path.parent.glob("study.log.damaged-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == CUT_SHORT
    study = optuna.load_study(study_name="tiny", storage=JournalStorage(JournalFileBackend(str(path))))
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert cli("trials", "tiny", "--storage", url, "--format", "csv").exit_code == 0


def test_damage_before_the_end_is_refused_in_one_line(cli, write_study, tmp_path):
    path, url = _journal(tmp_path)
    study_file = write_study(n_trials=1)
    assert cli("run", study_file, "--no-progress", "--storage", url).exit_code == 0
    lines = path.read_bytes().splitlines(keepends=True)
    damaged = b"".join([*lines[:2], CUT_SHORT + lines[2], *lines[3:]])
    path.write_bytes(damaged)
    result = cli("run", study_file, "--no-progress", "--storage", url, "--n-trials", "2")
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert "record 3 is damaged" in result.stderr and "restore the file" in result.stderr
    assert path.read_bytes() == damaged  # nothing written
