"""End to end through the CLI: run a tiny study, then read Optuna's storage and MLflow's store back."""

from __future__ import annotations

import json

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient

from glasstune.config import default_storage, default_tracking_uri


def _study(name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=default_storage())


def _child_runs(name: str) -> list:
    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id], "tags.`glasstune.role` = 'trial'")
    return sorted(runs, key=lambda run: int(run.data.tags["glasstune.trial_number"]))


def test_run_tracks_every_trial_as_a_child_run(cli, write_study):
    result = cli("run", write_study(n_trials=3), "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "3/3 finished" in result.stdout and "memorisation gap" in result.stdout

    trials = _study("tiny").trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name("tiny")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI's training pages
    parent_id = _study("tiny").user_attrs["glasstune.mlflow_parent_run_id"]
    assert client.get_run(parent_id).info.status == "FINISHED"
    runs = _child_runs("tiny")
    assert len(runs) == 3
    for trial, run in zip(trials, runs, strict=True):
        assert run.info.run_id == trial.user_attrs["mlflow_run_id"]
        assert run.data.tags["mlflow.parentRunId"] == parent_id
        assert run.info.status == "FINISHED" and run.data.tags["glasstune.state"] == "COMPLETE"
        assert run.data.tags["glasstune.synthetic"] == "true"
        assert run.data.params["width"] == str(trial.params["width"])
        assert run.data.metrics["cv_balanced_accuracy"] == pytest.approx(trial.value, abs=5e-4)  # 4 digits logged
        history = client.get_metric_history(run.info.run_id, "loss_fold1")
        assert [m.step for m in history] == list(range(1, trial.params["max_iter"] + 1))
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"config.json", "folds.csv", "loss_curves.png"} <= artifacts


def test_budget_is_total_so_rerun_adds_only_missing_trials(cli, write_study):
    path = write_study(n_trials=2)
    assert cli("run", path, "--no-progress").exit_code == 0
    parent = _study("tiny").user_attrs["glasstune.mlflow_parent_run_id"]
    again = cli("run", path, "--no-progress")
    assert again.exit_code == 0 and "nothing to do" in again.stdout
    assert len(_study("tiny").trials) == 2
    more = cli("run", path, "--n-trials", "4", "--no-progress")
    assert more.exit_code == 0 and "2 trial(s) run now, 4/4" in more.stdout
    assert len(_study("tiny").trials) == 4
    assert _study("tiny").user_attrs["glasstune.mlflow_parent_run_id"] == parent  # same parent when resumed
    assert len(_child_runs("tiny")) == 4


def test_pruned_and_failed_trials_show_as_such_in_mlflow(cli, write_study):
    body = '''
    import optuna
    from glasstune import Study
    from glasstune.data.sources import SyntheticSoftness
    from glasstune.objectives.mlp import CrossValidatedMLP

    def space(trial):
        kind = trial.suggest_categorical("kind", ["good", "bad"])
        if kind == "bad":
            raise ValueError("bad parameter combination")
        return {"hidden_layer_sizes": (6,), "max_iter": 20}

    STUDY = Study(name="mixed", data=SyntheticSoftness(0.45, n_frames=6, n_per_class=12),
                  objective=CrossValidatedMLP(space, n_folds=3), n_trials=3,
                  sampler=optuna.samplers.BruteForceSampler(seed=0),
                  pruner=optuna.pruners.ThresholdPruner(lower=0.99))
    '''
    result = cli("run", write_study(name="mixed", body=body), "--no-progress")
    states = {t.number: t.state.name for t in _study("mixed").trials}
    assert set(states.values()) <= {"PRUNED", "FAIL"} and "FAIL" in states.values()
    for run in _child_runs("mixed"):
        state = run.data.tags["glasstune.state"]
        assert state == states[int(run.data.tags["glasstune.trial_number"])]
        if state == "PRUNED":
            assert run.info.status == "KILLED"
            assert "pruned at epoch 10: held-out" in run.data.tags["glasstune.prune_reason"]  # the first report
        else:
            assert run.info.status == "FAILED"
            assert "bad parameter combination" in run.data.tags["glasstune.error"]
    assert not [r for r in _child_runs("mixed") if r.info.status == "RUNNING"]
    assert result.exit_code == 0 or "failed in a row" in result.stderr


def test_smoke_leaves_the_real_study_untouched(cli, write_study):
    result = cli("run", write_study(n_trials=5), "--smoke", "--no-progress")
    assert result.exit_code == 0, result.stderr
    names = {s.study_name for s in optuna.get_all_study_summaries(default_storage())}
    assert names == {"tiny-smoke"}
    assert MlflowClient(default_tracking_uri()).get_experiment_by_name("tiny-smoke") is not None


def test_trials_best_and_export(cli, write_study, tmp_path):
    path = write_study(n_trials=3)
    cli("run", path, "--no-progress")
    table = cli("trials", "tiny", "--format", "json")
    rows = json.loads(table.stdout)
    assert len(rows) == 3 and {"cv_score", "train_score", "gap", "duration_s"} <= set(rows[0])
    assert "tiny" in cli("trials", str(path)).stdout  # the study file stands for the study
    assert "held-out balanced accuracy" in cli("best", "tiny").stdout

    exported = cli("export", "tiny", "-o", "best.yaml", "--top", "2")
    assert exported.exit_code == 0, exported.stderr
    document = yaml.safe_load((tmp_path / "best.yaml").read_text())
    best = max(t.value for t in _study("tiny").trials)
    assert [t["rank"] for t in document["trials"]] == [1, 2]
    first = document["trials"][0]
    assert first["value"] == best and "width" in first["params"] and first["seed"] is not None
    assert first["mlflow_run_id"] == _study("tiny").trials[first["trial"]].user_attrs["mlflow_run_id"]
    assert first["retrain"].startswith("glasstune retrain best.yaml")
    assert document["data"]["provenance"]["synthetic"] is True
    assert {"glasstune", "optuna", "mlflow", "scikit-learn", "torch"} <= set(document["versions"])

    retrained = cli("retrain", "best.yaml", "--out", "model")
    assert retrained.exit_code == 0, retrained.stderr
    assert f"score {best:.4f} (recorded {best:.4f})" in retrained.stdout  # same seed, same folds
    written = {f.name for f in (tmp_path / "model").iterdir()}
    assert {"model", "retrain.json", "loss_curves.png", "folds.csv", "config.json"} <= written
    assert (tmp_path / "model" / "model" / "MLmodel").exists()  # the final model, as an MLflow model

    as_json = cli("export", "tiny", "-o", "best.json")
    assert json.loads((tmp_path / "best.json").read_text())["study"] == "tiny" and as_json.exit_code == 0


def test_the_summary_says_why_the_run_stopped(cli, write_study):
    path = write_study(n_trials=2)
    done = cli("run", path, "--no-progress")
    assert "2/2 finished; stopped because the budget is met." in " ".join(done.stdout.split())
    timed = cli("run", path, "--no-progress", "--n-trials", "500", "--timeout", "1")
    assert timed.exit_code == 0, timed.stderr
    assert "stopped because the timeout of 1 s passed" in " ".join(timed.stdout.split())


def test_a_study_refuses_other_data_under_its_name(cli, write_study):
    from tests.recorded_study import snapshot

    path = write_study(n_trials=1)
    assert cli("run", path, "--no-progress").exit_code == 0
    before = snapshot("tiny")
    assert _study("tiny").user_attrs["glasstune.objective_settings"]["n_folds"] == 3
    path.write_text(path.read_text().replace("n_per_class=12", "n_per_class=13"))
    result = cli("run", path, "--no-progress", "--n-trials", "2")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: study 'tiny' was made on other data")
    assert len(result.stderr.splitlines()) == 1
    assert "give the study another name" in result.stderr
    assert snapshot("tiny") == before


BASELINE_STUDY = '''
from glasstune import Study
from glasstune.data.sources import SyntheticSoftness


class WithBaseline:
    summary_columns = ()

    def __call__(self, ctx):
        return 0.6 + 0.01 * ctx.trial.suggest_int("k", 0, 3)

    def baseline(self, data):
        return {"name": "always 0.7", "score": 0.7, "spread": 0.02}


STUDY = Study(name="based", data=SyntheticSoftness(0.45, n_frames=6, n_per_class=12), objective=WithBaseline(),
              n_trials=2)
'''


def test_the_baseline_is_scored_once_recorded_and_shown_beside_the_best(cli, write_study):
    result = cli("run", write_study(name="based", body=BASELINE_STUDY), "--no-progress")
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "Baseline: always 0.7 scores 0.7000 on the same folds; the best trial is below the baseline" in text
    study = _study("based")
    assert study.user_attrs["glasstune.baseline"]["score"] == 0.7
    parent = MlflowClient(default_tracking_uri()).get_run(study.user_attrs["glasstune.mlflow_parent_run_id"])
    assert parent.data.metrics["baseline_score"] == 0.7


def test_a_search_space_that_changed_kind_stops_the_study_at_once(cli, write_study):
    path = write_study(n_trials=1)
    assert cli("run", path, "--no-progress").exit_code == 0
    path.write_text(path.read_text().replace('(trial.suggest_int("width", 4, 12),)',
                                             '(int(trial.suggest_float("width", 4, 12)),)'))
    result = cli("run", path, "--no-progress", "--n-trials", "5")
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "the search space changed" in result.stderr and "give the study another name" in result.stderr
    assert [t.state.name for t in _study("tiny").trials] == ["COMPLETE", "FAIL"]  # not five failures in a row


def test_a_study_run_again_does_not_draw_its_first_configurations_again(cli, write_study):
    path = write_study(n_trials=2)
    assert cli("run", path, "--no-progress").exit_code == 0
    assert cli("run", path, "--no-progress", "--n-trials", "4").exit_code == 0
    first, second = [[t.params for t in _study("tiny").trials[i:i + 2]] for i in (0, 2)]
    assert first != second  # seeded as on its first run, TPE's random start drew the same two again
