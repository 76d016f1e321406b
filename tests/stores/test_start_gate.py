"""The start gate: workers that decide at the same moment still start exactly the budget's trials."""

from __future__ import annotations

import threading
import time

import optuna
import pytest

from glasstune.stores.optuna_storage import open_storage
from glasstune.stores.start_gate import StartGate


def _race(url: str, workers: int = 4, budget: int = 6) -> list:
    """``workers`` threads, each with its own storage and gate, start trials until the gate says no."""
    optuna.create_study(study_name="race", storage=open_storage(url, heartbeat=False))
    errors: list[BaseException] = []

    def work() -> None:
        study = optuna.load_study(study_name="race", storage=open_storage(url, heartbeat=False))
        gate = StartGate(study, budget, url)
        try:
            while gate.admit():
                trial = study.ask()
                gate.release()
                time.sleep(0.02)  # the trial's work
                study.tell(trial, 0.5)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)
        finally:
            gate.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return optuna.load_study(study_name="race", storage=open_storage(url, heartbeat=False)).trials


def test_racing_workers_start_exactly_the_budget_on_sqlite(tmp_path):
    trials = _race(f"sqlite:///{tmp_path / 'optuna.db'}")
    assert len(trials) == 6
    assert all(t.state.name == "COMPLETE" for t in trials)


def test_racing_workers_start_exactly_the_budget_on_a_journal_file(tmp_path):
    trials = _race(f"journal:///{tmp_path / 'study.log'}")
    assert len(trials) == 6


@pytest.mark.postgres
def test_racing_workers_start_exactly_the_budget_on_postgresql(postgres_url):
    trials = _race(postgres_url)
    assert len(trials) == 6


def test_a_worker_waits_while_another_starts_a_trial_then_counts_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="s", storage=url)
    study.tell(study.ask(), 1.0)
    first, second = StartGate(study, 2, url), StartGate(study, 2, url)
    assert first.admit()
    answer: list[bool] = []
    waiting = threading.Thread(target=lambda: answer.append(second.admit()))
    waiting.start()
    waiting.join(timeout=0.5)
    assert waiting.is_alive() and not answer  # blocked while the first decides
    study.ask()  # the first worker's trial, RUNNING
    first.release()
    waiting.join(timeout=10)
    assert answer == [False]  # 1 finished + 1 running fill the budget of 2
    first.close()
    second.close()


def test_the_lock_is_freed_when_its_holder_closes(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="s", storage=url)
    holder = StartGate(study, 5, url)
    assert holder.admit()
    holder.close()
    other = StartGate(study, 5, url)
    assert other.admit()  # returns at once: nothing holds the lock
    other.close()


def test_a_lock_that_cannot_be_made_is_one_clear_error(tmp_path):
    from glasstune.errors import StoreError
    from glasstune.stores.start_gate import _lock_for

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(StoreError, match="start lock .* make its folder writable"):
        _lock_for(f"sqlite:///{blocker / 'optuna.db'}", "study")


def test_a_database_that_went_away_is_one_clear_error():
    from types import SimpleNamespace

    from glasstune.errors import StoreError

    with pytest.raises(StoreError, match=r"u:\*\*\*@127.0.0.1:1/x: no connection for the study's start lock") as error:
        StartGate(SimpleNamespace(study_name="s"), 1, "postgresql://u:secret@127.0.0.1:1/x")
    assert "secret" not in str(error.value)
