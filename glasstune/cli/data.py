"""``glasstune data``: simulate, featurise, list and check data sets (the data layer is ``glasstune.data``).

Heavy imports (OpenMM, gsd, pandas) happen inside the commands, so ``--help`` stays fast. Problems
with the user's input are raised as ``DataError``/``GlasstuneError``: the main CLI prints them as
one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from glasstune.cli.options import make_console, print_table
from glasstune.data.schema import FEATURE_COLUMNS
from glasstune.data.schema import LAB_TEMPERATURES as LAB_TEMPERATURE_VALUES
from glasstune.errors import DataError, GlasstuneError

data_app = typer.Typer(help="Make, featurise, list and check data sets.", no_args_is_help=True,
                  add_completion=False)
simulate_app = typer.Typer(help="Simulate Kob–Andersen data with OpenMM.", no_args_is_help=True)
data_app.add_typer(simulate_app, name="simulate")

LAB_TEMPERATURES = ",".join(f"{t:g}" for t in LAB_TEMPERATURE_VALUES)
PLATFORMS = ("auto", "cpu", "cuda")


def _temperatures(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise GlasstuneError(f"--temperatures {text!r}: give numbers separated by commas, "
                             f"e.g. {LAB_TEMPERATURES}") from error
    if not values or any(value <= 0 for value in values):
        raise GlasstuneError(f"--temperatures {text!r}: give positive temperatures (LJ units)")
    return values


def _platform(name: str) -> str:
    if name not in PLATFORMS:
        raise GlasstuneError(f"--platform {name!r}: use one of {', '.join(PLATFORMS)}")
    return name


OutOption = Annotated[Path | None, typer.Option(
    "--out", "-o", help="Write into this folder instead of the data cache.")]
PlatformOption = Annotated[str, typer.Option(help="OpenMM platform: auto, cpu or cuda.")]


@simulate_app.command("softness")
def simulate_softness(
    temperatures: Annotated[str, typer.Option(
        "--temperatures", "-t", help="Comma-separated LJ temperatures.")] = LAB_TEMPERATURES,
    n_particles: Annotated[int, typer.Option(
        "--n-particles", "-n", help="Particles (3D KA).")] = 1000,
    platform: PlatformOption = "auto",
    out: OutOption = None,
    seed: Annotated[int, typer.Option(
        help="Seed of the initial state, velocities and row choice.")] = 0,
    equilibration: Annotated[float | None, typer.Option(
        help="Equilibration (or ageing) time in tau (default: by temperature).")] = None,
    production: Annotated[float | None, typer.Option(
        help="Production time in tau (default: by temperature).")] = None,
    labels: Annotated[str, typer.Option(
        help="thresholds (the lab's Phop rule) or quantiles (relative, flagged).")] = "thresholds",
) -> None:
    """3D KA feature tables (Phop labels, 100 structure functions), one file per temperature."""
    from glasstune.data.ka.datasets import SimulatedSoftness, rich_progress
    from glasstune.data.provenance import read_provenance

    console = make_console()
    rows = []
    for temperature in _temperatures(temperatures):
        source = SimulatedSoftness(temperature, n_particles=n_particles, seed=seed,
                                   equilibration=equilibration, production=production,
                                   labels=labels, platform=_platform(platform))
        path = Path(out) / source.path.name if out is not None else source.path
        if out is None and path.exists():
            console.print(f"T={temperature:g}: cached at {path}")
        else:
            with rich_progress(f"T={temperature:g}") as progress:
                _make(source, path, progress, cache=out is None)
        provenance = read_provenance(path)
        rows.append((f"{temperature:g}", provenance.get("rows"), provenance.get("frames"),
                     provenance.get("label_rule"), provenance.get("equilibrated"), path))
    print_table(console, "simulated feature tables",
                 ("T", "rows", "frames", "labels", "equilibrated", "file"), rows)


@simulate_app.command("images")
def simulate_images(
    runs: Annotated[int, typer.Option("--runs", "-r", help="Cooling runs (two images each).")] = 30,
    n_particles: Annotated[int, typer.Option(
        "--n-particles", "-n", help="Particles (2D KA).")] = 300,
    liquid_temperature: Annotated[float, typer.Option(
        help="Temperature on the ramp where the liquid image is taken.")] = 1.95,
    size: Annotated[int, typer.Option(help="Image side in pixels.")] = 250,
    inherent: Annotated[bool, typer.Option(
        "--inherent", help="Add energy-minimised (inherent-structure) images.")] = False,
    minimised: Annotated[bool, typer.Option(
        "--minimised", help="Only energy-minimised (inherent-structure) images.")] = False,
    cooling_time: Annotated[float, typer.Option(
        help="Duration of the ramp 2.0 -> 0.05, in tau.")] = 50.0,
    platform: PlatformOption = "auto",
    out: OutOption = None,
    seed: Annotated[int, typer.Option(help="Seed of initial states and velocities.")] = 0,
) -> None:
    """2D KA glass/liquid image set (.npz) from linear cooling runs."""
    from glasstune.data.image_sets import load_image_set
    from glasstune.data.ka.datasets import SimulatedImages, rich_progress

    source = SimulatedImages(runs=runs, size=size, n_particles=n_particles,
                             liquid_temperature=liquid_temperature, inherent=inherent, minimised=minimised, seed=seed,
                             cooling_time=cooling_time, platform=_platform(platform))
    path = Path(out) / source.path.name if out is not None else source.path
    console = make_console()
    if out is None and path.exists():
        console.print(f"cached at {path}")
    else:
        with rich_progress("images") as progress:
            _make(source, path, progress, cache=out is None)
    images = load_image_set(path)
    console.print(f"{len(images)} images of {images.image_size[0]} px, "
                  f"{int(images.labels.sum())} glass / {int((images.labels == 0).sum())} liquid: "
                  f"{path}")


def _make(source: Any, path: Path, progress: Any, *, cache: bool) -> None:
    """Make a set; into the cache under its lock, so a study starting meanwhile waits for it."""
    if not cache:
        source.make(path, progress=progress)
        return
    from glasstune.data.cache import ensure_cached

    ensure_cached(path, lambda target: source.make(target, progress=progress), name=source.name)


@data_app.command("featurize")
def featurize_command(
    trajectory: Annotated[Path, typer.Argument(help="A HOOMD .gsd or an .npz trajectory.")],
    temperature: Annotated[float | None, typer.Option(
        help="LJ temperature (needed when the file does not say).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output .parquet.", show_default="beside the trajectory")] = None,
    frame_time: Annotated[float | None, typer.Option(
        help="LJ time between frames; overrides the file (GSD: steps x 0.005).")] = None,
    window: Annotated[float, typer.Option(help="Phop window in tau (the lab's: 10).")] = 10.0,
    quiet_interval: Annotated[float, typer.Option(
        help="How long a quiet particle must stay below the low threshold, in tau.")] = 10.0,
    rule: Annotated[str, typer.Option(
        help="Labels: thresholds (the lab's: Phop > 0.2 vs < 0.05) or quantiles (relative, flagged).")] = "thresholds",
    seed: Annotated[int, typer.Option(help="Seed of the balanced row choice.")] = 0,
) -> None:
    """A trajectory -> feature table with Phop labels (and a provenance sidecar)."""
    from glasstune.data.ka.datasets import rich_progress
    from glasstune.data.ka.featurize import featurize
    from glasstune.data.ka.phop import LabelRule
    from glasstune.data.ka.trajectory import read_trajectory
    from glasstune.data.table import write_feature_table

    loaded = read_trajectory(trajectory)
    if frame_time is not None:
        if frame_time <= 0:
            raise GlasstuneError(f"--frame-time must be positive, got {frame_time}")
        loaded.frame_time = frame_time
    label_rule = LabelRule(window=window, quiet_interval=quiet_interval, rule=rule)
    with rich_progress("featurize") as progress:
        table, provenance = featurize(loaded, temperature=temperature, rule=label_rule,
                                      seed=seed, progress=progress)
    provenance["name"] = trajectory.name
    path = out or trajectory.with_name(trajectory.name.split(".")[0] + "_features.parquet")
    write_feature_table(table, provenance, path)
    make_console().print(
        f"{len(table)} rows ({int(table['label'].sum())} rearranging) from "
        f"{table['frame'].nunique()} frames, labels by {provenance['label_rule']}: {path}"
    )


@data_app.command("list")
def list_command() -> None:
    """Cached data sets in the data directory, with their provenance."""
    from glasstune.config import data_dir

    root = data_dir()
    files = sorted(p for suffix in ("*.parquet", "*.npz") for p in root.rglob(suffix)
                   if not p.name.startswith(".")) if root.exists() else []
    console = make_console()
    if not files:
        console.print(f"no data sets in {root}")
        return
    rows = [_describe_file(path, root) for path in files]
    print_table(console, f"data sets in {root}",
                 ("name", "size", "rows", "synthetic", "equilibrated", "source"), rows)


def _describe_file(path: Path, root: Path) -> tuple[str, ...]:
    from glasstune.data.provenance import read_provenance

    provenance = read_provenance(path)
    size = f"{path.stat().st_size / 1e6:.1f} MB"
    rows = _count_rows(path)
    engine = provenance.get("engine") or provenance.get("generator") or "user file"
    details = [str(engine)]
    for key, label in (("temperature", "T"), ("n_particles", "N"), ("runs", "runs")):
        if provenance.get(key) is not None:
            details.append(f"{label}={provenance[key]}")
    equilibrated = provenance.get("equilibrated")
    return (str(path.relative_to(root)), size, rows, str(bool(provenance.get("synthetic"))),
            "-" if equilibrated is None else str(equilibrated), " ".join(details))


def _count_rows(path: Path) -> str:
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return str(pq.ParquetFile(path).metadata.num_rows)
        import numpy as np

        with np.load(path, allow_pickle=False) as arrays:
            key = "labels" if "labels" in arrays.files else arrays.files[0]
            return str(len(arrays[key]))
    except Exception:  # a broken file is listed, not fatal; `check` says what is wrong
        return "unreadable"


@data_app.command("check")
def check_command(
    file: Annotated[Path, typer.Argument(
        help="A feature table (.parquet file or folder, .csv, .npz, X.npy), an image set (.npz) or a lab image "
             "folder.")],
    features: Annotated[str | None, typer.Option(
        "--features", help="Feature columns: a comma-separated list, a glob such as 'f*' or a range such as "
        "'f0:f99' [default: G_A_00..G_B_49].")] = None,
    label: Annotated[str, typer.Option(
        "--label", help="The label column (for X.npy: the labels' .npy file).")] = "label",
    group: Annotated[str | None, typer.Option(
        "--group", help="The column of correlated rows (frame, trajectory) [default: frame, if present].")] = None,
    temperature: Annotated[str | None, typer.Option(
        "--temperature", help="A temperature column, or a number (select those rows, or every row's "
        "temperature) [default: temperature, if present].")] = None,
    task: Annotated[str, typer.Option(
        "--task", help="auto, classification or regression (a continuous label).")] = "auto",
) -> None:
    """Validate a feature table or image set, show what glasstune would read, say what looks wrong.

    The options are table_file's: the same line in a study file reads the table as shown here."""
    if not file.exists():
        raise DataError(f"{file}: no such file or folder")
    console = make_console()
    mapping = (features, label, group, temperature, task)
    if (file.is_dir() and not any(file.rglob("*.parquet"))) or _is_image_npz(file):
        problems = _check_images(file, console)
    else:
        problems = _check_table(file, console, *mapping)
    if problems:
        console.print(f"[bold yellow]{len(problems)} problem(s) found:[/]")
        for problem in problems:
            console.print(f"  - {problem}")
    else:
        console.print("[bold green]no problems found[/]")


def _is_image_npz(path: Path) -> bool:
    if path.suffix != ".npz":
        return False
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as arrays:
            return "images" in arrays.files
    except Exception as error:
        raise DataError(f"{path}: cannot be read as NPZ: {error}") from error


def _number_or_text(text: str | None) -> float | str | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _check_table(path: Path, console: Any, features: str | None, label: str, group: str | None,
                 temperature: str | None, task: str) -> list[str]:
    import numpy as np

    from glasstune.cli.models import parse_features
    from glasstune.data.sources import table_file

    source = table_file(path, features=parse_features(features), label=label, group=group,
                        temperature=_number_or_text(temperature), task=task)
    table = source.load()
    frame = table.frame
    summary = table.summary()
    print_table(console, f"{path}: {len(frame)} rows, {len(table.features)} features, {table.task}",
                tuple(summary.columns), summary.itertuples(index=False))
    shown_features = ", ".join(table.features[:3]) + (f" ... {table.features[-1]}" if len(table.features) > 3 else "")
    console.print(f"features ({len(table.features)}): {shown_features}")
    classes = f" (classes {', '.join(map(str, table.classes))})" if table.classes is not None else ""
    console.print(f"label: {label} -> {table.task}{classes}")
    if table.provenance.get("label_mapping"):
        console.print(f"  mapped to codes: {table.provenance['label_mapping']}")
    console.print(f"group: {table.group or '-'}; temperature: {table.temperature or '-'}"
                  f"{' (' + ', '.join(f'{t:g}' for t in table.temperatures) + ')' if table.temperatures else ''}")
    if table.unused_columns:
        console.print(f"not read: {', '.join(table.unused_columns[:8])}"
                      f"{' ...' if len(table.unused_columns) > 8 else ''}")
    provenance = table.provenance
    console.print(f"provenance: synthetic={bool(provenance.get('synthetic'))}, "
                  f"engine={provenance.get('engine', '-')}, "
                  f"equilibrated={provenance.get('equilibrated', '-')}, "
                  f"label rule={provenance.get('label_rule', '-')}")
    problems = _dynamics_notes(provenance, console)
    if provenance.get("synthetic"):
        problems.append("synthetic stand-in data: fine for tests, not for physics")
    if provenance.get("equilibrated") is False:
        problems.append("the simulation was not equilibrated at this temperature (quenched and "
                        "aged): results describe an ageing glass")
    if table.group is None:
        problems.append("no 'frame' column: folds cannot be grouped by frame, so correlated "
                        "particles of one frame leak between training and test (name one with --group)")
    else:
        for row in summary.itertuples(index=False):
            if row.groups < 5:
                where = f"T={row.temperature:g}: " if table.temperature is not None else ""
                problems.append(f"{where}only {row.groups} group(s) of {table.group!r}; 5-fold CV "
                                f"grouped by {table.group} needs at least 5")
        ids = [c for c in (table.temperature, table.group, "particle") if c is not None and c in frame]
        if "particle" in frame and frame.duplicated(ids).any():
            problems.append(f"some ({', '.join(ids)}) rows appear more than once")
    for row in summary.itertuples(index=False):
        where = f"T={row.temperature:g}: " if table.temperature is not None else ""
        if table.classes is not None:
            fractions = [getattr(row, column) for column in summary.columns if str(column).startswith("fraction_")]
            if min(fractions) < 0.6 / len(fractions):
                problems.append(f"{where}the rarest class is {min(fractions):.0%} of the rows; plain accuracy will "
                                f"mislead, use balanced accuracy")
        if row.rows < 100:
            problems.append(f"{where}only {row.rows} rows; cross-validated scores will be noisy")
    values = table.X
    if table.features == FEATURE_COLUMNS and (values < 0).any():
        problems.append("negative feature values: structure functions are sums of positive "
                        "terms (were the features standardised already?)")
    constant = int((values.std(axis=0) == 0).sum())
    if constant:
        problems.append(f"{constant} feature column(s) are constant")
    if np.allclose(values, 0):
        problems.append("every feature is zero")
    return problems


def _dynamics_notes(provenance: dict[str, Any], console: Any) -> list[str]:
    """The simulation's relaxation and labels as recorded (tau_alpha, ageing, hop counts), and the
    problems they point at."""
    problems = []
    if provenance.get("label_rule_text"):
        console.print(f"labels: {provenance['label_rule_text']}")
    if "tau_alpha" in provenance:
        ageing = provenance.get("ageing_check") or {}
        tau = provenance.get("tau_alpha")
        console.print(f"tau_alpha (F_s at q = {provenance.get('tau_alpha_q', '-')}): "
                      f"{'not reached in the run' if tau is None else f'{tau:.3g}'}; ageing check: "
                      f"F_s({ageing.get('lag')}) {ageing.get('fs_first_half')} in the first half, "
                      f"{ageing.get('fs_second_half')} in the second, ageing={ageing.get('ageing')}")
        if ageing.get("ageing"):
            problems.append("the sample still ages during production: its dynamics slow down from the first "
                            "half of the run to the second")
    hops = provenance.get("hop_counts")
    if hops:
        console.print(f"hops: {hops['hop_events']} rearrangements (rises of Phop above the threshold), "
                      f"{hops['above_hop_threshold']} of {hops['particle_frames']} (particle, frame) pairs "
                      f"above it, {hops['quiet_throughout_interval']} quiet throughout")
    if provenance.get("label_rule") == "quantiles":
        problems.append("quantile labels (top vs quietest Phop), not the lab's thresholds: 'rearranging' "
                        f"starts at Phop {provenance.get('hop_threshold')}")
    return problems


def _check_images(path: Path, console: Any) -> list[str]:
    import numpy as np

    from glasstune.data.image_sets import load_image_set

    images = load_image_set(path)
    glass = int(images.labels.sum())
    liquid = len(images) - glass
    height, width = images.image_size
    console.print(f"{path}: {len(images)} images of {height} x {width} px, "
                  f"{glass} glass / {liquid} liquid")
    for name, values in images.extras.items():
        kinds, counts = np.unique(values, return_counts=True)
        pairs = [f"{k}: {c}" for k, c in zip(kinds.tolist(), counts.tolist(), strict=True)]
        console.print(f"  {name}: {', '.join(pairs[:6])}{' ...' if len(pairs) > 6 else ''}")
    provenance = images.provenance
    console.print(f"provenance: synthetic={bool(provenance.get('synthetic'))}, "
                  f"engine={provenance.get('engine', '-')}")
    problems = []
    if provenance.get("synthetic"):
        problems.append("synthetic stand-in data: fine for tests, not for physics")
    if min(glass, liquid) < 0.3 * len(images):
        problems.append(f"classes are unbalanced ({glass} glass, {liquid} liquid)")
    if min(glass, liquid) < 20:
        problems.append(f"only {min(glass, liquid)} images in the smaller class: a 70/15/15 "
                        f"split leaves a handful for validation and test")
    flat = images.images.reshape(len(images), -1)
    if len(np.unique(flat, axis=0)) < len(images):
        problems.append("some images are exact duplicates (they leak between splits)")
    if (flat.std(axis=1) == 0).any():
        problems.append("some images are blank (a single colour)")
    return problems


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the glasstune command."""
    app.add_typer(data_app, name="data")
