"""Serve optuna-dashboard over the Optuna storage, bound to 127.0.0.1 by default.

The dashboard reads Optuna's own records (trials, intermediate values, importances) live, which
complements MLflow's per-run curves and artifacts. Before it serves, each study is made readable
there (``prepare_studies``): its score gets its name ("held-out balanced accuracy", not
"Objective 0"), the study and each finished trial get a note in words (data set and synthetic flag,
baseline, score, training score and memorisation gap, why it was pruned), and each trial's figures
are copied from its MLflow run into an Optuna artifact store beside the storage, where the trial's
page shows them. All of this is added to the storage once and kept; a note someone wrote in the
dashboard is never overwritten.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glasstune.config import sqlite_path
from glasstune.errors import GlasstuneError, one_line
from glasstune.results.words import data_words, metric_words, step_unit
from glasstune.stores.names import TrialAttr
from glasstune.urls import redact

log = logging.getLogger(__name__)
NOTE_MARK = "_(written by `glasstune dashboard` from the study's records)_"
"""The last line of the notes glasstune writes: a note without it is a person's, and is left alone."""
ARTIFACT_ATTR = "dashboard:artifacts:{trial_id}:"
"""How optuna-dashboard (0.17 to 0.21 at least) finds a finished trial's artifacts in the study's
system attributes: a trial's own attributes cannot change once it has finished."""


def dashboard_url(host: str, port: int, study_id: int | None = None) -> str:
    """The list of studies, or one study's page (its history of scores, importances, timeline)."""
    base = f"http://{host}:{port}/dashboard/"
    return f"{base}studies/{study_id}" if study_id is not None else base


@dataclass
class Prepared:
    """What ``prepare_studies`` did, for one line on the console."""

    studies: int = 0
    named: int = 0
    notes: int = 0
    figures: int = 0
    problems: list[str] = field(default_factory=list)


def serve_dashboard(storage_url: str, *, host: str, port: int, console: Any, tracking_uri: str | None = None,
                    study: str | None = None) -> None:
    """Blocks until Ctrl-C. A missing SQLite file is an error, not a silently created empty store;
    with ``study``, the address printed opens that study's page."""
    database = sqlite_path(storage_url)
    if database is not None and not database.exists():
        raise GlasstuneError(f"no Optuna storage at {database}; run a study first (glasstune run ...)")
    from optuna.artifacts import FileSystemArtifactStore
    from optuna_dashboard import run_server

    from glasstune.stores.optuna_storage import open_storage

    storage = open_storage(storage_url, heartbeat=False)
    study_id = _study_id(storage, study, storage_url) if study else None
    folder = artifact_folder(storage_url)
    folder.mkdir(parents=True, exist_ok=True)
    store = FileSystemArtifactStore(str(folder))
    done = prepare_studies(storage, store, tracking_uri)
    console.print(f"optuna-dashboard on {dashboard_url(host, port, study_id)}", highlight=False, soft_wrap=True)
    console.print(f"  storage {redact(storage_url)}; Ctrl-C to stop", highlight=False)
    console.print(f"  {done.studies} stud{'y' if done.studies == 1 else 'ies'}: {done.named} score name(s), "
                  f"{done.notes} note(s) and {done.figures} figure(s) added; figures in {folder}", highlight=False)
    for problem in done.problems[:3]:
        console.print(f"  [yellow]{problem}[/yellow]", highlight=False)
    try:
        run_server(storage, host=host, port=port, artifact_store=store)
    except KeyboardInterrupt:
        pass


def _study_id(storage: Any, name: str, storage_url: str) -> int:
    from glasstune.stores.optuna_storage import study_names

    try:
        return int(storage.get_study_id_from_name(name))
    except KeyError:
        known = study_names(storage)
        hint = f"known studies: {', '.join(known[:8])}" if known else "the storage holds no study yet"
        raise GlasstuneError(f"no study named {name!r} in {redact(storage_url)}; {hint}") from None


def artifact_folder(storage_url: str) -> Path:
    """Beside an SQLite storage; under ./mlruns for a database server or a journal elsewhere."""
    database = sqlite_path(storage_url)
    return (database.parent if database is not None else Path("mlruns")) / "dashboard-artifacts"


def prepare_studies(storage: Any, store: Any, tracking_uri: str | None) -> Prepared:
    """Every study of ``storage`` made readable in the dashboard (see the module's docstring)."""
    import optuna

    done = Prepared()
    tracker = _tracker(tracking_uri, done)
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        done.studies += 1
        try:
            done.named += name_metric(study)
            done.notes += write_notes(study)
            if tracker is not None:
                done.figures += copy_figures(study, tracker, store)
        except Exception as error:  # a study that cannot be prepared is still served as it is
            done.problems.append(f"{study.study_name}: not prepared ({one_line(error)})")
    return done


def name_metric(study: Any) -> int:
    """The score's name in words (optuna-dashboard shows "Objective 0" without one); a name already
    set is kept. Returns 1 if a name was set."""
    if study.metric_names is not None or len(study.directions) != 1:
        return 0
    study.set_metric_names([metric_words(study)])
    return 1


def study_note(study: Any) -> str:
    from glasstune.results.report import summary_lines

    lines = [f"### {study.study_name}: {metric_words(study)} ({study.direction.name.lower()})",
             "", f"data: {_data_markdown(study)}", ""]
    lines += [f"- {line}" for line in summary_lines(study)]
    return "\n".join([*lines, "", NOTE_MARK])


def trial_note(study: Any, trial: Any) -> str:
    """The trial in words: its score, training score and memorisation gap, data set, why it stopped."""
    attrs = trial.user_attrs
    words = metric_words(study)
    score = f"**{words} {trial.value:.3f}**" if _number(trial.value) else f"{words}: none"
    if trial.state.name == "PRUNED" and trial.intermediate_values:
        score += f" (when stopped, at {step_unit(study, [trial])} {max(trial.intermediate_values)})"
    parts = [score]
    if _number(attrs.get("train_score")):
        parts.append(f"training {attrs['train_score']:.3f}")
    if _number(attrs.get("gap")):
        parts.append(f"memorisation gap **{attrs['gap']:+.3f}**")
    if _number(attrs.get("test_accuracy")):
        parts.append(f"test accuracy {attrs['test_accuracy']:.3f}")
    lines = [" · ".join(parts), "", f"data: {_data_markdown(study, attrs.get(TrialAttr.DATA))}"]
    why = attrs.get(TrialAttr.PRUNE_REASON) or attrs.get(TrialAttr.ERROR)
    if why:
        lines += ["", str(why)]
    if attrs.get(TrialAttr.RUN_ID):
        lines += ["", f"MLflow run `{attrs[TrialAttr.RUN_ID]}` (its figures are below, under Artifacts)"]
    return "\n".join([*lines, "", NOTE_MARK])


def write_notes(study: Any) -> int:
    """The study's note and each finished trial's, where there is none or glasstune wrote it.
    Returns how many were written."""
    import optuna
    from optuna_dashboard import get_note, save_note

    written = _save_if_ours(study, study_note(study), get_note, save_note)
    for frozen in study.get_trials(deepcopy=False):
        if not frozen.state.is_finished():
            continue
        trial = optuna.trial.Trial(study, frozen._trial_id)
        written += _save_if_ours(trial, trial_note(study, frozen), get_note, save_note)
    return written


def _save_if_ours(owner: Any, body: str, get_note: Any, save_note: Any) -> int:
    current = get_note(owner)
    if current == body or (current and not current.rstrip().endswith(NOTE_MARK)):
        return 0
    save_note(owner, body)
    return 1


def copy_figures(study: Any, tracker: Any, store: Any) -> int:
    """Each finished trial's figures (its run's PNGs), copied once into the artifact store and listed
    where optuna-dashboard looks for a trial's artifacts. Returns how many were copied."""
    from glasstune.stores.views import download_figures

    # optuna-dashboard keys a trial's artifacts by the trial's storage id and writes them with the
    # storage's own methods, as its save_note does: Optuna has no public name for either
    storage = study._storage
    known = storage.get_study_system_attrs(study._study_id)
    copied = 0
    for trial in study.get_trials(deepcopy=False):
        run_id = trial.user_attrs.get(TrialAttr.RUN_ID)
        if not trial.state.is_finished() or not run_id:
            continue
        prefix = ARTIFACT_ATTR.format(trial_id=trial._trial_id)
        if any(key.startswith(prefix) for key in known):
            continue  # copied at an earlier start
        with tempfile.TemporaryDirectory(prefix="glasstune-figures-") as folder:
            for path in download_figures(tracker, run_id, Path(folder)):
                # the dashboard serves ids of hex digits and dashes only: a UUID named after the run and file
                artifact_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mlflow-run:{run_id}/{path.name}"))
                with open(path, "rb") as content:
                    store.write(artifact_id, content)
                meta = {"artifact_id": artifact_id, "filename": path.name, "mimetype": "image/png", "encoding": None}
                storage.set_study_system_attr(study._study_id, prefix + artifact_id, json.dumps(meta))
                copied += 1
    return copied


def _tracker(tracking_uri: str | None, done: Prepared) -> Any:
    if not tracking_uri:
        return None
    database = sqlite_path(tracking_uri)
    if database is not None and not database.exists():
        done.problems.append(f"no MLflow store at {database}: the trials' figures are not shown")
        return None
    from glasstune.stores.tracking import Tracker

    try:
        return Tracker.open(tracking_uri)
    except GlasstuneError as error:
        done.problems.append(f"{error}: the trials' figures are not shown")
        return None


def _data_markdown(study: Any, label: str | None = None) -> str:
    text = label or data_words(study)
    return text.replace("[SYNTHETIC]", "**[SYNTHETIC]**")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
