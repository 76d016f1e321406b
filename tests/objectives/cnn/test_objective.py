"""The CNN objective driven with a real Optuna trial and a recording sink, end to end on tiny images."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import optuna
import pytest
import torch

from glasstune.data.image_sets import SyntheticImages
from glasstune.errors import GlasstuneError
from glasstune.objectives.cnn.checkpoints import LATEST, load_checkpoint
from glasstune.objectives.cnn.loop import CURVES
from glasstune.objectives.cnn.objective import CNNObjective, continue_training, default_search_space
from glasstune.objectives.context import TrialContext
from tests.recording import RecordingSink

PARAMS = {"batch_size": 8, "learning_rate": 2e-3, "dropout": 0.5, "l2_beta": 0.01,
          "schedule": "threshold", "lr_final": 2e-4, "lr_threshold": 0.7, "augment": True}
ARTIFACTS = {"curves.png", "history.csv", "augmentation.png", "conv1_maps.png", "confusion_matrix.png",
             "model_best.pt", "results.json"}


def fixed(trial):
    trial.suggest_categorical("batch_size", [PARAMS["batch_size"]])
    return dict(PARAMS)


@pytest.fixture(scope="module")
def data():
    return SyntheticImages(n_per_class=30, size=24, particles_across=6).load()


def make_context(tmp_path, data, *, name="run", pruner=None, seed=11, checkpoint_dir=None, on_status=None):
    study = optuna.create_study(direction="maximize", pruner=pruner or optuna.pruners.NopPruner())
    workdir = tmp_path / name
    workdir.mkdir(parents=True, exist_ok=True)
    sink = RecordingSink()
    ctx = TrialContext(trial=study.ask(), data=data, seed=seed, workdir=workdir,
                       checkpoint_dir=checkpoint_dir or tmp_path / name / "ckpt", sink=sink, on_status=on_status)
    return ctx, sink


def objective(**options):
    settings = {"iterations": 4, "eval_examples": 40, "report_every": 2, "checkpoint_every": 1,
                "checkpoint_seconds": 0.0, **options}
    return CNNObjective(fixed, **settings)


def test_trial_logs_curves_artifacts_and_summaries(tmp_path, data):
    ctx, sink = make_context(tmp_path, data)
    value = objective()(ctx)
    attrs = ctx.trial.user_attrs
    assert value == attrs["val_accuracy"] and 0.0 <= value <= 1.0
    assert {"test_accuracy", "final_val_accuracy", "final_test_accuracy", "collapsed"} <= set(attrs)
    low, high = attrs["test_accuracy_ci95"]  # what the test set's size can resolve, beside the accuracy
    assert low <= attrs["test_accuracy"] <= high and attrs["test_images"] > 0
    assert attrs["collapsed"] is False
    assert sink.artifact_names == ARTIFACTS
    for key in CURVES:
        steps = [step for step, _ in sink.metrics[key] if step is not None]
        # no loss before the first batch, no best checkpoint before training started
        assert steps == list(range(5)) or (key in ("batch_loss", "best_val_acc") and steps == [1, 2, 3, 4])
    for key in ("val_accuracy", "test_accuracy", "final_val_accuracy", "final_test_accuracy", "collapsed",
                "best_iteration", "train_images_per_second"):
        assert [step for step, _ in sink.metrics[key]] == [None], key
    assert [step for step, _ in sink.metrics["intermediate_value"]] == [2, 4]
    assert sink.tags["glasstune.collapsed"] == "false" and sink.tags["glasstune.precision"] == "fp32"
    assert sink.params["cnn.batch_size"] == 8 and sink.params["cnn.image_size"] == "24x24"
    # the threshold schedule's rate follows the validation accuracy measured at the same iteration
    val = dict(sink.metrics["val_acc"])
    for step, rate in sink.metrics["lr"]:
        assert rate == pytest.approx(2e-4 if val[step] >= 0.7 else 2e-3)
    results = json.loads((ctx.workdir / "results.json").read_text())
    assert results["data"]["synthetic"] is True and results["params"]["batch_size"] == 8
    assert results["split_sizes"] == {"train": 44, "val": 8, "test": 8}  # 70/15/15 of 30 per class, rounded
    best = torch.load(ctx.workdir / "model_best.pt", weights_only=True)
    assert best["conv1.weight"].shape == (6, 3, 10, 10)
    assert {path.name for path in (ctx.checkpoint_dir / "rep0").iterdir()} == {"latest.pt", "best.pt"}


def test_keep_latest_false_leaves_only_the_best_checkpoint(tmp_path, data):
    ctx, _ = make_context(tmp_path, data)
    objective(iterations=1, keep_latest=False)(ctx)
    assert {path.name for path in (ctx.checkpoint_dir / "rep0").iterdir()} == {"best.pt"}


def test_replicates_differ_by_seed_only(tmp_path, data):
    ctx, sink = make_context(tmp_path, data, name="a")
    value = objective(iterations=2, replicates=2)(ctx)
    first = [load_checkpoint(ctx.checkpoint_dir / f"rep{i}" / LATEST) for i in range(2)]
    identities = [dict(payload["identity"]) for payload in first]
    assert identities[0]["seed"] != identities[1]["seed"]
    assert {k: v for k, v in identities[0].items() if k != "seed"} == {
        k: v for k, v in identities[1].items() if k != "seed"}
    assert sink.metrics["rep0/val_acc"] != sink.metrics["rep1/val_acc"] or not torch.equal(
        first[0]["model"]["fc.weight"], first[1]["model"]["fc.weight"])
    per_rep = [dict(sink.metrics[f"rep{i}/val_accuracy"])[None] for i in range(2)]
    attrs = ctx.trial.user_attrs
    assert value == pytest.approx(np.mean(per_rep)) == pytest.approx(attrs["val_accuracy"])
    assert attrs["val_accuracy_worst"] == pytest.approx(min(per_rep))
    assert attrs["val_accuracy_std"] == pytest.approx(np.std(per_rep))
    assert {"curves_rep0.png", "curves_rep1.png", "replicates.png"} <= sink.artifact_names
    # the same trial seed again reproduces each replicate: the seed is the only source of difference
    again_ctx, again = make_context(tmp_path, data, name="b")
    objective(iterations=2, replicates=2)(again_ctx)
    for i in range(2):
        assert again.metrics[f"rep{i}/val_acc"] == sink.metrics[f"rep{i}/val_acc"]


class ChanceNetwork(torch.nn.Module):
    """Always answers 'liquid': a run stuck at chance, to drive the collapse machinery."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 3)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3)) * 0.0


def chance_network(image_size, params):
    return ChanceNetwork()


def test_collapse_is_flagged_and_optionally_pruned(tmp_path, data):
    ctx, sink = make_context(tmp_path, data, name="kept")
    objective(network=chance_network, collapse_threshold=0.0)(ctx)
    assert ctx.trial.user_attrs["collapsed"] is True
    assert sink.tags["glasstune.collapsed"] == "true" and "collapsed at iteration 1" in sink.tags[
        "glasstune.collapse_reason"]
    assert (1, 1.0) in sink.metrics["collapsed"] and (None, 1.0) in sink.metrics["collapsed"]
    assert "conv1_maps.png" in sink.artifact_names and "curves.png" in sink.artifact_names

    ctx, sink = make_context(tmp_path, data, name="pruned")
    with pytest.raises(optuna.TrialPruned, match="collapsed at iteration 1"):
        objective(network=chance_network, collapse_threshold=0.0, prune_on_collapse=True)(ctx)
    assert "collapsed" in ctx.trial.user_attrs["prune_reason"]
    assert sink.tags["glasstune.collapsed"] == "true"
    assert {"curves.png", "history.csv"} <= sink.artifact_names  # the curve is kept


def test_pruner_stops_the_trial_and_keeps_its_curve(tmp_path, data):
    ctx, sink = make_context(tmp_path, data, pruner=optuna.pruners.ThresholdPruner(lower=1.01))
    with pytest.raises(optuna.TrialPruned):
        objective()(ctx)
    assert [step for step, _ in sink.metrics["intermediate_value"]] == [2]
    assert "curves.png" in sink.artifact_names and "model_best.pt" not in sink.artifact_names


class Killed(Exception):
    pass


def test_interrupted_trial_retried_resumes_and_continue_training_extends(tmp_path, data, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the straight runs too: float sums depend on the thread count
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        straight_ctx, _ = make_context(tmp_path, data, name="straight")
        straight = objective(iterations=4)(straight_ctx)

        def kill_at_2(text):
            if text.startswith("iteration 2/"):
                raise Killed

        shared = tmp_path / "shared-ckpt"
        ctx, _ = make_context(tmp_path, data, name="first", checkpoint_dir=shared, on_status=kill_at_2)
        with pytest.raises(Killed):
            objective(iterations=4)(ctx)
        retry_ctx, retry_sink = make_context(tmp_path, data, name="retry", checkpoint_dir=shared)
        assert objective(iterations=4)(retry_ctx) == straight
        assert retry_sink.metrics["resumed_from"] == [(None, 2.0)]
        assert [step for step, _ in retry_sink.metrics["val_acc"]] == list(range(5))  # restored + new
        straight_latest = load_checkpoint(straight_ctx.checkpoint_dir / "rep0" / LATEST)
        retried_latest = load_checkpoint(shared / "rep0" / LATEST)
        for key, tensor in straight_latest["model"].items():
            assert torch.equal(tensor, retried_latest["model"][key])

        # continuing the 4-iteration trial by 1 equals a 5-iteration trial from the start
        long_ctx, _ = make_context(tmp_path, data, name="long")
        objective(iterations=5)(long_ctx)
        more_ctx, more_sink = make_context(tmp_path, data, name="more")
        summary = continue_training(straight_ctx.checkpoint_dir, data, 1, more_ctx)
        assert summary["iterations"] == 5
        assert summary["val_accuracy"] == long_ctx.trial.user_attrs["val_accuracy"]
        continued = load_checkpoint(more_ctx.checkpoint_dir / "rep0" / LATEST)
        long_latest = load_checkpoint(long_ctx.checkpoint_dir / "rep0" / LATEST)
        for key, tensor in long_latest["model"].items():
            assert torch.equal(tensor, continued["model"][key])
        assert load_checkpoint(straight_ctx.checkpoint_dir / "rep0" / LATEST)["iteration"] == 4  # source untouched
        assert "curves.png" in more_sink.artifact_names
    finally:
        torch.use_deterministic_algorithms(before)


def test_a_resumed_trial_goes_on_with_the_threads_it_began_with(tmp_path, data, monkeypatch):
    """The default thread count follows the machine's load; a trial resumed under another load keeps
    the count of its checkpoint, so that it sums as it would have uninterrupted."""
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    shared, seen = tmp_path / "shared-ckpt", []

    def kill_at_2(text):
        if text.startswith("iteration 2/"):
            raise Killed

    ctx, _ = make_context(tmp_path, data, name="first", checkpoint_dir=shared, on_status=kill_at_2)
    with pytest.raises(Killed):
        objective(iterations=4)(ctx)
    assert load_checkpoint(shared / "rep0" / LATEST)["threads"] == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the load is higher now
    retry_ctx, _ = make_context(tmp_path, data, name="retry", checkpoint_dir=shared,
                                on_status=lambda text: seen.append(torch.get_num_threads()))
    objective(iterations=4)(retry_ctx)
    assert seen and set(seen[-2:]) == {2}
    fresh, fresh_seen = tmp_path / "fresh-ckpt", []
    fresh_ctx, _ = make_context(tmp_path, data, name="fresh", checkpoint_dir=fresh,
                                on_status=lambda text: fresh_seen.append(torch.get_num_threads()))
    objective(iterations=2)(fresh_ctx)
    assert set(fresh_seen) == {1}  # a trial that starts now takes the count the load allows


def test_continue_training_refuses_other_data(tmp_path, data):
    ctx, _ = make_context(tmp_path, data, name="orig")
    objective(iterations=1)(ctx)
    other = SyntheticImages(n_per_class=30, size=24, particles_across=6, seed=9).load()
    more_ctx, _ = make_context(tmp_path, other, name="more")
    with pytest.raises(GlasstuneError, match="trained on other data"):
        continue_training(ctx.checkpoint_dir, other, 1, more_ctx)
    with pytest.raises(GlasstuneError, match="no latest.pt"):
        continue_training(tmp_path / "nowhere", data, 1, more_ctx)
    (ctx.checkpoint_dir / "rep0" / "best.pt").unlink()
    same_ctx, _ = make_context(tmp_path, data, name="same")
    with pytest.raises(GlasstuneError, match="cannot be resumed"):
        continue_training(ctx.checkpoint_dir, data, 1, same_ctx)


def test_smoke_variant_runs_the_default_search_space(tmp_path):
    smoke = CNNObjective(iterations=1500, replicates=3).smoke()
    assert (smoke.iterations, smoke.replicates, smoke.eval_examples) == (3, 2, 64)
    data = SyntheticImages().smoke().load()
    ctx, sink = make_context(tmp_path, data)
    value = CNNObjective(default_search_space, iterations=1500).smoke()(ctx)
    assert 0.0 <= value <= 1.0 and ctx.trial.params["batch_size"] >= 10
    assert "curves.png" in sink.artifact_names


def test_default_search_space_is_define_by_run():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(12):
        trial = study.ask()
        params = default_search_space(trial)
        assert 10 <= params["batch_size"] <= 250 and 0.1 <= params["dropout"] <= 0.5
        assert 1e-3 <= params["l2_beta"] <= 1e-1
        if params["schedule"] == "threshold":
            assert params["lr_final"] < params["learning_rate"]
        assert ("lr_decay" in params) == (params["schedule"] == "warmup_exp")
        study.tell(trial, 0.5)


def test_wrong_data_or_tiny_images_are_clear_errors(tmp_path, data):
    ctx, _ = make_context(tmp_path, data)
    ctx.data = {"not": "images"}
    with pytest.raises(GlasstuneError, match="needs an image set"):
        objective()(ctx)
    tiny = SyntheticImages(n_per_class=10, size=12, particles_across=3).load()
    ctx, _ = make_context(tmp_path, tiny, name="tiny")
    with pytest.raises(GlasstuneError, match="too small"):
        objective()(ctx)
    with pytest.raises(GlasstuneError, match="returned no learning_rate"):
        CNNObjective(lambda trial: {"batch_size": 8}, iterations=1).space(None)


needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@needs_gpu
def test_same_objective_on_cuda(tmp_path, data):
    ctx, sink = make_context(tmp_path, data)
    ctx.device = "cuda"
    value = objective(replicates=2)(ctx)
    assert 0.0 <= value <= 1.0
    assert sink.tags["glasstune.precision"] == "bf16"
    assert dict(sink.metrics["gpu_peak_memory_mb"])[None] > 0
    assert {"curves_rep0.png", "conv1_maps.png", "model_best.pt"} <= sink.artifact_names


@pytest.mark.gpu
@needs_gpu
def test_cuda_learns_like_cpu(tmp_path):
    """bf16 autocast must keep accuracy: the GPU run reaches what the CPU run reaches."""
    data = SyntheticImages(n_per_class=150, size=32, particles_across=8).load()
    scores = {}
    for device in ("cpu", "cuda"):
        ctx, _ = make_context(tmp_path, data, name=device)
        ctx.device = device
        scores[device] = CNNObjective(lambda t: {**PARAMS, "batch_size": 32}, iterations=30, eval_examples=100)(ctx)
    assert scores["cuda"] >= scores["cpu"] - 0.08


@pytest.mark.gpu
@needs_gpu
def test_augmentation_on_cuda_matches_the_cpu_contract():
    from glasstune.objectives.cnn.augment import augment_batch

    images = torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8, device="cuda")
    generator = torch.Generator(device="cuda")
    generator.manual_seed(0)
    out = augment_batch(images, generator)
    assert out.device.type == "cuda"
    assert torch.equal(out.flatten(1).sort(dim=1).values, images.flatten(1).sort(dim=1).values)


def test_continue_training_keeps_the_studys_own_settings(tmp_path, data):
    ctx, _ = make_context(tmp_path, data, name="orig")
    objective(iterations=1)(ctx)
    more_ctx, _ = make_context(tmp_path, data, name="more")
    continue_training(ctx.checkpoint_dir, data, 1, more_ctx, objective=replace(objective(iterations=1),
                                                                                keep_latest=False))
    assert not (more_ctx.checkpoint_dir / "rep0" / LATEST).exists()  # the study's keep_latest=False held
    assert (ctx.checkpoint_dir / "rep0" / LATEST).exists()
