"""OpenMM KA: the pair table, tiny 3D and 2D runs, and the image renderer."""

from __future__ import annotations

import numpy as np
import pytest

from glasstune.data.ka.render import BACKGROUND, COLOURS, render, render_cooling
from glasstune.data.ka.simulation import (
    KA2D,
    KA3D,
    Protocol,
    build_system,
    cool_ka2d,
    create_context,
    jittered_lattice,
    simulate_ka3d,
)
from glasstune.errors import GlasstuneError

PAIRS = {(0, 0): (1.0, 1.0), (0, 1): (1.5, 0.8), (1, 1): (0.5, 0.88)}


def lennard_jones(r: float, eps: float, sigma: float) -> float:
    if r >= 2.5 * sigma:
        return 0.0
    return 4 * eps * ((sigma / r) ** 12 - (sigma / r) ** 6 - 2.5**-12 + 2.5**-6)


@pytest.mark.parametrize("pair", list(PAIRS))
@pytest.mark.parametrize("distance", [0.9, 1.12, 1.9, 2.1, 2.3, 2.6])
def test_pair_table_is_kob_andersen_cut_and_shifted(pair, distance):
    import openmm

    system = build_system(np.array(pair), np.array([10.0, 10.0, 10.0]))
    context, _, _ = create_context(system, lambda: openmm.VerletIntegrator(0.005), "cpu")
    context.setPositions([[1.0, 1.0, 1.0], [1.0 + distance, 1.0, 1.0]])
    energy = context.getState(getEnergy=True).getPotentialEnergy()._value
    assert energy == pytest.approx(lennard_jones(distance, *PAIRS[pair]), abs=1e-4)


def test_compositions_and_lattice_start():
    rng = np.random.default_rng(0)
    assert (KA3D.species(1000, rng) == 0).sum() == 800
    assert (KA2D.species(300, rng) == 0).sum() == 195
    box = np.full(3, KA3D.box_length(500))
    points = jittered_lattice(500, box, 3, rng)
    gaps = np.linalg.norm(points[:, None] - points[None], axis=-1) + np.eye(500) * 9
    assert gaps.min() > 0.6 and np.all((points >= 0) & (points < box))


def test_tiny_3d_run_keeps_its_temperature():
    protocol = Protocol(equilibration=2.0, production=1.5, frame_interval=0.05)
    trajectory = simulate_ka3d(0.8, n_particles=160, protocol=protocol, seed=3, platform="cpu")
    assert trajectory.positions.shape == (31, 160, 3)
    assert np.isfinite(trajectory.positions).all()
    steps = np.abs(np.diff(trajectory.positions, axis=0))
    assert steps.max() < 1.0  # unwrapped: no jumps of a box length between frames
    provenance = trajectory.provenance
    assert provenance["engine"] == "openmm" and provenance["platform"] == "CPU"
    assert provenance["steps"] == {"melt": 0, "equilibration": 400, "production": 300}
    assert provenance["kinetic_temperature"] == pytest.approx(0.8, rel=0.2)
    assert trajectory.frame_time == pytest.approx(0.05)


def test_same_seed_same_trajectory_on_one_thread():
    protocol = Protocol(equilibration=0.5, production=0.5, frame_interval=0.1)
    runs = [simulate_ka3d(1.0, n_particles=160, protocol=protocol, seed=seed, platform="cpu",
                          threads=1) for seed in (7, 7, 8)]
    np.testing.assert_array_equal(runs[0].positions, runs[1].positions)
    assert not np.allclose(runs[0].positions, runs[2].positions)


def test_quench_protocol_melts_then_ages():
    protocol = Protocol(equilibration=1.0, production=0.5, melt=0.5)
    trajectory = simulate_ka3d(0.45, n_particles=160, protocol=protocol, platform="cpu")
    provenance = trajectory.provenance
    assert provenance["quenched"] and provenance["steps"]["melt"] == 100
    assert provenance["equilibrated"] is False
    assert provenance["kinetic_temperature"] == pytest.approx(0.45, rel=0.3)


def test_too_small_a_box_is_refused():
    with pytest.raises(GlasstuneError, match="at least"):
        simulate_ka3d(1.0, n_particles=100, platform="cpu")


def test_2d_cooling_keeps_the_kinetic_temperature_in_the_plane():
    cooling = cool_ka2d(runs=3, n_particles=100, liquid_temperature=1.5, cooling_time=8.0,
                        melt=1.0, inherent=True, seed=1, platform="cpu", layers_per_system=2)
    assert set(cooling.positions) == {"liquid", "glass", "liquid_inherent", "glass_inherent"}
    for snapshots in cooling.positions.values():
        assert snapshots.shape == (3, 100, 2)
        assert np.all((snapshots >= 0) & (snapshots < cooling.box[0]))
    kinetic = cooling.provenance["kinetic_temperature"]
    # without the 2/3 correction the kinetic temperature would come out 1.5x the target
    assert kinetic["liquid"] == pytest.approx(1.5, rel=0.25)
    assert kinetic["glass"] < 0.3
    assert not np.allclose(cooling.positions["glass"], cooling.positions["glass_inherent"])


def test_render_draws_species_colours_on_white():
    box = np.array([10.0, 10.0])
    image = render(np.array([[5.0, 5.0]]), np.array([0]), box, size=50, view=1.0)
    assert image.shape == (50, 50, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[25, 25], COLOURS[0])
    np.testing.assert_array_equal(image[0, 0], BACKGROUND)
    other = render(np.array([[5.0, 5.0]]), np.array([1]), box, size=50, view=1.0)
    np.testing.assert_array_equal(other[25, 25], COLOURS[1])
    # 0.25 sigma at 5 px per sigma: a disc about 2.5 px across
    coloured = (image != 255).any(axis=2).sum()
    assert 3 <= coloured <= 12


def test_render_is_centred_and_periodic():
    box = np.array([10.0, 10.0])
    # a particle at the box corner is far from the centre crop; its periodic image is too
    corner = render(np.array([[0.0, 0.0]]), np.array([0]), box, size=40, view=0.5)
    assert (corner == 255).all()
    edge = render(np.array([[9.99, 5.0]]), np.array([0]), box, size=40, view=1.0)
    assert (edge[:, 0] != 255).any() and (edge[:, -1] != 255).any()  # cut by the edge, both sides
    up = render(np.array([[5.0, 7.0]]), np.array([0]), box, size=40, view=1.0)
    rows = np.nonzero((up != 255).any(axis=(1, 2)))[0]
    assert rows.mean() < 20  # y up, as in a plot


def test_render_cooling_labels_and_extras():
    cooling = cool_ka2d(runs=2, n_particles=100, cooling_time=0.5, melt=0.2, seed=2,
                        platform="cpu")
    images, labels, extras = render_cooling(cooling, size=24)
    assert images.shape == (4, 24, 24, 3)
    assert labels.tolist() == [0, 1, 0, 1]
    assert extras["run"].tolist() == [0, 0, 1, 1]
    assert set(extras["kind"].tolist()) == {"thermal"}
    np.testing.assert_allclose(extras["temperature"], [1.95, 0.05, 1.95, 0.05], rtol=1e-6)


@pytest.mark.slow
def test_structure_predicts_rearrangements_when_cold_not_when_hot():
    """The data mean something: a linear model on the 100 features beats chance clearly at
    T = 0.6 and barely at T = 2.0 (about four CPU minutes)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from glasstune.data.ka.featurize import featurize
    from glasstune.data.ka.phop import LabelRule
    from glasstune.data.schema import FEATURE_COLUMNS

    scores = {}
    for temperature in (0.6, 2.0):  # at T = 2 nobody is quiet by the lab's rule: quantile labels
        rule = LabelRule(rule="thresholds" if temperature < 1 else "quantiles")
        table, provenance = featurize(simulate_ka3d(temperature, platform="cpu", seed=11), rule=rule)
        assert provenance["rows"] >= 300 and provenance["frames"] >= 10
        labels = table["label"].to_numpy()
        predicted = cross_val_predict(
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
            table[list(FEATURE_COLUMNS)].to_numpy(), labels, groups=table["frame"].to_numpy(),
            cv=StratifiedGroupKFold(5, shuffle=True, random_state=0),
        )
        scores[temperature] = balanced_accuracy_score(labels, predicted)
    assert scores[0.6] > 0.62
    assert scores[2.0] < 0.6
    assert scores[0.6] - scores[2.0] > 0.08


def test_ageing_check_tells_a_slowing_run_from_a_steady_one():
    from glasstune.data.ka.trajectory import Trajectory, ageing_check, alpha_relaxation_time

    rng = np.random.default_rng(0)

    def walk(slow_down: float) -> Trajectory:
        steps = 0.05 * rng.standard_normal((400, 300, 3))
        steps[200:] /= slow_down  # the second half of the run moves this much less per frame
        positions = np.concatenate([np.zeros((1, 300, 3)), np.cumsum(steps, axis=0)])
        return Trajectory(positions, np.full(3, 50.0), np.zeros(300, np.int8), frame_time=0.1)

    steady, ageing = walk(1.0), walk(2.0)
    tau = alpha_relaxation_time(steady)
    assert tau is not None and 0 < tau < 10
    assert ageing_check(steady, tau)["ageing"] is False
    result = ageing_check(ageing, tau)
    assert result["ageing"] is True and result["fs_second_half"] > result["fs_first_half"]
