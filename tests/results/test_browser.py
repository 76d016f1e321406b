"""The two UIs in a real headless Chromium: MLflow's runs table and run pages, optuna-dashboard's trials.

Needs Debian's chromium (``apt-get install chromium``) and Playwright for Python (no browser download).
Screenshots go to tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from glasstune.config import default_tracking_uri

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).parents[1] / "artifacts"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {seconds} s")


@pytest.fixture
def servers(cli, write_study, tmp_path):
    """A two-trial study, then ``glasstune ui`` and ``glasstune dashboard`` serving it."""
    assert cli("run", write_study(n_trials=2), "--no-progress").exit_code == 0
    ui_port, dash_port = _free_port(), _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    commands = {"ui": ["ui", "--port", str(ui_port)], "dashboard": ["dashboard", "--port", str(dash_port)]}
    processes = {name: subprocess.Popen([sys.executable, "-m", "glasstune", *args], cwd=tmp_path, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for name, args in commands.items()}
    try:
        _wait_for(f"http://127.0.0.1:{ui_port}/health", processes["ui"])
        _wait_for(f"http://127.0.0.1:{dash_port}/dashboard/", processes["dashboard"])
        yield {"ui": f"http://127.0.0.1:{ui_port}", "dashboard": f"http://127.0.0.1:{dash_port}"}
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(timeout=30)
    # stopping `glasstune ui` stops MLflow's server and the processes it started: the port is free again
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # closed connections may linger; a listener may not
        probe.bind(("127.0.0.1", ui_port))


@pytest.fixture
def page():
    if not Path(CHROMIUM).exists():
        if os.environ.get("GLASSTUNE_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing; install Debian's chromium (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1500, "height": 950})
        yield page
        browser.close()


def test_mlflow_ui_and_dashboard_show_the_study(servers, page):
    client = MlflowClient(default_tracking_uri())
    experiment_id = client.get_experiment_by_name("tiny").experiment_id
    trials = client.search_runs([experiment_id], "tags.`glasstune.role` = 'trial'")
    child = sorted(trials, key=lambda run: run.info.run_name)[0]

    page.goto(f"{servers['ui']}/#/experiments/{experiment_id}/runs")
    page.get_by_text("tiny", exact=True).first.wait_for(timeout=60_000)
    page.get_by_text("Model training", exact=True).first.click()  # MLflow 3's workflow switch, as a user sets it
    page.goto(f"{servers['ui']}/#/experiments/{experiment_id}/runs")
    page.get_by_text("tiny", exact=True).first.wait_for(timeout=60_000)
    # trials are nested under the study's parent run: expand it
    page.locator("button[data-component-id$='runnamecellrenderer.tsx_46']").first.click()
    page.get_by_text("trial-000").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "mlflow_runs.png"), full_page=True)
    assert page.get_by_text("trial-001").count() >= 1

    run_page = f"{servers['ui']}/#/experiments/{experiment_id}/runs/{child.info.run_id}"
    page.goto(f"{run_page}/model-metrics")
    page.get_by_text("fold_accuracy").first.wait_for(timeout=60_000)
    assert page.get_by_text("cv_balanced_accuracy").count() >= 1
    page.wait_for_timeout(2500)
    page.screenshot(path=str(SHOTS / "mlflow_child_metrics.png"), full_page=True)

    page.goto(f"{run_page}/artifacts")
    page.get_by_text("folds.csv").first.wait_for(timeout=60_000)
    page.get_by_text("loss_curves.png").first.click()
    page.wait_for_timeout(2500)
    page.screenshot(path=str(SHOTS / "mlflow_child_artifacts.png"), full_page=True)

    page.goto(f"{servers['dashboard']}/dashboard/")
    page.get_by_text("tiny").first.wait_for(timeout=60_000)
    page.get_by_text("tiny").first.click()
    page.wait_for_timeout(2500)
    page.screenshot(path=str(SHOTS / "dashboard_study.png"), full_page=True)
    page.goto(page.url.rstrip("/") + "/trials")
    page.get_by_text("Trial 1").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "dashboard_trials.png"), full_page=True)
    assert page.get_by_text("Trial 0").count() >= 1
