"""The lab's network, its L2 term and the device helper."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from glasstune.errors import GlasstuneError
from glasstune.objectives.cnn.network import GlassCNN, conv_output_size, l2_penalty, lab_network
from glasstune.objectives.device import resolve_device, resolve_precision


def test_flattened_width_is_the_labs_for_250_px():
    assert conv_output_size((250, 250)) == 237 * 237 * 16 == 898_704


def test_layers_logits_and_initialisation():
    torch.manual_seed(0)
    model = GlassCNN((32, 28), dropout=0.3)
    assert model(torch.rand(5, 3, 32, 28)).shape == (5, 2)
    assert model.conv1.kernel_size == (10, 10) and model.conv1.out_channels == 6 and model.conv1.padding == (0, 0)
    assert model.conv2.kernel_size == (5, 5) and model.conv2.out_channels == 16
    assert model.fc.in_features == 16 * 19 * 15 and model.fc.out_features == 80
    assert model.dropout.p == 0.3
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    weights = torch.cat([model.fc.weight.flatten(), model.conv1.weight.flatten()])
    assert weights.abs().max() <= 0.2  # truncated at two sigma
    assert 0.08 < weights.std() < 0.095  # sigma 0.1 truncated at 2 sigma has std 0.088
    for layer in (model.conv1, model.conv2, model.fc, model.out):
        assert torch.all(layer.bias == 0.1)


def test_factory_takes_dropout_from_params():
    assert lab_network((24, 24), {"dropout": 0.1}).dropout.p == 0.1


def test_l2_penalty_counts_weight_matrices_not_biases():
    model = GlassCNN((20, 20))
    expected = sum((layer.weight**2).sum() for layer in (model.conv1, model.conv2, model.fc, model.out)) / 2
    assert l2_penalty(model).item() == pytest.approx(expected.item(), rel=1e-6)
    with torch.no_grad():
        model.fc.bias.fill_(100.0)
    assert l2_penalty(model).item() == pytest.approx(expected.item(), rel=1e-6)


def test_coupled_weight_decay_is_the_gradient_of_the_l2_loss():
    """The loop's Adam weight decay on weight tensors equals adding beta * sum(w^2) / 2 to the loss."""
    beta = 0.01
    torch.manual_seed(1)
    x, y = torch.rand(8, 3, 20, 20), torch.randint(0, 2, (8,))
    explicit, decayed = GlassCNN((20, 20), dropout=0.0), GlassCNN((20, 20), dropout=0.0)
    decayed.load_state_dict(explicit.state_dict())
    adam = torch.optim.Adam(explicit.parameters(), lr=1e-3)
    weights = [p for p in decayed.parameters() if p.ndim >= 2]
    biases = [p for p in decayed.parameters() if p.ndim < 2]
    adam_wd = torch.optim.Adam([{"params": weights, "weight_decay": beta}, {"params": biases, "weight_decay": 0.0}],
                               lr=1e-3)
    for _ in range(3):
        adam.zero_grad()
        (F.cross_entropy(explicit(x), y) + beta * l2_penalty(explicit)).backward()
        adam.step()
        adam_wd.zero_grad()
        F.cross_entropy(decayed(x), y).backward()
        adam_wd.step()
    for a, b in zip(explicit.parameters(), decayed.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_resolve_device():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(GlasstuneError, match="unknown device 'tpu'"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_clear_error():
    with pytest.raises(GlasstuneError, match="CUDA is not available") as error:
        resolve_device("cuda")
    assert "\n" not in str(error.value)


def test_threads_leave_busy_cores_alone(monkeypatch):
    import os

    from glasstune.objectives.device import default_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.0, 1.0, 1.0))  # only this process
    assert default_threads("cpu") == 8 and default_threads("cuda") == 4
    monkeypatch.setattr(os, "getloadavg", lambda: (6.2, 1.0, 1.0))
    assert default_threads("cpu") == 3
    monkeypatch.setattr(os, "getloadavg", lambda: (40.0, 1.0, 1.0))
    assert default_threads("cpu") == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert default_threads("cpu") == 5


def test_precision_defaults_bf16_on_gpu_only():
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("auto", "cuda") == "bf16"
    assert resolve_precision("fp32", "cuda") == "fp32"
    with pytest.raises(GlasstuneError):
        resolve_precision("fp8", "cuda")
