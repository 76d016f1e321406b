"""One self-contained HTML page per study: how the search went, what mattered, what memorised.

Figures come from Optuna's matplotlib visualisations (no plotly needed) plus a memorisation scatter;
each is saved as a PNG and embedded in the page, and the folder is logged to the study's parent run.
A figure that the study cannot support yet (too few trials) becomes a note in the page.
"""

from __future__ import annotations

import base64
import html
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from glasstune.stores.names import StudyAttr

MIN_TRIALS_FOR_IMPORTANCE = 3


def report(study: Any, out_dir: Path, tracking_uri: str | None = None) -> Path:
    """Write ``report.html`` and PNGs into ``out_dir``; log them to the parent run when there is one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = [_figure(out_dir, name, heading, make) for name, heading, make in _sections(study)]
    page = out_dir / "report.html"
    page.write_text(_page(study, sections))
    parent = study.user_attrs.get(StudyAttr.PARENT_RUN)
    if tracking_uri and parent:
        from glasstune.stores.tracking import Tracker

        Tracker.open(tracking_uri).log_folder(parent, out_dir, "report")
    return page


def _sections(study: Any) -> list[tuple[str, str, Callable[[], Any]]]:
    import optuna.visualization.matplotlib as vis

    complete = _complete(study)
    varied = _varied_params(complete)
    top = _top_params(study, varied)
    return [
        ("optimization_history", "Optimisation history",
         lambda: _need(complete, 1) or vis.plot_optimization_history(study)),
        ("param_importances", "Parameter importances",
         lambda: _need(complete, MIN_TRIALS_FOR_IMPORTANCE, varied, 2) or vis.plot_param_importances(study)),
        ("parallel_coordinate", "Parallel coordinates",
         lambda: _need(complete, 2, varied, 1) or vis.plot_parallel_coordinate(study)),
        ("contour", f"Contour of {' and '.join(top) or 'the two most important parameters'}",
         lambda: _need(complete, MIN_TRIALS_FOR_IMPORTANCE, varied, 2) or vis.plot_contour(study, params=top)),
        ("intermediate_values", "Intermediate values (pruned and complete trials)",
         lambda: _need_intermediate(study) or vis.plot_intermediate_values(study)),
        ("memorisation", "Memorisation: training score vs cross-validated score", lambda: _memorisation(study)),
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


def _varied_params(trials: list) -> list[str]:
    names = sorted({name for t in trials for name in t.params})
    return [n for n in names if len({repr(t.params.get(n)) for t in trials}) > 1]


def _top_params(study: Any, varied: list[str]) -> list[str]:
    """The two most important parameters by Optuna's evaluator, or the first two that vary."""
    if len(varied) < 2 or len(_complete(study)) < MIN_TRIALS_FOR_IMPORTANCE:
        return varied[:2]
    import optuna

    try:
        importances = optuna.importance.get_param_importances(study, params=varied)
        return list(importances)[:2]
    except Exception:
        return varied[:2]


def _memorisation(study: Any) -> Any:
    from glasstune.data.provenance import provenance_label
    from glasstune.results.plots import memorisation_scatter

    trials = [t for t in study.get_trials(deepcopy=False)
              if "train_score" in t.user_attrs and "cv_score" in t.user_attrs]
    if not trials:
        raise _Note("no trial recorded train_score and cv_score")
    label = provenance_label(study.user_attrs.get(StudyAttr.PROVENANCE) or {})
    return memorisation_scatter([t.user_attrs["train_score"] for t in trials],
                                [t.user_attrs["cv_score"] for t in trials],
                                [t.number for t in trials], [t.state.name for t in trials],
                                f"{study.study_name} · {label}")


def _figure(out_dir: Path, name: str, heading: str, make: Callable[[], Any]) -> dict[str, str]:
    """Draw one figure to ``name.png``; a failure becomes a note rather than a broken report."""
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
    path = out_dir / f"{name}.png"
    figure.set_size_inches(max(figure.get_size_inches()[0], 7), max(figure.get_size_inches()[1], 4.5))
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return {"heading": heading, "png": path.name,
            "data": base64.b64encode(path.read_bytes()).decode("ascii")}


def _page(study: Any, sections: list[dict[str, str]]) -> str:
    from glasstune.data.provenance import provenance_label

    states: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items())) or "no trials"
    label = provenance_label(study.user_attrs.get(StudyAttr.PROVENANCE) or {})
    best = ""
    complete = _complete(study)
    if complete:
        trial = study.best_trial
        params = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                           for k, v in trial.params.items())
        best = f"<p>Best: trial {trial.number}, value {trial.value:.4f} ({html.escape(params)})</p>"
    body = []
    for section in sections:
        body.append(f"<h2>{html.escape(section['heading'])}</h2>")
        if "note" in section:
            body.append(f"<p class='note'>Not shown: {html.escape(section['note'])}</p>")
        else:
            body.append(f"<img alt='{html.escape(section['heading'])}' src='data:image/png;base64,{section['data']}'>")
    title = f"Study {study.study_name}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}}
img{{max-width:100%;border:1px solid #ddd}}.note{{color:#8a5a00;background:#fff6e0;padding:.5em}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>Data: {html.escape(label)} · direction {study.direction.name.lower()} · trials: {html.escape(counts)}</p>
{best}
{chr(10).join(body)}
</body></html>
"""
