"""Several worker processes on one study: each runs ``glasstune run`` against the shared storage.

This is Optuna's own distributed mode (one RDB storage, any number of processes or machines); the
coordinator only prepares the study once, starts the workers, and shows one progress display by
reading the storage. Storage and tracking URLs reach the workers through the environment, so a
password never shows in a process list.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from glasstune.config import ENV_STORAGE, ENV_TRACKING_URI, STORE_DIR
from glasstune.errors import GlasstuneError
from glasstune.progress import StudyProgress
from glasstune.spec import Study
from glasstune.study import RunOptions, RunSummary, best_trial_info, finished_trials, prepare_study


def worker_command(study_file: Path, index: int, options: RunOptions, smoke: bool) -> list[str]:
    command = [sys.executable, "-m", "glasstune", "run", str(study_file), "--worker-index", str(index),
               "--no-progress", "--device", options.device]
    if options.n_trials:
        command += ["--n-trials", str(options.n_trials)]
    if options.timeout:
        command += ["--timeout", str(options.timeout)]
    if options.seed is not None:
        command += ["--seed", str(options.seed)]
    if smoke:
        command.append("--smoke")
    return command


def run_with_workers(spec: Study, options: RunOptions, workers: int, *, smoke: bool) -> RunSummary:
    if spec.source_file is None:
        raise GlasstuneError("--workers needs a study file")
    prepared = prepare_study(spec, options)
    summary = prepared.summary
    if prepared.finished:
        return summary
    logs = STORE_DIR / "logs" / spec.name
    logs.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, ENV_STORAGE: options.storage, ENV_TRACKING_URI: options.tracking_uri}
    processes = []
    for index in range(1, workers + 1):
        log_path = logs / f"worker-{index}.log"
        with open(log_path, "w") as log:
            command = worker_command(spec.source_file, index, options, smoke)
            processes.append((subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT),
                              log_path))
    before = summary.finished
    with StudyProgress(spec.name, summary.budget, before, enabled=options.progress) as progress:
        while any(process.poll() is None for process, _ in processes):
            time.sleep(1.0)
            _show(progress, prepared.study)
        _show(progress, prepared.study)
    prepared.tracker.finish_study_run(summary.parent_run_id)
    summary.finished = len(finished_trials(prepared.study))
    summary.new_trials = summary.finished - before
    summary.best = best_trial_info(prepared.study)
    failed = [(process.returncode, path) for process, path in processes if process.returncode != 0]
    if failed:
        code, path = failed[0]
        last = path.read_text().strip().splitlines()[-1:] or ["(no output)"]
        raise GlasstuneError(f"{len(failed)} of {workers} workers failed (exit {code}): {last[0]}; log: {path}",
                             exit_code=1)
    return summary


def _show(progress: StudyProgress, study) -> None:
    best = best_trial_info(study)
    progress.update_counts(len(finished_trials(study)), best and best["value"])
