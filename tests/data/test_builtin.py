"""Built-in data sets: names, the cache (made once, then loaded; once even with many processes),
and the default studies on simulated data while ``--smoke`` stays synthetic."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from glasstune import Study
from glasstune.data import builtin, builtin_names, images, softness
from glasstune.data.cache import ensure_cached
from glasstune.data.catalog import SyntheticHeldOut
from glasstune.data.image_sets import SyntheticImages
from glasstune.data.ka import datasets, simulation
from glasstune.data.ka.datasets import SimulatedImages, SimulatedSoftness
from glasstune.data.provenance import provenance_label, sidecar_path
from glasstune.data.schema import LAB_TEMPERATURES
from glasstune.data.sources import SyntheticSoftness
from glasstune.data.synthetic import make_softness_table
from glasstune.errors import DataError
from glasstune.objectives.mlp import CrossValidatedMLP
from glasstune.study.loader import load_study_file

STUDIES = Path(__file__).resolve().parents[2] / "studies"
TINY = {"n_particles": 160, "equilibration": 1.0, "production": 60.0, "labels": "quantiles", "platform": "cpu"}
"""A real but tiny 3D KA run (a few seconds): the smallest box OpenMM's cutoff allows, long enough for
the 10 tau Phop window, a 10 tau quiet interval and held-out frames; at T = 1 nobody stays below
Phop 0.05 for 10 tau, so the lab's thresholds find no quiet particles: quantile labels, as asked."""


# --- names ---------------------------------------------------------------------------------------

def test_every_name_resolves_to_its_source():
    assert builtin("ka-softness-T0.45") == SimulatedSoftness(0.45)
    assert builtin("ka-glass-liquid") == SimulatedImages()
    assert builtin("synthetic-softness-T2") == SyntheticHeldOut(2.0)
    assert builtin("synthetic-glass-liquid") == SyntheticImages()
    assert builtin("KA-Softness-T1.0") == builtin("ka-softness-T1") == SimulatedSoftness(1.0)
    names = builtin_names()
    assert len(names) == len(set(names)) == 2 * len(LAB_TEMPERATURES) + 2
    for name in names:
        source = builtin(name)
        assert callable(source.load) and callable(source.smoke)


def test_functions_take_source_parameters_and_refuse_unknown_ones():
    assert softness(0.45) == SimulatedSoftness(0.45, heldout=0.25)
    assert softness(0.7, n_particles=4096, production=500.0, heldout=0) == SimulatedSoftness(
        0.7, n_particles=4096, production=500.0, heldout=0)
    assert softness(0.5, source="synthetic", heldout=0.5) == SyntheticHeldOut(0.5, heldout=0.5)
    assert softness(1.2, labels="quantiles").labels == "quantiles"
    with pytest.raises(DataError, match="held-out fraction"):
        softness(0.45, heldout=1.0)
    assert images(runs=60, size=48) == SimulatedImages(runs=60, size=48)
    assert images(minimised=True).name.endswith("/minimised")
    with pytest.raises(DataError, match="choose one"):
        images(minimised=True, inherent=True)
    with pytest.raises(DataError, match="thresholds"):
        softness(0.45, labels="auto")
    assert images(source="synthetic", size=24) == SyntheticImages(size=24)
    with pytest.raises(DataError, match="unknown parameter.*n_frames.*takes n_particles"):
        softness(0.45, n_frames=3)
    with pytest.raises(DataError, match="positive number"):
        softness(-1.0)
    with pytest.raises(DataError, match="'simulated' or 'synthetic'"):
        images(source="lab")


def test_unknown_name_is_one_line_that_lists_the_known_names():
    with pytest.raises(DataError) as caught:
        builtin("ka-softness-T0.7")
    message = str(caught.value)
    assert "\n" not in message and "'ka-softness-T0.7'" in message
    assert all(name in message for name in builtin_names())
    assert caught.value.exit_code == 2


def test_a_study_may_name_its_data():
    study = Study(name="named", data="ka-softness-T0.6", objective=CrossValidatedMLP())
    assert study.data == SimulatedSoftness(0.6)
    assert study.smoke_variant().data == SyntheticHeldOut(0.6).smoke()


def test_unknown_name_in_a_study_file_is_one_line_and_exit_2(cli, write_study):
    path = write_study(body="""
        from glasstune import Study
        from glasstune.objectives.mlp import CrossValidatedMLP
        STUDY = Study(name="typo", data="ka-softnes-T0.45", objective=CrossValidatedMLP())
    """)
    result = cli("run", path, "--no-progress")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown data set 'ka-softnes-T0.45'" in lines[0]
    assert "ka-softness-T0.45" in lines[0] and "Traceback" not in result.stderr


# --- the cache ----------------------------------------------------------------------------------

def _fake_make(calls: list):
    """Stand-in for the simulation: counts calls, writes a small real table where make() would."""

    def make(self, path=None, *, progress=None):
        calls.append(self.temperature)
        frame, provenance = make_softness_table((self.temperature,), n_frames=5, n_per_class=10)
        provenance.update(synthetic=False, engine="openmm", name=self.name)
        from glasstune.data.table import write_feature_table

        return write_feature_table(frame, provenance, path or self.path)

    return make


def test_first_use_makes_and_announces_later_uses_load(monkeypatch, capsys, tmp_path):
    calls: list = []
    monkeypatch.setattr(SimulatedSoftness, "make", _fake_make(calls))
    source = softness(0.45)
    first = source.load()
    assert calls == [0.45]
    assert "not in the data cache yet" in capsys.readouterr().err
    assert source.path.is_relative_to(tmp_path / "data-cache") and sidecar_path(source.path).exists()
    started = time.perf_counter()
    again = builtin("ka-softness-T0.45").load()
    assert time.perf_counter() - started < 1.0
    assert calls == [0.45] and capsys.readouterr().err == ""
    np.testing.assert_array_equal(first.X, again.X)
    assert again.provenance["name"] == source.name and again.provenance["synthetic"] is False
    softness(0.5).load()
    assert calls == [0.45, 0.5]  # another temperature is another set


def test_images_are_cached_the_same_way(monkeypatch):
    calls: list = []

    def make(self, path=None, *, progress=None):
        calls.append(self.runs)
        from glasstune.data.ka.render import write_image_set

        made = SyntheticImages(n_per_class=3, size=16, particles_across=4).load()
        return write_image_set(path or self.path, made.images, made.labels, {},
                               {"engine": "openmm", "synthetic": False})

    monkeypatch.setattr(SimulatedImages, "make", make)
    source = images(runs=4, size=16)
    assert len(source.load()) == 6 and len(source.load()) == 6
    assert calls == [4]
    assert source.load().provenance["name"] == source.name


def test_a_real_tiny_simulation_is_made_once(monkeypatch, capsys):
    calls: list = []
    real = simulation.simulate_ka3d

    def counting(*args, **kwargs):
        calls.append(kwargs.get("n_particles"))
        return real(*args, **kwargs)

    monkeypatch.setattr(simulation, "simulate_ka3d", counting)
    source = softness(1.0, **TINY)
    table = source.load()
    shown = capsys.readouterr()
    assert "simulating it once" in shown.err  # why a first use takes a while, and where it goes
    assert "produce" in shown.out + shown.err  # then one progress bar per stage
    assert calls == [160] and set(np.unique(table.y)) == {0, 1}
    provenance = table.provenance
    assert provenance["engine"] == "openmm" and provenance["synthetic"] is False
    assert provenance["n_particles"] == 160 and "simulation_seconds" in provenance
    assert "[SYNTHETIC]" not in provenance_label(provenance)
    source.load()
    assert calls == [160]


def test_cleans_up_after_a_killed_writer(tmp_path):
    path = tmp_path / "set.parquet"
    leftover = tmp_path / ".set.parquet.4242.partial"
    leftover.write_text("half a file")
    ensure_cached(path, lambda target: target.write_text("whole"))
    assert path.read_text() == "whole" and not leftover.exists()
    with pytest.raises(DataError, match="did not write"):
        ensure_cached(tmp_path / "other.parquet", lambda target: None)


WORKER = """
import os, sys, time
from pathlib import Path
from glasstune.data.cache import ensure_cached

target, makers, started = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])

def make(path: Path) -> None:
    with open(makers, "a") as log:
        log.write(f"{os.getpid()}\\n")
    deadline = time.monotonic() + 20  # a slow simulation: outlast the others' arrival
    while len(list(started.iterdir())) < int(sys.argv[4]) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    temporary.write_text("data")
    temporary.replace(path)

(started / str(os.getpid())).touch()
print(ensure_cached(target, make).read_text())
"""


def test_concurrent_first_uses_make_the_set_once(tmp_path):
    script, started = tmp_path / "worker.py", tmp_path / "started"
    script.write_text(textwrap.dedent(WORKER))
    started.mkdir()
    target, makers, count = tmp_path / "cache" / "set.parquet", tmp_path / "makers.log", 3
    workers = [subprocess.Popen([sys.executable, str(script), str(target), str(makers), str(started),
                                 str(count)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(count)]
    results = [worker.communicate(timeout=60) for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * count, results
    assert [out.strip() for out, _ in results] == ["data"] * count
    assert len(makers.read_text().splitlines()) == 1  # one simulation; the others waited and loaded it
    assert any("waiting for it" in err for _, err in results)


# --- the default studies ---------------------------------------------------------------------------

@pytest.mark.parametrize("temperature", LAB_TEMPERATURES)
def test_mlp_studies_use_the_simulated_set_and_smoke_the_synthetic_one(temperature, monkeypatch):
    monkeypatch.setattr(simulation, "simulate_ka3d", _refuse)
    study = load_study_file(STUDIES / f"mlp_{round(temperature * 100):03d}.py")
    labels = "thresholds" if temperature < 1 else "quantiles"  # the lab's rule has no quiet particles at T >= 1
    assert study.data == softness(temperature, labels=labels)
    assert study.data.labels == labels and study.data.heldout == 0.25
    if labels == "thresholds":
        assert study.data == builtin(f"ka-softness-T{temperature:g}")
    smoke = study.smoke_variant()
    assert isinstance(smoke.data, SyntheticSoftness) and smoke.data.temperature == temperature
    assert smoke.data.heldout == 0.25
    table = smoke.data.load()
    assert table.provenance["synthetic"] is True and len(table) <= 200
    assert "[SYNTHETIC]" in provenance_label(table.provenance)
    colder = [t for t in LAB_TEMPERATURES if t < temperature]
    assert study.warm_start == ([f"mlp_{round(max(colder) * 100):03d}"] if colder else [])  # the next colder
    assert smoke.warm_start == [name + "-smoke" for name in study.warm_start]


def test_cnn_study_uses_simulated_images_and_smoke_the_synthetic_ones(monkeypatch):
    monkeypatch.setattr(simulation, "cool_ka2d", _refuse)
    study = load_study_file(STUDIES / "cnn_glass_liquid.py")
    assert isinstance(study.data, SimulatedImages)
    smoke = study.smoke_variant().data
    assert isinstance(smoke, SyntheticImages)
    assert smoke.load().provenance["synthetic"] is True


def test_simulated_sources_say_where_their_cache_is(monkeypatch, tmp_path):
    monkeypatch.setenv("GLASSTUNE_DATA_DIR", str(tmp_path / "elsewhere"))
    assert softness(0.45).path.parent == tmp_path / "elsewhere" / "ka"
    assert images().path.parent == tmp_path / "elsewhere" / "ka"
    monkeypatch.delenv("GLASSTUNE_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert softness(0.45).path.parent == tmp_path / "home" / ".cache" / "glasstune" / "data" / "ka"
    assert datasets.data_dir() == tmp_path / "home" / ".cache" / "glasstune" / "data"


def _refuse(*args, **kwargs):
    raise AssertionError("smoke data must never be simulated")


def test_package_names_stay_functions_after_every_submodule_is_imported():
    """A submodule named like an exported function would replace it on the package once imported."""
    import importlib
    import inspect
    import pkgutil

    import glasstune.data as package

    for module in pkgutil.walk_packages(package.__path__, "glasstune.data."):
        importlib.import_module(module.name)
    for name in package.__all__:
        assert not inspect.ismodule(getattr(package, name)), name


def test_minimised_images_are_drawn_from_the_same_cached_runs(monkeypatch):
    calls: list = []
    real = simulation.cool_ka2d

    def counting(**kwargs):
        calls.append(kwargs["runs"])
        return real(**kwargs)

    monkeypatch.setattr(simulation, "cool_ka2d", counting)
    tiny = {"runs": 2, "n_particles": 100, "size": 24, "cooling_time": 2.0, "platform": "cpu"}
    thermal = images(**tiny).load()
    minimised = images(**tiny, minimised=True).load()
    larger = images(**{**tiny, "size": 32}).load()
    assert calls == [2]  # one simulation behind every size and variant of the same runs
    assert len(thermal) == len(minimised) == 4 and larger.image_size == (32, 32)
    assert minimised.provenance["minimised"] is True and thermal.provenance["minimised"] is False
    assert "inherent structures" in minimised.provenance["configurations"]
    assert set(minimised.extras["kind"].tolist()) == {"inherent"}
    assert set(thermal.extras["kind"].tolist()) == {"thermal"}
    assert np.array_equal(thermal.labels, minimised.labels)
    assert not np.array_equal(thermal.images, minimised.images)


def test_propensity_is_a_column_from_iso_configurational_runs():
    table = softness(1.0, **TINY, propensity_frames=2, propensity_runs=2, heldout=0).load()
    measured = table.frame["propensity"].notna()
    assert table.frame.loc[measured, "frame"].nunique() == 2 and (~measured).any()  # NaN in other frames
    assert (table.frame.loc[measured, "propensity"] > 0).all()
    record = table.provenance["propensity"]
    tau_alpha = table.provenance["tau_alpha"]
    assert record["runs"] == 2 and record["time"] == pytest.approx(tau_alpha) and record["at_tau_alpha"]
    # a particle's propensity is about the squared displacement at tau_alpha: of the order of the cage size
    assert 0.01 < table.frame.loc[measured, "propensity"].median() < 2.0


def test_a_source_that_holds_out_frames_is_made_again_from_its_description():
    """Exports and retrain describe a study's source and build it again: the held-out fraction
    (and so the frames a study tuned on) must survive that."""
    from glasstune.data.sources import describe, from_description

    for source in (softness(0.45, labels="quantiles"), softness(0.5, source="synthetic", heldout=0.5, n_frames=8)):
        again = from_description(describe(source))
        assert again == source and again.heldout == source.heldout
    table = from_description(describe(softness(0.5, source="synthetic", n_frames=8))).load()
    assert table.provenance["heldout"]["temperatures"]["0.5"]["heldout_frames"] == [6, 7]
