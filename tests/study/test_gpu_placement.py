"""Which GPU each worker gets: the pure assignment on CPU, and two real workers on CUDA where one exists."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from glasstune.errors import GlasstuneError
from glasstune.objectives.device import gpu_label
from glasstune.study import workers
from glasstune.study.runner import RunOptions
from glasstune.study.workers import assign_gpus, parse_gpus, plan_gpus, worker_command, worker_environment

GPU_OBJECTIVE = SimpleNamespace(uses_device=True)
CPU_OBJECTIVE = SimpleNamespace(uses_device=False)


@pytest.fixture
def two_gpus(monkeypatch):
    """A machine that shows GPUs 0 and 1 (no torch, no CUDA needed)."""
    monkeypatch.setattr(workers, "visible_gpus", lambda: ["0", "1"])


@pytest.fixture
def no_gpu_lookup(monkeypatch):
    def refuse():
        raise AssertionError("the GPUs were counted (torch imported) where they cannot matter")

    monkeypatch.setattr(workers, "visible_gpus", refuse)


@pytest.mark.parametrize("n_workers, gpus, per_gpu, expected", [
    (4, ["0", "1"], None, ["0", "1", "0", "1"]),
    (3, ["0", "1"], 2, ["0", "1", "0"]),
    (4, ["0", "1"], 2, ["0", "1", "0", "1"]),
    (2, ["3"], None, ["3", "3"]),
    (3, [], None, [None, None, None]),
    (1, ["0", "1"], None, ["0"]),
])
def test_round_robin(n_workers, gpus, per_gpu, expected):
    assert assign_gpus(n_workers, gpus, per_gpu) == expected


def test_more_workers_than_gpu_slots_is_refused():
    with pytest.raises(GlasstuneError, match="--workers 5 do not fit on 2 GPU.s. with --workers-per-gpu 2"):
        assign_gpus(5, ["0", "1"], 2)
    with pytest.raises(GlasstuneError, match="--workers-per-gpu 0"):
        assign_gpus(2, ["0"], 0)


@pytest.mark.parametrize("text, expected", [("0,1", ["0", "1"]), (" 2 , 3 ", ["2", "3"]), ("GPU-ab12", ["GPU-ab12"])])
def test_gpu_lists(text, expected):
    assert parse_gpus(text) == expected


@pytest.mark.parametrize("text, message", [("", "separated by commas"), ("0,,1", "separated by commas"),
                                           ("0,0", "listed twice")])
def test_bad_gpu_lists(text, message):
    with pytest.raises(GlasstuneError, match=message):
        parse_gpus(text)


def test_automatic_placement_spreads_gpu_workers(two_gpus):
    assert plan_gpus(GPU_OBJECTIVE, "auto", 3) == ["0", "1", "0"]
    assert plan_gpus(GPU_OBJECTIVE, "cuda", 2) == ["0", "1"]
    assert plan_gpus(GPU_OBJECTIVE, "auto", 4, per_gpu=2) == ["0", "1", "0", "1"]


def test_no_placement_where_no_gpu_can_matter(no_gpu_lookup):
    assert plan_gpus(CPU_OBJECTIVE, "auto", 3) == [None] * 3   # a CPU objective
    assert plan_gpus(GPU_OBJECTIVE, "cpu", 3) == [None] * 3    # --device cpu
    assert plan_gpus(GPU_OBJECTIVE, "auto", 1) == [None]       # one process: the device decides
    assert plan_gpus(GPU_OBJECTIVE, "cuda:1", 2) == [None, None]  # a device the user pinned


def test_explicit_gpus_are_indices_into_what_this_process_sees(monkeypatch):
    monkeypatch.setattr(workers, "visible_gpus", lambda: ["2", "3"])  # e.g. a scheduler gave us GPUs 2 and 3
    assert plan_gpus(GPU_OBJECTIVE, "auto", 2, "1") == ["3", "3"]
    assert plan_gpus(GPU_OBJECTIVE, "auto", 3, "0,1") == ["2", "3", "2"]
    with pytest.raises(GlasstuneError, match="GPU 2 does not exist here; 2 CUDA device.s. are visible"):
        plan_gpus(GPU_OBJECTIVE, "auto", 2, "2")


def test_explicit_gpus_that_cannot_apply_are_refused(two_gpus):
    with pytest.raises(GlasstuneError, match="trains on the CPU only"):
        plan_gpus(CPU_OBJECTIVE, "auto", 2, "0")
    with pytest.raises(GlasstuneError, match="contradicts --device cpu"):
        plan_gpus(GPU_OBJECTIVE, "cpu", 2, "0")
    with pytest.raises(GlasstuneError, match="do not fit"):
        plan_gpus(GPU_OBJECTIVE, "auto", 3, "0", per_gpu=2)


def test_each_worker_gets_its_gpu_through_its_environment(tmp_path):
    options = RunOptions(storage="sqlite:///s.db", tracking_uri="sqlite:///m.db", device="cuda:1")
    environment = worker_environment({"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "0,1"}, options, "1")
    assert environment["CUDA_VISIBLE_DEVICES"] == "1" and environment["GLASSTUNE_STORAGE"] == "sqlite:///s.db"
    assert worker_environment({"PATH": "/bin"}, options, None).get("CUDA_VISIBLE_DEVICES") is None
    command = worker_command(tmp_path / "s.py", 2, options, smoke=False, gpu="1")
    assert command[command.index("--device") + 1] == "cuda"  # it sees its one GPU as cuda:0


@pytest.mark.parametrize("device, visible, expected", [
    ("cuda", "3", "3"), ("cuda:1", "2,3", "3"), ("cuda:1", None, "1"), ("cuda", None, "0"), ("cpu", "3", None)])
def test_the_recorded_gpu_is_the_machines_number(monkeypatch, device, visible, expected):
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert gpu_label(device) == expected


GPU_STUDY = """
import os

from glasstune import Study
from glasstune.data.sources import SyntheticSoftness


class OnDevice:
    uses_device = True

    def __call__(self, ctx):
        import torch

        x = ctx.trial.suggest_float("x", 0.0, 1.0)
        value = torch.tensor([x], device=ctx.device) * 2  # really on the GPU
        ctx.trial.set_user_attr("device_seen", str(value.device))
        ctx.trial.set_user_attr("visible_seen", os.environ.get("CUDA_VISIBLE_DEVICES", ""))
        return float(value.cpu()[0])

    def smoke(self):
        return self


STUDY = Study(name="ongpu", data=SyntheticSoftness(0.45, n_frames=6, n_per_class=12), objective=OnDevice(),
              n_trials=4)
"""


@pytest.mark.gpu
@pytest.mark.slow
def test_two_workers_on_cuda_each_on_its_gpu(cli, write_study):
    import optuna
    import torch
    from mlflow.tracking import MlflowClient

    from glasstune.config import default_storage, default_tracking_uri

    assert torch.cuda.is_available(), "this test needs a CUDA device"
    expected = assign_gpus(2, workers.visible_gpus())
    result = cli("run", write_study(name="ongpu", body=GPU_STUDY), "--workers", "2", "--no-progress")
    assert result.exit_code == 0, result.stderr
    trials = optuna.load_study(study_name="ongpu", storage=default_storage()).trials
    assert len(trials) == 4 and all(t.state.name == "COMPLETE" for t in trials)
    client = MlflowClient(default_tracking_uri())
    for trial in trials:
        gpu = expected[trial.user_attrs["worker"] - 1]
        assert trial.user_attrs["gpu"] == gpu == trial.user_attrs["visible_seen"]
        assert trial.user_attrs["device_seen"] == "cuda:0"  # its one visible GPU
        assert client.get_run(trial.user_attrs["mlflow_run_id"]).data.tags["glasstune.gpu"] == gpu
    assert {t.user_attrs["worker"] for t in trials} == {1, 2}
