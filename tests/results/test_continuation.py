"""``glasstune continue``: a finished CNN trial trained further, as a new MLflow run, Optuna untouched."""

from __future__ import annotations

import pytest

CNN_STUDY = '''
import optuna
from glasstune import Study
from glasstune.data.image_sets import SyntheticImages
from glasstune.objectives.cnn import CNNObjective


def space(trial):
    return {{"batch_size": trial.suggest_int("batch_size", 8, 16), "learning_rate": 2e-3, "dropout": 0.3,
             "l2_beta": 0.01, "schedule": "constant", "augment": False}}


STUDY = Study(
    name="tinycnn",
    data=SyntheticImages(n_per_class=30, size=24, particles_across=6, seed={data_seed}),
    objective=CNNObjective(space, iterations=3, eval_examples=40, test_curve_examples=16,
                           checkpoint_every=1, checkpoint_seconds=0.0),
    n_trials=1,
    pruner=optuna.pruners.NopPruner(),
)
'''


class Stopped(Exception):
    pass


def _snapshot(trial):
    """Everything Optuna holds about a trial."""
    return (trial.state, trial.value, trial.params, trial.user_attrs, trial.system_attrs,
            trial.intermediate_values, trial.datetime_start, trial.datetime_complete)


def _one_error_line(result, expected: str) -> None:
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def _steps(client, run_id: str, key: str) -> list[int]:
    return sorted(metric.step for metric in client.get_metric_history(run_id, key))


@pytest.mark.slow  # over 10 s: runs in make test after the fast suite
def test_resume_continues_a_cnn_trial_as_a_new_run_and_refuses_what_it_cannot_do(cli, write_study, tmp_path):
    import optuna
    from mlflow.tracking import MlflowClient

    from glasstune.config import default_storage, default_tracking_uri
    from glasstune.objectives.cnn.checkpoints import LATEST, load_checkpoint
    from glasstune.results.continuation import continue_trial
    from glasstune.study.loader import load_study_file

    study_file = write_study(name="tinycnn", body=CNN_STUDY.format(data_seed=0))
    ran = cli("run", study_file, "--no-progress", "--device", "cpu")
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    study = optuna.load_study(study_name="tinycnn", storage=default_storage())
    before = _snapshot(study.trials[0])
    original_run = study.trials[0].user_attrs["mlflow_run_id"]
    trial_folder = tmp_path / "mlruns" / "checkpoints" / "tinycnn" / "trial-0000"
    assert load_checkpoint(trial_folder / "rep0" / LATEST)["iteration"] == 3

    result = cli("continue", study_file, "--trial", "0", "--iterations", "2", "--device", "cpu")
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and "trial 0 of tinycnn continued" in lines[0]
    assert "iterations 3 -> 5" in lines[0] and f"{before[1]:.4f} -> " in lines[0]

    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name("tinycnn")
    continued = [run for run in client.search_runs([experiment.experiment_id])
                 if run.data.tags.get("glasstune.continued_from_run")]
    assert len(continued) == 1
    run = continued[0]
    assert run.info.run_id in lines[0] and run.info.status == "FINISHED"
    assert run.data.tags["glasstune.continued_from_run"] == original_run
    assert run.data.tags["glasstune.trial_number"] == "0"
    assert run.data.tags["mlflow.parentRunId"] == study.user_attrs["glasstune.mlflow_parent_run_id"]
    assert run.data.tags["glasstune.role"] == "continuation"
    assert run.data.metrics["iterations"] == 5 and run.data.metrics["resumed_from"] == 3
    assert _steps(client, original_run, "val_acc") == list(range(4))
    assert _steps(client, run.info.run_id, "val_acc") == list(range(6))  # the trial's curve, then 2 more
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"curves.png", "history.csv", "model_best.pt", "results.json", "confusion_matrix.png"} <= artifacts

    # a continuation is not a trial: Optuna and the trial's own checkpoints are as they were
    study = optuna.load_study(study_name="tinycnn", storage=default_storage())
    assert len(study.trials) == 1 and _snapshot(study.trials[0]) == before
    assert load_checkpoint(trial_folder / "rep0" / LATEST)["iteration"] == 3
    continued_folder = tmp_path / "mlruns" / "checkpoints" / "tinycnn" / run.data.tags[
        "glasstune.checkpoint_dir"].rsplit("/", 1)[-1]
    assert load_checkpoint(continued_folder / "rep0" / LATEST)["iteration"] == 5

    # stopped mid-way: the run it made ends FAILED, its half-done checkpoints go, Optuna is untouched
    def stop_at_4(text: str) -> None:
        if text.startswith("iteration 4/"):
            raise Stopped

    with pytest.raises(Stopped):
        continue_trial(load_study_file(study_file), 0, 2, storage=default_storage(),
                     tracking_uri=default_tracking_uri(), device="cpu", on_status=stop_at_4)
    failed = [run for run in client.search_runs([experiment.experiment_id]) if run.info.status == "FAILED"]
    assert len(failed) == 1 and "Stopped" in failed[0].data.tags["glasstune.error"]
    assert failed[0].data.tags["glasstune.continued_from_run"] == original_run
    assert sorted(path.name for path in trial_folder.parent.iterdir()) == ["trial-0000", continued_folder.name]

    def runs_now() -> int:
        return len(client.search_runs([experiment.experiment_id]))

    count = runs_now()
    _one_error_line(cli("continue", study_file, "--trial", "7", "--iterations", "2"), "has no trial 7 (trials 0-0)")
    _one_error_line(cli("continue", study_file, "--trial", "0", "--iterations", "0"),
                    "give the number of iterations to add")
    changed = write_study(name="tinycnn", body=CNN_STUDY.format(data_seed=12))
    _one_error_line(cli("continue", changed, "--trial", "0", "--iterations", "2", "--device", "cpu"),
                    "these checkpoints were trained on other data")
    assert runs_now() == count  # refused before the run was made
    folders = sorted(path.name for path in trial_folder.parent.iterdir())
    assert folders == ["trial-0000", continued_folder.name]  # the refused continuation left no folder
    write_study(name="tinycnn", body=CNN_STUDY.format(data_seed=0))
    (trial_folder / "rep0" / LATEST).unlink()
    _one_error_line(cli("continue", study_file, "--trial", "0", "--iterations", "2"),
                    "trial 0 of tinycnn has no checkpoints to continue from")
    assert runs_now() == count
    study = optuna.load_study(study_name="tinycnn", storage=default_storage())
    assert len(study.trials) == 1 and _snapshot(study.trials[0]) == before

    # an MLP trial (same stores, so no second MLflow store to set up) has nothing to continue
    mlp_file = write_study(n_trials=1)
    assert cli("run", mlp_file, "--no-progress").exit_code == 0
    _one_error_line(cli("continue", mlp_file, "--trial", "0", "--iterations", "2"), "only CNN trials keep checkpoints")


@pytest.mark.parametrize("case, expected", [
    ("mlp", "has no checkpoints: its objective is CrossValidatedMLP, and only CNN trials keep checkpoints"),
    ("no folder", "trial 0 of tinycnn has no checkpoints to continue from: no latest.pt in"),
    ("unknown trial", "study 'tinycnn' has no trial 3 (trials 0-1)"),
    ("running trial", "trial 1 of tinycnn is running; continue it once it has finished"),
])
def test_refusals_come_before_any_store_or_data_is_touched(cli, write_study, tmp_path, case, expected):
    """Optuna records made directly (no training): each refusal is one line, and no MLflow store is made."""
    import optuna

    from glasstune.config import default_storage

    mlp = case == "mlp"
    study_file = write_study(n_trials=1) if mlp else write_study(name="tinycnn", body=CNN_STUDY.format(data_seed=0))
    (tmp_path / "mlruns").mkdir()
    study = optuna.create_study(study_name="tiny" if mlp else "tinycnn", storage=default_storage(),
                                direction="maximize")
    study.tell(study.ask(), 0.5)
    study.ask()  # trial 1 stays RUNNING
    trial = "3" if case == "unknown trial" else "1" if case == "running trial" else "0"
    _one_error_line(cli("continue", study_file, "--trial", trial, "--iterations", "2"), expected)
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()
    assert not (tmp_path / "mlruns" / "checkpoints").exists()


def test_help_says_a_continuation_is_not_a_new_trial():
    from typer.testing import CliRunner

    from glasstune.cli.app import app

    result = CliRunner().invoke(app, ["continue", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "not a new trial" in " ".join(result.output.split())


def test_a_study_that_never_ran_has_nothing_to_resume(cli, write_study):
    _one_error_line(cli("continue", write_study(n_trials=1), "--trial", "0", "--iterations", "2"),
                    "no study named 'tiny'")


@pytest.mark.parametrize("iterations", ["0", "-3"])
def test_iterations_below_one_are_refused_before_anything_loads(cli, write_study, iterations):
    _one_error_line(cli("continue", write_study(n_trials=1), "--trial", "0", "--iterations", iterations),
                    f"--iterations {iterations}")


def test_resume_is_still_understood_as_the_former_name_of_continue(cli, write_study):
    _one_error_line(cli("resume", write_study(n_trials=1), "--trial", "0", "--iterations", "2"),
                    "no study named 'tiny'")
