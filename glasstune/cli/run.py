"""``glasstune run``: run or resume a study, alone or with worker processes, and say how it ended."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from glasstune.cli.options import DeviceOption, StorageOption, TrackingOption, make_console, quiet_libraries
from glasstune.config import ENV_SEED, default_storage, default_tracking_uri
from glasstune.errors import GlasstuneError, StudyStopped
from glasstune.objectives.device import parse_device


def run(
    study_files: Annotated[list[Path], typer.Argument(
        help="Study files, e.g. studies/mlp_045.py; several (studies/mlp_*.py) run one after another, "
        "coldest temperature first.")],
    n_trials: Annotated[int | None, typer.Option(
        "--n-trials", min=1, help="Total finished trials the study should have (overrides the file).")] = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", min=1, help="Stop starting new trials after this many seconds.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", envvar=ENV_SEED, help="Study seed.")] = None,
    smoke: Annotated[bool, typer.Option(
        "--smoke", help="Run the whole pipeline on a tiny budget as STUDY-smoke.")] = False,
    device: DeviceOption = "auto",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Live progress display.")] = True,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes sharing the study.")] = 1,
    gpus: Annotated[str | None, typer.Option(
        "--gpus", help="GPUs for the workers, e.g. 0,1: one per worker, round-robin.",
        show_default="every visible GPU, for GPU objectives")] = None,
    workers_per_gpu: Annotated[int | None, typer.Option(
        "--workers-per-gpu", min=1, help="At most this many workers on one GPU.")] = None,
    trials_per_batch: Annotated[int | None, typer.Option(
        "--trials-per-batch", min=1, help="Trials trained together, for objectives that can (overrides the file).",
        show_default="the objective's choice for the device")] = None,
    fail_stale: Annotated[bool, typer.Option(
        "--fail-stale", help="First mark FAIL the RUNNING trials no process runs any more (storages without "
        "heartbeats: use only when no other worker runs the study).")] = False,
    worker_index: Annotated[int, typer.Option("--worker-index", hidden=True)] = 0,
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Run (or resume) studies until each has its budget of finished trials."""
    from glasstune.interrupts import stop_on_signals
    from glasstune.study.loader import load_study_file
    from glasstune.study.runner import RunOptions, run_study
    from glasstune.study.workers import plan_gpus

    quiet_libraries()
    parse_device(device)  # a typo is one line now, not after the data are loaded
    specs = [load_study_file(path) for path in study_files]  # every file checked before any study runs
    if worker_index and len(specs) > 1:
        raise GlasstuneError("--worker-index runs one study file")
    specs = sorted(specs, key=_temperature)  # a colder study's best configurations warm-start the next
    if smoke:
        specs = [spec.smoke_variant() for spec in specs]
    options = RunOptions(storage=storage or default_storage(), tracking_uri=tracking_uri or default_tracking_uri(),
                         n_trials=None if smoke else n_trials, timeout=timeout, seed=seed, device=device,
                         progress=progress, worker=worker_index, fail_stale=fail_stale,
                         trials_per_batch=trials_per_batch)
    for spec in specs:
        placement = plan_gpus(spec.objective, device, workers, gpus, workers_per_gpu)
        try:
            with stop_on_signals():  # SIGTERM (a scheduler's time limit) and SIGHUP end the study as Ctrl-C does
                if workers > 1:
                    from glasstune.study.workers import run_with_workers

                    summary = run_with_workers(spec, options, workers, smoke=smoke, gpus=placement)
                else:
                    if placement[0] is not None:
                        os.environ["CUDA_VISIBLE_DEVICES"] = placement[0]
                    summary = run_study(spec, options)
        except KeyboardInterrupt as stop:  # Ctrl-C or a signal: the study is saved; said here, before click sees it
            name = getattr(stop, "signal_name", None)
            what = f"stopped by {name}" if name else "interrupted"
            raise StudyStopped(f"{what}: the study is saved and resumes with the same command",
                               exit_code=128 + int(getattr(stop, "signal_number", signal.SIGINT))) from stop
        if summary.failed_stale:
            make_console().print(f"--fail-stale: trial(s) {', '.join(map(str, summary.failed_stale))} marked FAIL")
        if worker_index == 0:
            _print_summary(summary, options.tracking_uri)


def _temperature(spec: Any) -> float:
    """The temperature a study's data are at (for ordering), or infinity when it has none."""
    value = getattr(spec.data, "temperature", None)
    return float(value) if isinstance(value, (int, float)) else float("inf")


STOPPED = {
    "budget": "the budget is met",
    "timeout": "the timeout of {timeout:g} s passed (no trial starts after it); the same command continues",
    "interrupted": "interrupted",
    "exhausted": "the sampler has tried every configuration of the search space",
}


def _print_summary(summary: Any, tracking_uri: str) -> None:
    console = make_console()
    if summary.stopped_reason == "already finished":
        console.print(f"Study [bold]{summary.study_name}[/bold] already has {summary.finished} finished "
                      f"trials (budget {summary.budget}): nothing to do. Use --n-trials to extend it.")
    else:
        why = STOPPED.get(summary.stopped_reason, summary.stopped_reason or "")
        if summary.stopped_reason == "budget" and summary.finished < summary.budget:
            why = "the rest of the budget is running in other processes"
        console.print(f"Study [bold]{summary.study_name}[/bold]: {summary.new_trials} trial(s) run now, "
                      f"{summary.finished}/{summary.budget} finished; stopped because "
                      + why.format(timeout=summary.timeout or 0) + ".")
    if summary.data:
        console.print(f"Data: {summary.data}", soft_wrap=True, markup=False)
    if summary.warm_start:
        queued = ", ".join(f"{count} from {name}" if count else f"none from {name} (not run yet)"
                           for name, count in summary.warm_start.items())
        console.print(f"Warm start: {queued}")
    best = summary.best
    if best:
        attrs = best["user_attrs"]
        console.print(f"Best: trial {best['number']}, score {best['value']:.4f}")
        if "gap" in attrs:
            console.print(f"  train score {attrs.get('train_score', float('nan')):.4f}, "
                          f"memorisation gap {attrs['gap']:+.4f}")
        for key, value in best["params"].items():
            console.print(f"  {key} = {value}")
    baseline = summary.baseline
    if baseline and "score" in baseline:
        line = f"Baseline: {baseline.get('name', 'baseline')} scores {baseline['score']:.4f} on the same folds"
        if best:
            spread = float(baseline.get("spread", 0.0))
            margin = best["value"] - baseline["score"]
            if margin < -spread:
                line += f"; the best trial is [bold]below the baseline[/bold] by {-margin:.4f}"
            elif best["value"] <= baseline["score"] + spread:
                line += "; the best trial is not better than the baseline (within its fold spread)"
            else:
                line += f"; the best trial beats it by {margin:.4f}"
        console.print(line)
    if summary.experiment_id:
        console.print(f"Look: glasstune ui {summary.study_name}   (the trials, best first, in MLflow's UI)")
    console.print(f"Export: glasstune export {summary.study_name} -o best.yaml")


def register(app: typer.Typer) -> None:
    """Add ``run`` to the glasstune command."""
    app.command()(run)
