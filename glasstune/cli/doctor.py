"""``glasstune doctor``: do the Optuna storage and the MLflow store of a study agree? (glasstune.doctor)"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from glasstune.cli.options import StorageOption, StudyArgument, TrackingOption, make_console, study_name
from glasstune.config import default_storage, default_tracking_uri
from glasstune.errors import GlasstuneError


def doctor(
    study: StudyArgument,
    repair: Annotated[bool, typer.Option(
        "--repair", help="Fix what is safe: fail stale trials, end runs of finished trials with their status, "
        "tag orphan runs glasstune.orphan=true. Nothing is deleted.")] = False,
    stale_after: Annotated[float | None, typer.Option(
        "--stale-after", help="Storages without heartbeats (journal): a RUNNING trial started more than this "
        "many seconds ago counts as abandoned.")] = None,
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Check that every trial has one MLflow run with the matching status; exit 1 if problems remain."""
    from glasstune.cli.options import quiet_libraries
    from glasstune.stores.doctor import check_study

    quiet_libraries()
    name = study_name(study)
    result = check_study(name, storage or default_storage(), tracking_uri or default_tracking_uri(),
                         fix=repair, stale_after=stale_after)
    console = make_console()
    before = result.before
    rows = result.repaired if result.repaired is not None else before.findings
    if rows:
        _findings_table(console, f"doctor: {name}", rows, repair)
    if repair:  # what a repair could not fix (or found only once runs had their status) is listed too
        seen = {(f.kind, f.trial, f.run_id) for f in rows}
        left = [f for f in result.remaining if (f.kind, f.trial, f.run_id) not in seen]
        if left:
            _findings_table(console, f"doctor: {name}, still wrong after the repair", left, False)
    console.print(f"{name}: {before.trials} trial(s), {before.runs} MLflow run(s), {len(before.findings)} "
                  f"problem(s) found" + (f", {sum(f.fixed for f in rows)} repaired" if repair else ""))
    if before.acknowledged_orphans:
        console.print(f"{before.acknowledged_orphans} run(s) already tagged glasstune.orphan=true (left as they are)")
    if result.after.running_unjudged:
        console.print(f"{result.after.running_unjudged} trial(s) RUNNING on a storage without heartbeats: if their "
                      f"processes are gone, --repair --stale-after SECONDS fails them")
    remaining = result.remaining
    if remaining:
        hint = "" if repair else f"; glasstune doctor {study} --repair fixes what is safe"
        raise GlasstuneError(f"{len(remaining)} problem(s) remain in study {name}{hint}", exit_code=1)


def _findings_table(console: Any, title: str, findings: list[Any], repaired: bool) -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in ("finding", "trial", "run", "detail", "repair" if repaired else "--repair would"):
        table.add_column(column, overflow="fold", no_wrap=column in ("finding", "run"))  # ids stay whole
    for finding in findings:
        if repaired:
            action = ("done: " if finding.fixed else "not done: ") + (finding.fix or "nothing is safe to do")
        else:
            action = finding.fix or "(nothing safe; see detail)"
        table.add_row(finding.kind, "" if finding.trial is None else str(finding.trial),
                      finding.run_id or "", finding.detail, action)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to the glasstune command."""
    app.command()(doctor)
