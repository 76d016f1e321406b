"""Several trials trained together (an objective's run_batch), and studies that start from their
siblings' best configurations: each trial still has its own outcome and MLflow run."""

from __future__ import annotations

import csv
import io

import optuna
from mlflow.tracking import MlflowClient

from glasstune.config import default_storage, default_tracking_uri

BATCHED = """
import csv
import io

import optuna
from glasstune import Study
from glasstune.data.sources import SyntheticSoftness


class Batched:
    summary_columns = ("batch",)

    def trials_per_batch(self, device):
        return 3

    def __call__(self, ctx):
        return self.run_batch([ctx])[0]

    def run_batch(self, contexts):
        results = []
        for ctx in contexts:
            x = ctx.trial.suggest_float("x", 0.0, 1.0)
            ctx.summarize(batch=len(contexts))
            if ctx.trial.number == 1:
                results.append(ValueError("boom in trial 1"))
                continue
            try:
                ctx.report(x, 1)
            except optuna.TrialPruned as pruned:
                results.append(pruned)
                continue
            results.append(x)
        return results


STUDY = Study(name="batched", data=SyntheticSoftness(0.45, n_frames=6, n_per_class=12), objective=Batched(),
              n_trials=5, pruner=optuna.pruners.ThresholdPruner(lower=0.2))
"""


def _trials(name: str) -> list:
    return optuna.load_study(study_name=name, storage=default_storage()).trials


def test_trials_of_a_batch_each_get_their_own_outcome_and_run(cli, write_study):
    result = cli("run", write_study(name="batched", body=BATCHED), "--no-progress")
    assert result.exit_code == 0, result.stderr
    trials = _trials("batched")
    assert [t.user_attrs["batch"] for t in trials[:3]] == [3, 3, 3]  # the objective's own choice
    assert trials[1].state.name == "FAIL" and trials[1].user_attrs["error"] == "ValueError: boom in trial 1"
    client = MlflowClient(default_tracking_uri())
    for trial in trials:
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.data.tags["glasstune.state"] == trial.state.name
        expected = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}[trial.state.name]
        assert run.info.status == expected
    failed = client.get_run(trials[1].user_attrs["mlflow_run_id"])
    assert "traceback.txt" in {a.path for a in client.list_artifacts(failed.info.run_id)}
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 5  # exactly the budget, batch or not


def test_the_command_line_sets_the_batch_and_an_objective_without_batches_refuses_one(cli, write_study):
    result = cli("run", write_study(name="batched", body=BATCHED), "--no-progress", "--trials-per-batch", "2")
    assert result.exit_code == 0, result.stderr
    assert _trials("batched")[0].user_attrs["batch"] == 2
    one_at_a_time = SIBLING.format(name="plain", temperature=0.45, warm=[])  # a plain function objective
    refused = cli("run", write_study(name="plain", body=one_at_a_time), "--no-progress", "--trials-per-batch", "2")
    assert refused.exit_code == 2 and "trains one trial at a time" in refused.stderr


SIBLING = """
from glasstune import Study
from glasstune.data.sources import SyntheticSoftness


def objective(ctx):
    return -abs(ctx.trial.suggest_float("x", 0.0, 1.0) - 0.3)


STUDY = Study(name="{name}", data=SyntheticSoftness({temperature}, n_frames=6, n_per_class=12), objective=objective,
              n_trials=4, warm_start={warm}, warm_start_top=2)
"""


def test_a_study_starts_from_its_colder_siblings_best_configurations(cli, write_study):
    warm = write_study(name="warm", body=SIBLING.format(name="warm", temperature=0.6, warm=["cold"]))
    cold = write_study(name="cold", body=SIBLING.format(name="cold", temperature=0.45, warm=[]))
    result = cli("run", warm, cold, "--no-progress")  # in any order: the colder study runs first
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert text.index("Study cold") < text.index("Study warm") and "Warm start: 2 from cold" in text
    cold_trials = sorted(_trials("cold"), key=lambda t: t.value, reverse=True)
    warm_trials = _trials("warm")
    assert [t.params for t in warm_trials[:2]] == [t.params for t in cold_trials[:2]]
    assert warm_trials[0].user_attrs["warm_start"] == f"cold trial {cold_trials[0].number}"
    run = MlflowClient(default_tracking_uri()).get_run(warm_trials[0].user_attrs["mlflow_run_id"])
    assert run.data.tags["glasstune.warm_start"] == f"cold trial {cold_trials[0].number}"
    table = cli("trials", "warm", "--format", "csv")
    notes = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [row["note"] for row in notes[:3]] == [f"warm start: cold trial {t.number}" for t in cold_trials[:2]] + [""]
