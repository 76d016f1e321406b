"""benchmarks/gpu_check.sh: its plan names every GPU figure with its target, and every benchmark it
runs exists and takes the flags it is given (a renamed flag would otherwise surface only on a GPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def gpu_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu check")  # a space in the path, as a user's folder may have
    venv_before = (ROOT / ".venv-gpu").exists()
    result = gpu_check("--dry-run", str(out))
    assert (ROOT / ".venv-gpu").exists() == venv_before, "--dry-run must install nothing"
    return result, out


def step_of(plan: dict, name: str) -> dict:
    return next(step for step in plan["steps"] if step["step"] == name)


def test_dry_run_lists_every_step_with_its_command_and_target(dry_run):
    result, out = dry_run
    assert result.returncode == 0, result.stderr
    plan = json.loads((out / "gpu_check_plan.json").read_text())
    assert plan["total_budget_s"] <= 8 * 60
    expected = {  # step: (words of its command, (words of one figure, its target))
        "gpu_tests": (["-m pytest -m gpu"], [("pytest -m gpu", "all pass, none skipped")]),
        "mlp_batching": (["benchmarks/bench_trial_batching.py", "--device cuda", "--json"],
                         [("trial batching vs the lab's cross_val_score on the CPU", ">= 50x"),
                          ("the lab's cross_val_score on this machine's CPU", "(reference)")]),
        "cnn_loop": (["benchmarks/bench_cnn_loop.py", "--device cuda", "--size 250", "--json"],
                     [("CNN loop at 250 px vs a plain DataLoader loop", ">= 5x")]),
        "openmm_cuda": (["benchmarks/bench_simulation.py", "--platform cuda", "--json"],
                        [("OpenMM CUDA platform, 3D KA N = 4096", "-")]),
        "mlp_trial": (["benchmarks/bench_mlp_trial.py", "--device cuda", "--json"],
                      [("torch on the GPU vs the lab's cross_val_score on the CPU", ">= 20x")]),
    }
    assert [step["step"] for step in plan["steps"]] == ["setup", *expected]
    for name, (command_words, figures) in expected.items():
        step = step_of(plan, name)
        assert 0 < step["budget_s"] <= 180
        for words in command_words:
            assert words in step["command"], (name, words)
        assert step["command"] in result.stdout
        for words, target in figures:
            figure = next((f for f in step["figures"] if words in f["figure"]), None)
            assert figure is not None and figure["target"] == target, (name, words, step["figures"])
            assert f"{figure['figure']}; target: {target}" in result.stdout
        assert str(out / f"{name}.json") in step["command"] or name == "gpu_tests"
    setup = step_of(plan, "setup")["command"]
    assert "venv --system-site-packages" in setup and "openmm-cuda-13" in setup and "torch==2.13.0" in setup


def test_a_missing_out_dir_is_a_one_line_usage_error():
    result = gpu_check()
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.strip().startswith("usage: bash benchmarks/gpu_check.sh")
    assert len(result.stderr.strip().splitlines()) == 1
    assert gpu_check("--dry-run").returncode != 0


def test_every_benchmark_in_the_plan_exists_and_takes_its_flags(dry_run):
    _, out = dry_run
    plan = json.loads((out / "gpu_check_plan.json").read_text())
    problems = []
    for step in plan["steps"]:
        if step["script"] is None:
            continue
        script = ROOT / step["script"]
        if not script.exists():
            problems.append(f"{step['step']}: {step['script']} does not exist")
            continue
        helped = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True, text=True,
                                timeout=60)
        if helped.returncode != 0:
            problems.append(f"{step['step']}: {step['script']} --help exits {helped.returncode}: "
                            f"{helped.stderr[-300:]}")
            continue
        problems += [f"{step['step']}: {step['script']} takes no {flag}" for flag in step["flags"]
                     if flag not in helped.stdout]
    assert not problems, "\n".join(problems)
