"""The two UIs in a real headless Chromium, opened at the addresses the commands print.

A study with complete and pruned trials is run through the CLI; ``glasstune ui STUDY`` and
``glasstune dashboard`` serve it. On the first screen of each, the trials and their scores must be
visible: MLflow's runs table lists every trial run, best score first, with the score, gap, state and
prune-reason columns; optuna-dashboard names the score and shows each trial's note and figure.

Needs Debian's chromium (``apt-get install chromium``) and Playwright for Python (no browser
download). Screenshots go to tests/artifacts/ for a person to look at; with
``GLASSTUNE_DOC_IMAGES=1`` small copies also replace the ones in docs/img/ that docs/results.md shows.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from glasstune.config import default_storage

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).parents[2]
SHOTS = ROOT / "tests" / "artifacts"
DOC_IMAGES = ROOT / "docs" / "img"

STUDY = '''
import optuna
from glasstune import Study
from glasstune.data.sources import SyntheticSoftness
from glasstune.objectives.mlp import CrossValidatedMLP


def space(trial):
    return {
        "hidden_layer_sizes": (trial.suggest_int("width", 8, 48),) * trial.suggest_int("n_layers", 1, 2),
        "max_iter": trial.suggest_int("max_iter", 20, 120, log=True),
        "solver": "adam",
        "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-4, 3e-2, log=True),
        "alpha": trial.suggest_float("alpha", 1e-6, 1e-1, log=True),
    }


STUDY = Study(
    name="lab",
    data=SyntheticSoftness(0.45, n_frames=12, n_per_class=30),
    objective=CrossValidatedMLP(space, n_folds=4),
    n_trials=12,
    seed=3,
    pruner=optuna.pruners.PercentilePruner(50.0, n_startup_trials=3, n_warmup_steps=1),
)
'''


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _printed_address(process: subprocess.Popen, seconds: float = 120) -> str:
    """The first address the command prints (it prints it before its server starts)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise AssertionError(f"the command exited with {process.returncode} before printing an address")
        found = re.search(r"http://\S+", line)
        if found:
            return found.group(0)
    raise AssertionError(f"no address printed in {seconds} s")


def _wait_for(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {seconds} s")


@pytest.fixture
def servers(cli, write_study, tmp_path):
    """The study run, then ``glasstune ui lab`` and ``glasstune dashboard`` serving it; yields the
    addresses they printed."""
    assert cli("run", write_study(body=STUDY, name="lab"), "--no-progress").exit_code == 0
    ui_port, dash_port = _free_port(), _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "400"}  # one line per printed address
    commands = {"ui": ["ui", "lab", "--port", str(ui_port)],
                "dashboard": ["dashboard", "lab", "--port", str(dash_port)]}
    processes = {name: subprocess.Popen([sys.executable, "-m", "glasstune", *args], cwd=tmp_path, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for name, args in commands.items()}
    try:
        addresses = {name: _printed_address(process) for name, process in processes.items()}
        _wait_for(f"http://127.0.0.1:{ui_port}/health", processes["ui"])
        _wait_for(f"http://127.0.0.1:{dash_port}/dashboard/", processes["dashboard"])
        yield addresses
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
        page = browser.new_page(viewport={"width": 1440, "height": 860})
        yield page
        browser.close()


def _shoot(page, name: str) -> None:
    """A screenshot for a person; with GLASSTUNE_DOC_IMAGES=1 a small copy for the docs too."""
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("GLASSTUNE_DOC_IMAGES"):
        from PIL import Image

        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            image.convert("RGB").quantize(colors=128).save(DOC_IMAGES / f"{name}.png", optimize=True)


def test_the_first_screen_of_each_ui_shows_the_trials_and_their_scores(servers, page):
    study = optuna.load_study(study_name="lab", storage=default_storage())
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    complete = sorted((t for t in finished if t.state.name == "COMPLETE"), key=lambda t: -t.value)
    pruned = [t for t in finished if t.state.name == "PRUNED"]
    assert complete and pruned, [t.state.name for t in study.trials]

    # MLflow: the address `glasstune ui lab` printed opens the trials, flat, best first, with their scores
    page.goto(servers["ui"])
    page.get_by_text(f"trial-{complete[0].number:03d}", exact=True).first.wait_for(timeout=90_000)
    close = page.locator("[data-component-id='mlflow.assistant.chat_panel.close']")
    if close.count():  # MLflow opens its assistant once on a browser's first visit; a person closes it
        close.first.click()
    page.wait_for_timeout(2500)
    _shoot(page, "mlflow_trials")
    names = page.locator("a", has_text=re.compile(r"^trial-\d{3}$")).all_inner_texts()
    assert sorted(names) == sorted(f"trial-{t.number:03d}" for t in finished)  # every trial, none hidden
    assert names[0] == f"trial-{complete[0].number:03d}"  # the best score first
    text = page.inner_text("body")
    for header in ("cv_balanced_accuracy", "memorisation_gap", "glasstune.state", "glasstune.prune_reason"):
        assert header in text, header
    for trial in complete:
        assert f"{trial.value:.4g}" in text, trial.number  # the score, at the digits it is logged with
    assert "PRUNED" in text and "held-out" in text  # a pruned trial's reason, with its comparison

    # a pruned trial's run keeps its figure and says why it stopped
    run_id = pruned[0].user_attrs["mlflow_run_id"]
    page.goto(re.sub(r"/runs\?.*$", f"/runs/{run_id}/artifacts?workflowType=machine_learning", servers["ui"]))
    page.get_by_text("why_stopped.txt").first.wait_for(timeout=60_000)
    page.get_by_text("loss_curves.png").first.click()
    page.wait_for_timeout(2500)
    _shoot(page, "mlflow_pruned_trial")

    # optuna-dashboard: the address `glasstune dashboard lab` printed opens the study: every finished trial's
    # score in the history, under the score's name; each trial's page has a note in words and its figure
    page.goto(servers["dashboard"])
    history = page.locator(".js-plotly-plot").first
    history.locator(".scatterlayer .trace .points path").first.wait_for(timeout=60_000)
    page.wait_for_timeout(2000)
    _shoot(page, "dashboard_history")
    assert history.locator(".scatterlayer .trace").first.locator(".points path").count() == len(finished)
    assert history.locator(".ytitle").first.text_content() == "held-out balanced accuracy"
    assert page.get_by_text("Objective 0").count() == 0
    best = study.best_trial
    page.goto(servers["dashboard"].rstrip("/") + "/trials")
    page.get_by_text(f"Trial {best.number}", exact=True).first.click()
    page.get_by_text(f"held-out balanced accuracy {best.value:.3f}").first.wait_for(timeout=60_000)
    body = page.inner_text("body")
    assert f"memorisation gap +{best.user_attrs['gap']:.3f}" in body and "[SYNTHETIC]" in body
    page.wait_for_timeout(1500)
    _shoot(page, "dashboard_trial")
    figure = page.locator("img[alt='loss_curves.png']").first
    figure.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=figure.element_handle(),
                           timeout=30_000)
    page.wait_for_timeout(1000)
    _shoot(page, "dashboard_trial_figure")
