"""The files and final metrics of a CNN trial's run: curves, the confusion matrix, the best
model's weights, augmented examples, first-layer maps and ``results.json``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from glasstune.stores.names import Tag

if TYPE_CHECKING:
    from glasstune.objectives.cnn.loop import Trainer
    from glasstune.objectives.cnn.session import Job, TrialSession


def log_results(session: TrialSession, jobs: list[Job], summary: dict[str, Any]) -> None:
    import torch

    from glasstune.objectives.cnn.plots import confusion_matrix

    ctx = session.ctx
    final = {key: summary[key] for key in (
        "val_accuracy", "test_accuracy", "final_val_accuracy", "final_test_accuracy",
        "train_images_per_second", "iterations")}
    final["collapsed"] = float(summary["collapsed"])
    for name in ("val_accuracy", "test_accuracy"):  # what the set sizes can resolve
        final[f"{name}_ci95_low"], final[f"{name}_ci95_high"] = summary[f"{name}_ci95"]
    if len(jobs) > 1:
        final.update({key: summary[key] for key in (
            "val_accuracy_std", "val_accuracy_worst", "test_accuracy_std", "collapsed_replicates")})
        for record in summary["per_replicate"]:
            for key in ("val_accuracy", "test_accuracy", "final_val_accuracy", "final_test_accuracy"):
                final[f"rep{record['replicate']}/{key}"] = record[key]
    else:
        final["best_iteration"] = summary["per_replicate"][0]["best_iteration"]
    if "gpu_peak_memory_mb" in summary:
        final["gpu_peak_memory_mb"] = summary["gpu_peak_memory_mb"]
    ctx.log_metrics(final)
    ctx.set_tags({Tag.COLLAPSED: str(summary["collapsed"]).lower()})
    log_curves(session, jobs)
    if session.trainer is not None and session.best_state is not None:
        session.trainer.load_weights(session.best_state)
        log_inspection(session, session.trainer)
    best = session.outcomes[session.best_replicate]
    ctx.log_figure(
        confusion_matrix(best.confusion, title=f"test set, best checkpoint · {session.title}"),
        "confusion_matrix.png",
    )
    path = Path(ctx.workdir) / "model_best.pt"
    torch.save(session.best_state, path)
    ctx.log_file(path)
    split = session.split
    ctx.log_json({
        "summary": {key: value for key, value in summary.items() if key != "per_replicate"},
        "replicates": summary["per_replicate"], "params": jobs[0].params,
        "network": session.network_name, "image_size": list(session.image_size), "device": session.device,
        "precision": session.precision, "protocol": session.protocol.__dict__,
        "split_seed": session.objective.split_seed,
        "split_sizes": {"train": len(split.train), "val": len(split.val), "test": len(split.test)},
        "data": session.data.provenance,
    }, "results.json")


def log_curves(session: TrialSession, jobs: list[Job]) -> None:
    """Curves of every replicate trained so far (or interrupted by pruning), and the history table."""
    import pandas as pd

    from glasstune.objectives.cnn.plots import replicate_curves, training_curves

    histories = [(outcome.index, outcome.result.history, outcome.result.best_step,
                  outcome.result.collapse_step) for outcome in session.outcomes]
    if session.trainer is not None and len(histories) < len(jobs) and session.trainer.history["val_acc"]:
        trainer = session.trainer
        histories.append((len(histories), trainer.history, trainer.best_step, trainer.collapse.collapse_step))
    if not histories:
        return
    many = len(jobs) > 1
    frames = []
    for index, history, best_step, collapse_step in histories:
        name = f"curves_rep{index}.png" if many else "curves.png"
        title = (f"replicate {index} · " if many else "") + session.title
        figure = training_curves(history, title=title, best_step=best_step, collapse_step=collapse_step,
                                 **_pruner_marks(session, jobs[index], len(history["val_acc"])))
        session.ctx.log_figure(figure, name)
        frame = pd.DataFrame(history)
        frame.insert(0, "iteration", range(len(frame)))
        frame.insert(0, "replicate", index)
        frames.append(frame)
    if many:
        curves = [history["val_acc"] for _, history, _, _ in histories]
        session.ctx.log_figure(replicate_curves(curves, title=session.title), "replicates.png")
    session.ctx.log_table(pd.concat(frames, ignore_index=True), "history.csv")


def _pruner_marks(session: TrialSession, job: Job, measured: int) -> dict[str, Any]:
    """Where the pruner was told this replicate's running score, its threshold there and where it
    stopped the run, in the replicate's own iterations (a trial's replicates count steps on)."""
    every = session.report_every
    if every is None:
        return {}
    last = measured - 1
    marks: dict[str, Any] = {"report_steps": [step for step in range(1, last + 1)
                                              if step % every == 0 or step == job.iterations]}
    pruned = session.ctx.pruned
    offset = job.index * (job.iterations + 1)
    if pruned is not None and offset < pruned.step <= offset + job.iterations:
        marks["thresholds"] = {step - offset: value for step, value in pruned.thresholds.items()
                               if offset < step <= offset + job.iterations}
        marks["pruned_at"] = pruned.step - offset
        marks["notes"] = [pruned.reason]
    return marks


def log_partial(session: TrialSession, jobs: list[Job]) -> None:
    """A pruned trial still shows its curves (a collapse is worth seeing)."""
    try:
        log_curves(session, jobs)
    except Exception as error:  # a plotting problem must not hide why the trial stopped
        session.ctx.set_tags({Tag.PARTIAL_ARTIFACTS_ERROR: str(error)[:200]})


def log_inspection(session: TrialSession, trainer: Trainer) -> None:
    """Augmented training examples and first-layer maps of the best model so far."""
    import numpy as np
    import torch

    from glasstune.data.image_sets import GLASS, LIQUID
    from glasstune.objectives.cnn.augment import augment_batch
    from glasstune.objectives.cnn.inspect import first_conv_maps
    from glasstune.objectives.cnn.plots import augmentation_grid, channel_maps
    from glasstune.objectives.device import autocast

    labels = session.data.labels
    train = session.split.train
    picks = np.concatenate([train[labels[train] == GLASS][:4], train[labels[train] == LIQUID][:4]])
    generator = torch.Generator(device=session.images.device)
    generator.manual_seed(int(session.ctx.seed))
    pixels = session.images.images[session.images.index(picks)]
    augmented = augment_batch(pixels, generator)
    on = bool(trainer.params.get("augment", False))
    title = ("augmentation (on in this trial)" if on else "augmentation (off in this trial; shown for checking)")
    session.ctx.log_figure(
        augmentation_grid(
            session.data.images[picks], augmented.permute(0, 2, 3, 1).cpu().numpy(), labels[picks],
            title=f"{title} · {session.title}",
        ),
        "augmentation.png",
    )
    if not any(isinstance(module, torch.nn.Conv2d) for module in trainer.model.modules()):
        return  # a study's own network without convolutions: nothing to show
    test = session.split.test
    examples = [int(test[labels[test] == GLASS][0]), int(test[labels[test] == LIQUID][0])]
    inputs = session.images.normalise(session.images.images[session.images.index(np.array(examples))])
    with autocast(session.images.device.type, session.precision):
        maps = first_conv_maps(trainer.model, inputs)
    session.ctx.log_figure(
        channel_maps([session.data.images[i] for i in examples], list(maps), ["glass", "liquid"],
                     title=f"first convolution, best checkpoint · {session.title}"),
        "conv1_maps.png",
    )
