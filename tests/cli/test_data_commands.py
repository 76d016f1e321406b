"""``glasstune data``: featurise GSD and NPZ trajectories, tiny simulations, list and check."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from glasstune.cli.data import data_app as app
from glasstune.data.image_sets import load_image_set
from glasstune.data.ka.phop import phop
from glasstune.data.ka.structure import structure_functions
from glasstune.data.provenance import read_provenance
from glasstune.data.table import load_table
from glasstune.errors import DataError, GlasstuneError

runner = CliRunner()
LENGTH = 6.0
FRAME_TIME = 0.1
JUMP_FRAMES = (70, 90, 110, 130)  # the analysis frames of a 201-frame run (window 4, quiet 10)
SHORT_WINDOW = ("--window", "4")  # the toy run is 20 tau long: too short for the lab's 10 tau window


def toy_trajectory(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Unwrapped positions (201 frames, 150 particles) that rattle by 0.02 sigma, drift across
    the box faces, and 10 A particles that hop by 1 sigma at each of ``JUMP_FRAMES``."""
    rng = np.random.default_rng(seed)
    n, frames = 150, 201
    species = np.r_[np.zeros(120, np.int8), np.ones(30, np.int8)]
    home = rng.random((n, 3)) * LENGTH
    drift = np.linspace(0, 1, frames)[:, None, None] * rng.normal(0, 0.1, (1, n, 3))
    positions = home + drift + 0.02 * rng.standard_normal((frames, n, 3))
    jumpers = []
    order = 1 + rng.permutation(119)  # particle 0 is the walker below
    for k, frame in enumerate(JUMP_FRAMES):
        chosen = order[10 * k: 10 * k + 10]
        positions[frame:, chosen, 0] += 1.0
        jumpers.append(chosen)
    positions[:, 0, 0] = np.linspace(5.5, 6.6, frames)  # walks out through the x face
    return positions, species, jumpers


def write_gsd(path, positions, species, step_gap=20):
    import gsd.hoomd

    with gsd.hoomd.open(str(path), "w") as handle:
        for index, unwrapped in enumerate(positions):
            centred = unwrapped - LENGTH / 2  # HOOMD boxes run from -L/2 to L/2
            image = np.floor((centred + LENGTH / 2) / LENGTH).astype(np.int32)
            frame = gsd.hoomd.Frame()
            frame.configuration.step = index * step_gap
            frame.configuration.box = [LENGTH, LENGTH, LENGTH, 0, 0, 0]
            frame.particles.N = len(species)
            frame.particles.types = ["A", "B"]
            frame.particles.typeid = species.astype(np.uint32)
            frame.particles.position = (centred - image * LENGTH).astype(np.float32)
            frame.particles.image = image
            handle.append(frame)


def check_featurised(path, positions, species, jumpers):
    table = load_table(path)
    frame = table.frame
    assert sorted(frame["frame"].unique().tolist()) == list(JUMP_FRAMES)
    assert (frame["species"] == 0).all() and len(frame) == 80
    for analysis_frame, hopped in zip(JUMP_FRAMES, jumpers, strict=True):
        rows = frame[frame["frame"] == analysis_frame]
        assert set(rows.loc[rows["label"] == 1, "particle"]) == set(hopped.tolist())
    expected = phop(positions, 40)[frame["frame"], frame["particle"]]
    np.testing.assert_allclose(frame["phop"], expected, rtol=1e-3, atol=1e-5)
    first = frame.iloc[0]
    features = structure_functions(positions[int(first["frame"])], species,
                                   np.full(3, LENGTH), np.array([int(first["particle"])]))
    np.testing.assert_allclose(table.X[0], features[0], rtol=1e-4, atol=1e-4)
    return table


def test_featurize_a_gsd_file(tmp_path):
    positions, species, jumpers = toy_trajectory()
    write_gsd(tmp_path / "run.gsd", positions, species)  # 20 steps * dt 0.005 = 0.1 per frame
    out = tmp_path / "features.parquet"
    result = runner.invoke(app, ["featurize", str(tmp_path / "run.gsd"), "--temperature", "0.6",
                                 "--rule", "thresholds", *SHORT_WINDOW, "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = check_featurised(out, positions, species, jumpers)
    provenance = read_provenance(out)
    assert provenance["format"] == "gsd" and provenance["label_rule"] == "thresholds"
    assert provenance["frame_time"] == pytest.approx(FRAME_TIME)
    assert table.temperatures == [0.6]


def test_featurize_an_npz_with_wrapped_positions(tmp_path):
    positions, species, jumpers = toy_trajectory(seed=1)
    np.savez(tmp_path / "run.npz", positions=np.mod(positions, LENGTH), box=np.full(3, LENGTH),
             species=species, temperature=0.5, frame_time=FRAME_TIME)
    result = runner.invoke(app, ["featurize", str(tmp_path / "run.npz"), "--rule", "thresholds", *SHORT_WINDOW])
    assert result.exit_code == 0, result.output
    table = check_featurised(tmp_path / "run_features.parquet", positions, species, jumpers)
    assert table.temperatures == [0.5]


def test_featurize_says_what_is_missing(tmp_path):
    positions, species, _ = toy_trajectory()
    np.savez(tmp_path / "bare.npz", positions=positions, box=np.full(3, LENGTH), species=species)
    result = runner.invoke(app, ["featurize", str(tmp_path / "bare.npz")])
    assert isinstance(result.exception, DataError) and "temperature" in str(result.exception)
    result = runner.invoke(app, ["featurize", str(tmp_path / "bare.npz"), "--temperature", "1"])
    assert isinstance(result.exception, DataError) and "frame" in str(result.exception)
    np.savez(tmp_path / "short.npz", positions=positions[:50], box=np.full(3, LENGTH),
             species=species, temperature=1.0, frame_time=FRAME_TIME)
    result = runner.invoke(app, ["featurize", str(tmp_path / "short.npz")])
    assert isinstance(result.exception, DataError) and "spans" in str(result.exception)
    (tmp_path / "run.xyz").write_text("nothing")
    result = runner.invoke(app, ["featurize", str(tmp_path / "run.xyz")])
    assert isinstance(result.exception, DataError)


def test_simulate_softness_then_list_and_check(tmp_path):
    result = runner.invoke(app, ["simulate", "softness", "--temperatures", "1.0",
                                 "--n-particles", "160", "--equilibration", "1",
                                 "--production", "30", "--labels", "quantiles", "--platform", "cpu"])
    assert result.exit_code == 0, result.output
    cached = list((tmp_path / "data-cache" / "ka").glob("*.parquet"))
    assert len(cached) == 1
    table = load_table(cached[0])
    assert table.temperatures == [1.0] and set(np.unique(table.y)) == {0, 1}
    provenance = table.provenance
    assert provenance["engine"] == "openmm" and provenance["n_particles"] == 160
    assert provenance["synthetic"] is False and "equilibrated" in provenance

    listed = runner.invoke(app, ["list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and cached[0].name in listed.output
    checked = runner.invoke(app, ["check", str(cached[0])])
    assert checked.exit_code == 0, checked.output
    assert "rows" in checked.output and "equilibrated" in checked.output
    assert "tau_alpha" in checked.output and "quantile labels" in checked.output  # the caveats, said

    again = runner.invoke(app, ["simulate", "softness", "-t", "1.0", "-n", "160",
                                "--equilibration", "1", "--production", "30", "--labels", "quantiles"])
    assert "cached" in again.output


def test_simulate_images_writes_the_agreed_format(tmp_path):
    out = tmp_path / "sets"
    result = runner.invoke(app, ["simulate", "images", "--runs", "2", "--n-particles", "100",
                                 "--size", "32", "--cooling-time", "1", "--inherent",
                                 "--platform", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    (path,) = out.glob("*.npz")
    images = load_image_set(path)
    assert images.images.shape == (8, 32, 32, 3)
    assert images.labels.tolist() == [0, 1, 0, 1] * 2
    assert sorted(set(images.extras["kind"].tolist())) == ["inherent", "thermal"]
    assert images.provenance["engine"] == "openmm" and images.provenance["inherent"] is True
    checked = runner.invoke(app, ["check", str(path)])
    assert "8 images" in checked.output and "smaller class" in checked.output


def test_check_reports_problems_and_refuses_broken_files(tmp_path):
    from glasstune.data.synthetic import make_softness_table

    frame, _ = make_softness_table((0.45,), n_frames=3, n_per_class=20)
    frame.drop(columns=["frame"]).to_csv(tmp_path / "mine.csv", index=False)
    result = runner.invoke(app, ["check", str(tmp_path / "mine.csv")])
    assert result.exit_code == 0, result.output
    assert "no 'frame' column" in result.output and "problem" in result.output

    pd.DataFrame({"temperature": [1.0], "label": [1]}).to_csv(tmp_path / "bad.csv", index=False)
    result = runner.invoke(app, ["check", str(tmp_path / "bad.csv")])
    assert isinstance(result.exception, DataError) and "missing column" in str(result.exception)
    result = runner.invoke(app, ["check", str(tmp_path / "nothing.parquet")])
    assert isinstance(result.exception, DataError)


def test_bad_options_are_one_line_errors():
    result = runner.invoke(app, ["simulate", "softness", "--temperatures", "cold"])
    assert isinstance(result.exception, GlasstuneError)
    result = runner.invoke(app, ["simulate", "softness", "--platform", "tpu"])
    assert isinstance(result.exception, GlasstuneError)


def test_list_with_an_empty_cache():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0 and "no data sets" in result.output


def test_help_does_not_load_the_simulation_stack():
    code = ("import sys, glasstune.cli.data; "
            "print(sorted(m for m in ('openmm', 'gsd', 'scipy', 'torch') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"
