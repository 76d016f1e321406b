"""The fold-batched torch MLP: resumable training, fold isolation, sklearn-like scores."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from glasstune.data.sources import SyntheticSoftness
from glasstune.objectives.mlp.model import FoldBatchedMLP, MLPSettings
from glasstune.objectives.mlp.objective import build_estimator, fold_scores, fold_splits


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    import os

    os.environ.setdefault("GLASSTUNE_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    return SyntheticSoftness(0.45, n_frames=10, n_per_class=21).load()  # 420 rows: folds of unequal size


def _model(table, folds, solver="adam", seed=3, device="cpu", **extra):
    settings = MLPSettings.from_sklearn({"hidden_layer_sizes": (12, 12), "solver": solver,
                                         "learning_rate_init": 0.01, "alpha": 1e-3, **extra})
    return FoldBatchedMLP(table.X, table.y, folds, settings=settings, seed=seed, device=device)


def _state(model):
    return [p.clone() for p in (model.params, model._moment, model._moment2)]


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_chunked_training_equals_one_shot(table, solver):
    folds = fold_splits(table, 3, seed=0)
    assert len({len(train) for train, _ in folds}) > 1, "the test needs folds of different sizes"
    one_shot, chunked = _model(table, folds, solver), _model(table, folds, solver)
    curve = one_shot.train(9)
    pieces = np.vstack([chunked.train(n) for n in (2, 3, 4)])
    assert chunked.epochs_done == 9
    np.testing.assert_array_equal(pieces, curve)
    for a, b in zip(_state(one_shot), _state(chunked), strict=True):
        assert torch.equal(a, b)
    assert curve[-1].mean() < curve[0].mean()  # it does learn


def test_a_fold_never_sees_its_own_held_out_rows(table):
    folds = fold_splits(table, 3, seed=0)
    X = table.X.copy()
    X[folds[0][1]] = np.random.default_rng(1).normal(size=X[folds[0][1]].shape) * 50  # fold 0's test rows
    changed = SimpleNamespace(X=X, y=table.y)  # the same rows, other values where fold 0 holds out
    base, other = _model(table, folds), _model(changed, folds)
    base.train(4)
    other.train(4)
    for w_base, w_other in zip(base.weights, other.weights, strict=True):
        assert torch.equal(w_base[0], w_other[0])  # fold 0 trains on the other folds' rows only
        assert not torch.equal(w_base[1], w_other[1])  # fold 1 trains on fold 0's test rows


def test_a_fold_alone_trains_as_in_the_batch(table):
    folds = fold_splits(table, 3, seed=0)
    together = _model(table, folds)
    alone = FoldBatchedMLP(table.X, table.y, folds[1:2], settings=together.settings, seed=4)  # fold 1: seed+1
    together.train(3)
    alone.train(3)
    for w_together, w_alone in zip(together.weights, alone.weights, strict=True):
        torch.testing.assert_close(w_together[1], w_alone[0], rtol=1e-4, atol=1e-5)


def test_scores_in_the_ballpark_of_sklearn(table):
    config = {"hidden_layer_sizes": (20, 20), "solver": "adam", "learning_rate_init": 1e-3, "alpha": 1e-4,
              "max_iter": 60}
    folds = fold_splits(table, 3, seed=0)
    model = FoldBatchedMLP(table.X, table.y, folds, settings=MLPSettings.from_sklearn(config), seed=0)
    curve = model.train(60)
    ours = [fold_scores(model.fold(k), table.X, table.y, *folds[k]) for k in range(3)]
    theirs, sk_curves = [], []
    for k, (train, test) in enumerate(folds):
        estimator = build_estimator(config, seed=k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(table.X[train], table.y[train])
        theirs.append(fold_scores(estimator, table.X, table.y, train, test))
        sk_curves.append(estimator[-1].loss_curve_)
    for key in ("balanced_accuracy", "train_balanced_accuracy"):
        assert np.mean([s[key] for s in ours]) == pytest.approx(np.mean([s[key] for s in theirs]), abs=0.08)
    # same loss, same optimizer: the curves agree within a few percent, though not the random draws
    np.testing.assert_allclose(curve.mean(axis=1)[[0, 9, 29, 59]], np.mean(sk_curves, axis=0)[[0, 9, 29, 59]],
                               rtol=0.25)


def test_unsupported_settings_are_refused():
    with pytest.raises(ValueError, match="relu"):
        MLPSettings.from_sklearn({"activation": "tanh"})
    with pytest.raises(ValueError, match="does not support"):
        MLPSettings.from_sklearn({"warm_start": True})


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(table):
    folds = fold_splits(table, 3, seed=0)
    cpu, gpu = _model(table, folds), _model(table, folds, device="cuda")
    np.testing.assert_allclose(gpu.train(5), cpu.train(5), rtol=1e-3)
    gpu_scores = gpu.held_out_scores(table.X, table.y)
    assert np.abs(gpu_scores - cpu.held_out_scores(table.X, table.y)).max() < 0.05


def _task_table(task: str, rows: int = 360, seed: int = 0) -> SimpleNamespace:
    """Features with a learnable label: three classes from two directions, or a continuous target."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 6)).astype(np.float32)
    if task == "multiclass":
        y = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])  # 0, 1, 2
    else:
        y = 2.0 * X[:, 0] - X[:, 1] + 0.3 * rng.normal(size=rows)
    return SimpleNamespace(X=X, y=y, groups=None, task=task)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_multiclass_and_regression_train_as_sklearn_does(task):
    """K softmax outputs on the multi-class log-loss (MLPClassifier), one identity output on half the
    squared error (MLPRegressor): same loss curve within a few percent, same scores within noise."""
    table = _task_table(task)
    config = {"hidden_layer_sizes": (16,), "solver": "adam", "learning_rate_init": 1e-2, "alpha": 1e-4,
              "max_iter": 40}
    folds = fold_splits(table, 3, seed=0)
    model = FoldBatchedMLP(table.X, table.y, folds, settings=MLPSettings.from_sklearn(config), seed=0, task=task)
    curve = model.train(40)
    ours = [fold_scores(model.fold(k), table.X, table.y, *folds[k], task=task) for k in range(3)]
    theirs, sk_curves = [], []
    for k, (train, test) in enumerate(folds):
        estimator = build_estimator(config, seed=k, task=task)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(table.X[train], table.y[train])
        theirs.append(fold_scores(estimator, table.X, table.y, train, test, task=task))
        sk_curves.append(estimator[-1].loss_curve_)
    key = "balanced_accuracy" if task == "multiclass" else "pearson_r"
    assert np.mean([s[key] for s in ours]) == pytest.approx(np.mean([s[key] for s in theirs]), abs=0.08)
    assert np.mean([s[key] for s in ours]) > (0.8 if task == "multiclass" else 0.9)  # learned, not chance
    np.testing.assert_allclose(curve.mean(axis=1)[[0, 9, 39]], np.mean(sk_curves, axis=0)[[0, 9, 39]], rtol=0.25)
    if task == "multiclass":
        assert model.fold(0).predict_proba(table.X[:5]).shape == (5, 3)
        assert set(ours[0]) >= {"roc_auc", "train_balanced_accuracy", "memorisation_gap"}
    else:
        assert ours[0]["memorisation_gap"] == pytest.approx(ours[0]["train_pearson_r"] - ours[0]["pearson_r"])
        assert {"r2", "train_r2", "baseline_r2"} <= set(ours[0])
    np.testing.assert_allclose(model.held_out_scores(table.X, table.y), [s[key] for s in ours], atol=1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_cuda_matches_cpu_for_other_tasks(task):
    table = _task_table(task)
    folds = fold_splits(table, 3, seed=0)
    settings = MLPSettings.from_sklearn({"hidden_layer_sizes": (16,), "learning_rate_init": 1e-2})
    cpu, gpu = (FoldBatchedMLP(table.X, table.y, folds, settings=settings, seed=0, task=task, device=device)
                for device in ("cpu", "cuda"))
    np.testing.assert_allclose(gpu.train(5), cpu.train(5), rtol=1e-3)
    assert np.abs(gpu.held_out_scores(table.X, table.y) - cpu.held_out_scores(table.X, table.y)).max() < 0.05


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_saved_network_predicts_what_the_torch_network_does(task):
    """The final model keeps the torch network as numpy arrays: same outputs, without torch."""
    from glasstune.objectives.mlp.final import FinalMLP

    table = _task_table("regression" if task == "regression" else "multiclass")
    y = (table.y > 0).astype(int) if task == "binary" else table.y
    every_row = [(np.arange(len(y)), np.zeros(0, dtype=int))]
    settings = MLPSettings.from_sklearn({"hidden_layer_sizes": (8, 8), "learning_rate_init": 1e-2})
    model = FoldBatchedMLP(table.X, y, every_row, settings=settings, seed=0, task=task)
    model.train(5)
    final = FinalMLP(tuple(f"f{i}" for i in range(6)), task, "torch", parameters=model.fold_parameters(0))
    np.testing.assert_allclose(final.predict_output(table.X), model.predict_output(0, table.X), rtol=1e-5, atol=1e-6)
