"""``glasstune trials`` and ``best`` read by a person at 80 columns, and by a script unchanged."""

from __future__ import annotations

import json

import pytest

PRINTING_STUDY = '''
print("loading the lab's study file")  # study code that talks while it loads
{body}
'''


def _record(name: str, n_trials: int = 4) -> None:
    """A study as ``glasstune run`` leaves an MLP study in the Optuna storage (no training: the
    tables only read what is recorded), one trial pruned with its reason."""
    import optuna

    from glasstune.config import default_storage
    from glasstune.stores.optuna_storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(study_name=name, storage=open_storage(default_storage(), heartbeat=False),
                                direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.set_user_attr("glasstune.metric", "cv_balanced_accuracy")
    study.set_user_attr("glasstune.summary_columns", ["cv_score", "train_score", "gap"])
    study.set_user_attr("glasstune.provenance", {"name": "ka-softness-synthetic/T0.45", "synthetic": True})
    for number in range(n_trials):
        trial = study.ask()
        width = trial.suggest_int("width", 4, 12)
        rate = trial.suggest_float("learning_rate_init", 1e-3, 1e-1, log=True)
        cv = 0.6 + width / 100 + rate / 10
        trial.set_user_attr("cv_score", cv)
        trial.set_user_attr("train_score", 0.97 + rate / 10)
        trial.set_user_attr("gap", 0.97 + rate / 10 - cv)
        trial.report(cv, 10)
        if number == n_trials - 1:
            trial.set_user_attr("prune_reason", "pruned at epoch 10: held-out 0.519 < 0.603 (bottom 25 % of 3 "
                                                "complete trials at epoch 10)")
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, cv)


@pytest.fixture
def study(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    _record("tiny")


def test_trials_fit_80_columns_with_scores_at_3_decimals(cli, study):
    result = cli("trials", "tiny")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0].startswith("score: held-out balanced accuracy (maximize) · data: ka-softness-synthetic")
    header = next(line for line in lines if line.split()[:3] == ["#", "state", "score"])
    assert header.split() == ["#", "state", "score", "train", "gap", "time", "note"]  # no parameter, no repeat
    rows = [line.split() for line in lines if line.strip().split(" ")[0].isdigit()]
    assert [row[1] for row in rows] == ["COMPLETE"] * 3 + ["PRUNED"]
    assert "epoch 10: held-out 0.519 < 0.603 (bottom 25 %" in " ".join(result.stdout.split())  # folded, whole
    for row in rows:
        score, train, gap = row[2:5]
        assert len(score.split(".")[1]) == 3 and len(train.split(".")[1]) == 3
        assert gap[0] in "+-" and len(gap.split(".")[1]) == 3


def test_wide_shows_every_column_and_columns_picks_some(cli, study):
    wide = cli("trials", "tiny", "--wide")
    header = next(line for line in wide.stdout.splitlines() if line.split()[:2] == ["#", "state"])
    assert {"width", "learning_rate_init", "held-out", "train", "gap", "note"} <= set(header.split())
    picked = cli("trials", "tiny", "--columns", "number,gap,width")
    header = next(line for line in picked.stdout.splitlines() if line.split()[:1] == ["#"])
    assert header.split() == ["#", "gap", "width"]
    unknown = cli("trials", "tiny", "--columns", "number,colour")
    assert unknown.exit_code == 2 and "no column 'colour'" in unknown.stderr and "param_width" in unknown.stderr


def test_best_prints_four_significant_digits(cli, study):
    result = cli("best", "tiny")
    assert result.exit_code == 0, result.stderr
    head = result.stdout.splitlines()[0]
    assert head.startswith("trial ") and ": held-out balanced accuracy 0." in head
    numbers = [token for line in result.stdout.splitlines() for token in line.split()
               if token.replace(".", "", 1).replace("-", "", 1).replace("e", "", 1).isdigit() and "." in token]
    assert numbers and all(len(number.lstrip("0.").replace(".", "").split("e")[0]) <= 4 for number in numbers)


def test_json_stays_json_when_the_study_file_prints(cli, write_study):
    from tests.conftest import TINY_STUDY

    body = TINY_STUDY.format(name="talky", n_trials=2, pruner="optuna.pruners.NopPruner()")
    path = write_study(name="talky", body=PRINTING_STUDY.format(body=body))
    _record("talky", n_trials=2)
    result = cli("trials", path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["number"] for row in rows] == [0, 1] and "value" in rows[0] and "param_width" in rows[0]
    assert "loading the lab's study file" in result.stderr
    csv = cli("trials", path, "--format", "csv")
    assert csv.stdout.splitlines()[0] == "number,state,value,cv_score,train_score,gap,duration_s,param_width," \
                                         "param_learning_rate_init,note"
