"""Several worker processes on one study: each runs ``glasstune run`` against the shared storage.

This is Optuna's own distributed mode (one RDB storage, any number of processes or machines); the
coordinator only prepares the study once, starts the workers, and shows one progress display by
reading the storage. Storage and tracking URLs reach the workers through the environment, so a
password never shows in a process list.

On a machine with GPUs, each worker of a GPU objective sees one GPU (``CUDA_VISIBLE_DEVICES``),
round-robin over ``--gpus`` or over every visible GPU, so workers do not pile onto GPU 0. Ctrl-C on
the coordinator reaches every worker: each ends its trial as interrupted, and the study resumes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from glasstune.config import ENV_STORAGE, ENV_TRACKING_URI, STORE_DIR
from glasstune.errors import GlasstuneError
from glasstune.stores.optuna_storage import best_trial_info, finished_trials
from glasstune.study.progress import StudyProgress
from glasstune.study.runner import RunOptions, RunSummary, prepare_study
from glasstune.study.spec import Study

STOP_GRACE_SECONDS = 60


def assign_gpus(n_workers: int, gpu_ids: Sequence[str], per_gpu: int | None = None) -> list[str | None]:
    """The GPU each worker gets, round-robin over ``gpu_ids`` (None for every worker when there is
    none). ``per_gpu`` caps workers per GPU: more workers than GPUs x per_gpu is a user error, since
    the extra ones would crowd a GPU the user meant to keep to fewer."""
    if n_workers < 1:
        raise GlasstuneError(f"--workers {n_workers}: use 1 or more worker processes")
    if per_gpu is not None and per_gpu < 1:
        raise GlasstuneError(f"--workers-per-gpu {per_gpu}: use 1 or more")
    if not gpu_ids:
        return [None] * n_workers
    if per_gpu is not None and n_workers > len(gpu_ids) * per_gpu:
        raise GlasstuneError(f"--workers {n_workers} do not fit on {len(gpu_ids)} GPU(s) with --workers-per-gpu "
                             f"{per_gpu}: use at most {len(gpu_ids) * per_gpu} workers, more GPUs, or a higher "
                             f"--workers-per-gpu")
    return [str(gpu_ids[index % len(gpu_ids)]) for index in range(n_workers)]


def parse_gpus(text: str) -> list[str]:
    """``"0,1"`` -> ``["0", "1"]``: GPU indices as this process sees them (or GPU UUIDs)."""
    ids = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part or " " in part for part in ids):
        raise GlasstuneError(f"--gpus {text!r}: give GPU indices separated by commas, e.g. --gpus 0,1")
    if len(set(ids)) != len(ids):
        raise GlasstuneError(f"--gpus {text!r}: a GPU is listed twice; use --workers-per-gpu to share one")
    return ids


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as labels for a child's CUDA_VISIBLE_DEVICES: the entries of
    our own CUDA_VISIBLE_DEVICES if set (a scheduler's choice), else 0..G-1. Imports torch."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    inherited = [part.strip() for part in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if part.strip()]
    if inherited:
        return inherited[:count]
    return [str(index) for index in range(count)]


def plan_gpus(objective: Any, device: str, n_workers: int, gpus: str | None = None,
              per_gpu: int | None = None) -> list[str | None]:
    """GPU per worker for ``glasstune run``: from ``--gpus`` if given, else every visible GPU when
    the objective trains on a device and ``--device`` allows CUDA; else None for each worker.
    torch (for the GPU count) is imported only when a GPU could matter."""
    uses_device = bool(getattr(objective, "uses_device", False))
    if gpus is None and per_gpu is None:
        if n_workers < 2 or not uses_device or device == "cpu" or ":" in device:
            return [None] * n_workers  # one process, a CPU objective, or a device the user pinned
        return assign_gpus(n_workers, visible_gpus())
    if gpus is None:
        if not uses_device or device == "cpu":
            raise GlasstuneError("--workers-per-gpu places workers on GPUs; this run trains on the CPU")
        available = visible_gpus()
        if not available:
            raise GlasstuneError("--workers-per-gpu: no CUDA device is visible on this machine")
        return assign_gpus(n_workers, available, per_gpu)
    wanted = parse_gpus(gpus)
    if not uses_device:
        raise GlasstuneError(f"--gpus {gpus}: this study's objective trains on the CPU only (no device to place)")
    if device == "cpu":
        raise GlasstuneError(f"--gpus {gpus} contradicts --device cpu; leave --device at auto or cuda")
    available = visible_gpus()
    labels = []
    for gpu in wanted:
        if gpu.isdigit():
            if int(gpu) >= len(available):
                raise GlasstuneError(f"--gpus {gpus}: GPU {gpu} does not exist here; {len(available)} CUDA "
                                     f"device(s) are visible" + (f" ({', '.join(available)})" if available else ""))
            labels.append(available[int(gpu)])
        else:
            labels.append(gpu)  # a GPU UUID: CUDA_VISIBLE_DEVICES takes it as it is
    return assign_gpus(n_workers, labels, per_gpu)


def worker_environment(base: Mapping[str, str], options: RunOptions, gpu: str | None) -> dict[str, str]:
    """A worker's environment: the stores (never on a command line) and its GPU, if it has one."""
    environment = {**base, ENV_STORAGE: options.storage, ENV_TRACKING_URI: options.tracking_uri}
    if gpu is not None:
        environment["CUDA_VISIBLE_DEVICES"] = gpu
    return environment


def worker_command(study_file: Path, index: int, options: RunOptions, smoke: bool,
                   gpu: str | None = None) -> list[str]:
    """The command line of worker ``index`` (1-based); a worker with its own GPU sees it as cuda."""
    device = "cuda" if gpu is not None and options.device.startswith("cuda") else options.device
    command = [sys.executable, "-m", "glasstune", "run", str(study_file), "--worker-index", str(index),
               "--no-progress", "--device", device]
    if options.n_trials:
        command += ["--n-trials", str(options.n_trials)]
    if options.timeout:
        command += ["--timeout", str(options.timeout)]
    if options.seed is not None:
        command += ["--seed", str(options.seed)]
    if options.trials_per_batch:
        command += ["--trials-per-batch", str(options.trials_per_batch)]
    if smoke:
        command.append("--smoke")
    return command


def run_with_workers(spec: Study, options: RunOptions, workers: int, *, smoke: bool,
                     gpus: Sequence[str | None] | None = None) -> RunSummary:
    """Prepare the study once, start ``workers`` processes on it, follow the storage until they end."""
    if spec.source_file is None:
        raise GlasstuneError("--workers needs a study file")
    placement = list(gpus) if gpus is not None else [None] * workers
    prepared = prepare_study(spec, options)
    summary = prepared.summary
    if prepared.finished:
        return summary
    logs = STORE_DIR / "logs" / spec.name
    logs.mkdir(parents=True, exist_ok=True)
    processes = []
    for index, gpu in zip(range(1, workers + 1), placement, strict=True):
        log_path = logs / f"worker-{index}.log"
        with open(log_path, "w") as log:
            if gpu is not None:
                log.write(f"worker {index}: CUDA_VISIBLE_DEVICES={gpu}\n")
                log.flush()
            command = worker_command(spec.source_file, index, options, smoke, gpu)
            # a session of its own: Ctrl-C reaches the worker once, from the coordinator, not also
            # from the terminal (a second SIGINT would cut its clean-up short)
            processes.append((subprocess.Popen(command, env=worker_environment(os.environ, options, gpu),
                                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True),
                              log_path))
    before = summary.finished
    try:
        with StudyProgress(spec.name, summary.budget, before, enabled=options.progress) as progress:
            while any(process.poll() is None for process, _ in processes):
                time.sleep(1.0)
                _show(progress, prepared.study)
            _show(progress, prepared.study)
    except KeyboardInterrupt as stop:
        _stop_workers([process for process, _ in processes], getattr(stop, "signal_number", signal.SIGINT))
        prepared.tracker.finish_study_run(summary.parent_run_id, "KILLED")
        raise
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


def _stop_workers(processes: list[subprocess.Popen], number: int = signal.SIGINT,
                  grace: float = STOP_GRACE_SECONDS) -> None:
    """Pass the signal that stopped the coordinator (Ctrl-C, SIGTERM, SIGHUP) on to the workers (they
    run in sessions of their own): each ends its trial as interrupted. Stragglers are killed after
    ``grace`` seconds; the next run recovers their trials."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(number)
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _show(progress: StudyProgress, study: Any) -> None:
    best = best_trial_info(study)
    progress.update_counts(len(finished_trials(study)), best and best["value"])
