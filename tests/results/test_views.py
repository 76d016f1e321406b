"""What ``glasstune ui STUDY`` and ``glasstune dashboard`` add to the stores so that their first
screens show the trials: MLflow's saved view of the trial runs, optuna-dashboard's score name,
notes and figures. On a real study, without a browser (tests/results/test_browser.py looks)."""

from __future__ import annotations

import json

import optuna
from mlflow.tracking import MlflowClient

from glasstune.config import default_storage, default_tracking_uri
from glasstune.stores.tracking import Tracker

STUDY = '''
import optuna
from glasstune import Study
from glasstune.data.sources import SyntheticSoftness
from glasstune.objectives.mlp import CrossValidatedMLP


def space(trial):
    return {"hidden_layer_sizes": (trial.suggest_int("width", 4, 12),), "max_iter": 12, "solver": "adam",
            "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-3, 1e-1, log=True)}


STUDY = Study(name="views", data=SyntheticSoftness(0.45, n_frames=6, n_per_class=12),
              objective=CrossValidatedMLP(space, n_folds=3), n_trials=3,
              pruner=optuna.pruners.ThresholdPruner(lower=0.0))
'''


def test_the_ui_opens_on_a_saved_view_of_the_trials_and_the_dashboard_on_readable_trials(cli, write_study, tmp_path,
                                                                                       monkeypatch):
    from optuna.artifacts import FileSystemArtifactStore
    from optuna_dashboard import get_note, save_note

    from glasstune.results import ui
    from glasstune.results.dashboard import NOTE_MARK, prepare_studies
    from glasstune.stores.optuna_storage import open_storage

    assert cli("run", write_study(name="views", body=STUDY), "--no-progress").exit_code == 0
    tracker = Tracker.open(default_tracking_uri())
    experiment = tracker.find_experiment("views")

    # MLflow: a saved view of the experiment, and the address that opens it
    query, shows = ui.open_trials(tracker, experiment, "views", default_storage())
    assert query == "viewStateShareKey=glasstune-trials&workflowType=machine_learning"
    assert shows == 'the trials of views by held-out balanced accuracy (view "trials by held-out balanced accuracy")'
    tags = MlflowClient(default_tracking_uri()).get_experiment(experiment).tags
    envelope = json.loads(tags["mlflow.sharedViewState.glasstune-trials"])
    state = json.loads(envelope["state"])
    assert envelope["name"] == "trials by held-out balanced accuracy"
    assert state["searchFilter"] == "tags.`glasstune.role` = 'trial'"  # the trials, not folded under the study's run
    assert state["orderByKey"] == "metrics.`cv_balanced_accuracy`" and state["orderByAsc"] is False
    assert state["selectedColumns"] == state["columnOrder"] == [
        "metrics.`cv_balanced_accuracy`", "metrics.`memorisation_gap`", "tags.`glasstune.state`",
        "tags.`glasstune.synthetic`"]
    assert set(state["columnWidths"]) == set(state["selectedColumns"])
    ui.open_trials(tracker, experiment, "views", default_storage())  # saved again: still one view, same age
    again = json.loads(MlflowClient(default_tracking_uri()).get_experiment(experiment).tags[
        "mlflow.sharedViewState.glasstune-trials"])
    assert again["createdAt"] == envelope["createdAt"]

    def refuse(*args, **kwargs):
        raise PermissionError("read-only store")

    monkeypatch.setattr("glasstune.stores.views.save_runs_view", refuse)  # a store that refuses writes
    query, shows = ui.open_trials(tracker, experiment, "views", default_storage())
    assert "viewStateShareKey" not in query and "orderByKey=metrics.%60cv_balanced_accuracy%60" in query
    assert "searchFilter=tags.%60glasstune.role%60%20%3D%20%27trial%27" in query and "Columns" in shows

    # optuna-dashboard: the score's name, notes in words, the trials' figures
    storage = open_storage(default_storage(), heartbeat=False)
    store = FileSystemArtifactStore(str(tmp_path / "figures"))
    (tmp_path / "figures").mkdir()
    done = prepare_studies(storage, store, default_tracking_uri())
    study = optuna.load_study(study_name="views", storage=storage)
    assert study.metric_names == ["held-out balanced accuracy"]
    assert (done.named, done.notes, done.figures, done.problems) == (1, 4, 3, [])
    assert "- Best: trial" in get_note(study) and "**[SYNTHETIC]**" in get_note(study)
    best = optuna.trial.Trial(study, study.best_trial._trial_id)
    note = get_note(best)
    assert note.startswith(f"**held-out balanced accuracy {study.best_trial.value:.3f}**")
    assert f"memorisation gap **{study.best_trial.user_attrs['gap']:+.3f}**" in note and note.endswith(NOTE_MARK)
    figures = {key: json.loads(value) for key, value in storage.get_study_system_attrs(study._study_id).items()
               if key.startswith(f"dashboard:artifacts:{best._trial_id}:")}
    assert [meta["filename"] for meta in figures.values()] == ["loss_curves.png"]
    assert (tmp_path / "figures" / next(iter(figures.values()))["artifact_id"]).stat().st_size > 10_000
    save_note(best, "my own words")  # a person's note is theirs
    done = prepare_studies(storage, store, default_tracking_uri())
    assert (done.named, done.notes, done.figures) == (0, 0, 0) and get_note(best) == "my own words"
