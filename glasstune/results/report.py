"""One self-contained HTML page per study: which trial is best, is it memorising, what did the
curves do, which trials were pruned and why, and whether more trials would help.

A short summary in words comes first (``summary_lines``), then the figures: the score by trial
number and the intermediate values against epochs (drawn here, in the lab's words, the best trial
marked), the memorisation scatter, and Optuna's parameter importances, parallel coordinates and
contour with their "Objective Value" renamed. Every figure carries the data set (and says
[SYNTHETIC] when it is); each is saved as a PNG and embedded, and the folder is logged to the
study's parent run. A figure that the study cannot support yet (too few trials) becomes a note.
"""

from __future__ import annotations

import base64
import html
import math
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from glasstune.results.words import (
    baseline_words,
    data_words,
    is_synthetic,
    metric_words,
    reported_words,
    step_unit,
)
from glasstune.stores.names import StudyAttr

MIN_TRIALS_FOR_IMPORTANCE = 3
DROP_TO_MENTION = 0.01
"""A complete trial whose last reported score is this far below its own peak is named in the summary."""
RECENT_SHARE = 0.25
"""The best score "kept rising" when it last improved within this share of the finished trials (at
least the last 3): more trials may help. Otherwise it has plateaued."""


def report(study: Any, out_dir: Path, tracking_uri: str | None = None) -> Path:
    """Write ``report.html`` and PNGs into ``out_dir``; log them to the parent run when there is one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    footer = f"study {study.study_name} · data: {data_words(study)}"
    sections = [_figure(out_dir, name, heading, make, footer, is_synthetic(study), metric_words(study))
                for name, heading, make in _sections(study)]
    page = out_dir / "report.html"
    page.write_text(_page(study, summary_lines(study), sections))
    parent = study.user_attrs.get(StudyAttr.PARENT_RUN)
    if tracking_uri and parent:
        from glasstune.stores.tracking import Tracker

        Tracker.open(tracking_uri).log_folder(parent, out_dir, "report")
    return page


def summary_lines(study: Any) -> list[str]:
    """The report's first lines: the best trial and its gap, the baseline, how many trials were pruned
    and at which steps, whether the best score kept rising to the end, trials that ended below their
    own peak."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    words, unit = metric_words(study), step_unit(study, trials)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    lines = []
    best = study.best_trial if complete else None
    if best is None:
        lines.append("No complete trial yet.")
    else:
        lines.append(f"Best: trial {best.number}, {words} {best.value:.3f}{_best_details(best)}.")
    baseline = baseline_words(study, best.value if best is not None else None)
    if baseline:
        lines.append(f"Baseline: {baseline}.")
    counts = Counter(t.state.name.lower() for t in trials)
    lines.append("Trials: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) + "."
                 if counts else "Trials: none yet.")
    if pruned:
        stopped = Counter(max(t.intermediate_values) for t in pruned if t.intermediate_values)
        where = ", ".join(f"{unit} {step} ({n})" for step, n in sorted(stopped.items()))
        lines.append(f"Pruned: {len(pruned)} of {len(complete) + len(pruned)} finished trials, at {where}.")
    if best is not None:
        lines.append(_progress(study, complete + pruned, best))
    fell = _fell_from_peak(complete, unit)
    if fell:
        lines.append(fell)
    return lines


def _best_details(best: Any) -> str:
    attrs = best.user_attrs
    if _is_number(attrs.get("train_score")) and _is_number(attrs.get("gap")):
        return f" (training {attrs['train_score']:.3f}, memorisation gap {attrs['gap']:+.3f})"
    if _is_number(attrs.get("test_accuracy")):
        return f" (test accuracy {attrs['test_accuracy']:.3f})"
    return ""


def _progress(study: Any, finished: list[Any], best: Any) -> str:
    """Did the best score keep rising until the budget ran out, or has it plateaued?"""
    ordered = sorted(finished, key=lambda t: t.number)
    complete = [t for t in ordered if t.state.name == "COMPLETE"]
    maximise = study.direction.name == "MAXIMIZE"
    improvements = []  # (trial, previous best) each time the best score improved
    running = None
    for trial in complete:
        if running is None or (trial.value > running if maximise else trial.value < running):
            improvements.append((trial, running))
            running = trial.value
    last, before = improvements[-1]
    since = sum(1 for t in ordered if t.number > last.number)
    if len(ordered) < 4:
        return f"Too few finished trials ({len(ordered)}) to tell whether the best score has plateaued."
    change = f" (from {before:.3f} to {last.value:.3f})" if before is not None else ""
    if since < max(3, math.ceil(RECENT_SHARE * len(ordered))):
        return (f"Still rising: the best score last improved at trial {last.number}{change}, {since} finished "
                f"trial(s) before the budget's end; more trials may help.")
    return (f"Plateaued: no better score in the {since} finished trials since trial {last.number}{change}.")


def _fell_from_peak(complete: list[Any], unit: str) -> str | None:
    """Complete trials scored at their last report below their own peak (trained too long?)."""
    fell = []
    for trial in complete:
        values = trial.intermediate_values
        if len(values) < 2:
            continue
        peak_step = max(values, key=lambda step: values[step])
        last_step = max(values)
        drop = values[peak_step] - values[last_step]
        if drop >= DROP_TO_MENTION:
            fell.append((drop, trial.number, peak_step, values[peak_step], last_step, values[last_step]))
    if not fell:
        return None
    fell.sort(reverse=True)
    drop, number, peak_step, peak, last_step, last = fell[0]
    return (f"{len(fell)} complete trial(s) ended {DROP_TO_MENTION} or more below their own peak: trial {number} "
            f"peaked at {peak:.3f} at {unit} {peak_step} and scored {last:.3f} at {unit} {last_step} "
            f"({drop:.3f} lower); fewer {unit}s may score higher.")


def _sections(study: Any) -> list[tuple[str, str, Callable[[], Any]]]:
    import optuna.visualization.matplotlib as vis

    complete = _complete(study)
    varied = _varied_params(complete)
    top = _top_params(study, varied)
    words = metric_words(study)
    unit = step_unit(study)
    return [
        ("optimization_history", f"{words.capitalize()} by trial number",
         lambda: _need(complete, 1) or _score_by_trial(study)),
        ("intermediate_values", f"{reported_words(study).capitalize()} against {unit}s (complete and pruned "
                                f"trials)",
         lambda: _need_intermediate(study) or _intermediate(study)),
        ("memorisation", f"Memorisation: training against {words}", lambda: _memorisation(study)),
        ("param_importances", "Parameter importances",
         lambda: _need(complete, MIN_TRIALS_FOR_IMPORTANCE, varied, 2) or vis.plot_param_importances(study)),
        ("parallel_coordinate", "Parallel coordinates",
         lambda: _need(complete, 2, varied, 1) or vis.plot_parallel_coordinate(study)),
        ("contour", f"Contour of {' and '.join(top) or 'the two most important parameters'}",
         lambda: _need(complete, MIN_TRIALS_FOR_IMPORTANCE, varied, 2) or vis.plot_contour(study, params=top)),
    ]


class _Note(Exception):
    """Why a figure is missing, shown in the page in its place."""


def _need(complete: list, n_trials: int, varied: list | None = None, n_params: int = 0) -> None:
    if len(complete) < n_trials:
        raise _Note(f"needs at least {n_trials} complete trial(s); the study has {len(complete)}")
    if varied is not None and len(varied) < n_params:
        raise _Note(f"needs at least {n_params} parameter(s) that vary across complete trials; "
                    f"the study has {len(varied)}")


def _need_intermediate(study: Any) -> None:
    if not any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        raise _Note("no trial reported intermediate values")


def _complete(study: Any) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def _best_number(study: Any) -> int | None:
    return study.best_trial.number if _complete(study) else None


def _varied_params(trials: list) -> list[str]:
    names = sorted({name for t in trials for name in t.params})
    return [n for n in names if len({repr(t.params.get(n)) for t in trials}) > 1]


def _top_params(study: Any, varied: list[str]) -> list[str]:
    """The two most important parameters by Optuna's evaluator, or the first two that vary."""
    if len(varied) < 2 or len(_complete(study)) < MIN_TRIALS_FOR_IMPORTANCE:
        return varied[:2]
    import optuna

    try:
        with warnings.catch_warnings():  # Optuna warns about regimes of few trials: the figures say enough
            warnings.simplefilter("ignore")
            importances = optuna.importance.get_param_importances(study, params=varied)
        return list(importances)[:2]
    except Exception:
        return varied[:2]


def _score_by_trial(study: Any) -> Any:
    from glasstune.results.study_plots import score_by_trial

    finished = [t for t in study.get_trials(deepcopy=False)
                if t.state.name in ("COMPLETE", "PRUNED") and _is_number(t.value)]
    baseline = study.user_attrs.get(StudyAttr.BASELINE)
    band = None
    if isinstance(baseline, dict) and _is_number(baseline.get("score")):
        spread = baseline.get("spread")
        band = (str(baseline.get("name", "baseline")), float(baseline["score"]),
                float(spread) if _is_number(spread) else 0.0)
    return score_by_trial([t.number for t in finished], [t.value for t in finished],
                          [t.state.name for t in finished], best=_best_number(study), score=metric_words(study),
                          title=f"study {study.study_name}", maximise=study.direction.name == "MAXIMIZE",
                          baseline=band)


def _intermediate(study: Any) -> Any:
    from glasstune.results.study_plots import intermediate_curves

    trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    curves = {t.number: (sorted(t.intermediate_values), [t.intermediate_values[s] for s in
                                                          sorted(t.intermediate_values)]) for t in trials}
    return intermediate_curves(curves, {t.number: t.state.name for t in trials}, best=_best_number(study),
                               score=reported_words(study), unit=step_unit(study, trials),
                               title=f"study {study.study_name}")


def _memorisation(study: Any) -> Any:
    from glasstune.results.plots import memorisation_scatter

    trials = [t for t in study.get_trials(deepcopy=False)
              if _is_number(t.user_attrs.get("train_score")) and _is_number(t.user_attrs.get("cv_score"))]
    if not trials:
        raise _Note("no trial recorded a training score beside its held-out score (train_score and cv_score)")
    return memorisation_scatter([t.user_attrs["train_score"] for t in trials],
                                [t.user_attrs["cv_score"] for t in trials],
                                [t.number for t in trials], [t.state.name for t in trials],
                                f"study {study.study_name}", best=_best_number(study),
                                score=metric_words(study))


def _figure(out_dir: Path, name: str, heading: str, make: Callable[[], Any], footer: str,
            synthetic: bool, words: str) -> dict[str, str]:
    """Draw one figure to ``name.png``, in the lab's words and with the data set written on it; a
    failure becomes a note rather than a broken report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            drawn = make()
    except _Note as note:
        return {"heading": heading, "note": str(note)}
    except Exception as error:  # Optuna refuses some studies (e.g. one distinct value): say why
        return {"heading": heading, "note": f"not drawn: {type(error).__name__}: {error}"}
    axis = drawn.flat[0] if hasattr(drawn, "flat") else drawn
    figure = axis.figure if hasattr(axis, "figure") else drawn
    _rename_objective(figure, words)
    path = out_dir / f"{name}.png"
    figure.set_size_inches(max(figure.get_size_inches()[0], 7), max(figure.get_size_inches()[1], 4.5))
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    figure.text(0.01, 0.008, footer, fontsize=8, color="firebrick" if synthetic else "dimgrey")
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return {"heading": heading, "png": path.name,
            "data": base64.b64encode(path.read_bytes()).decode("ascii")}


def _rename_objective(figure: Any, words: str) -> None:
    """Optuna's figures say "Objective Value"; the report says what the value is."""
    from matplotlib.text import Text

    for text in figure.findobj(Text):
        if text.get_text() == "Objective Value":
            text.set_text(words)
    for axes in figure.axes:
        labels = [label.get_text() for label in axes.get_xticklabels()]
        if "Objective Value" in labels:
            axes.set_xticks(axes.get_xticks(), [words if label == "Objective Value" else label for label in labels])


def _page(study: Any, summary: list[str], sections: list[dict[str, str]]) -> str:
    label = data_words(study)
    flag = " <strong class='synthetic'>synthetic data</strong>" if is_synthetic(study) else ""
    body = []
    for section in sections:
        body.append(f"<h2>{html.escape(section['heading'])}</h2>")
        if "note" in section:
            body.append(f"<p class='note'>Not shown: {html.escape(section['note'])}</p>")
        else:
            body.append(f"<img alt='{html.escape(section['heading'])}' src='data:image/png;base64,{section['data']}'>")
    best = ""
    if _complete(study):
        trial = study.best_trial
        params = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                           for k, v in trial.params.items())
        best = f"<p>Best trial's parameters: {html.escape(params)}</p>"
    items = "\n".join(f"<li>{html.escape(line)}</li>" for line in summary)
    title = f"Study {study.study_name}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}}
img{{max-width:100%;border:1px solid #ddd}}.note{{color:#8a5a00;background:#fff6e0;padding:.5em}}
.synthetic{{color:#b00}}ul.summary li{{margin:.25em 0}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>Data: {html.escape(label)}{flag} · score: {html.escape(metric_words(study))} ({study.direction.name.lower()})</p>
<ul class="summary">
{items}
</ul>
{best}
{chr(10).join(body)}
</body></html>
"""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
