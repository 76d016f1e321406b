"""Device choice: 'auto' follows the hardware, an impossible request is one clear line."""

from __future__ import annotations

import pytest
import torch

from glasstune.errors import GlasstuneError
from glasstune.objectives.device import resolve_device


def test_auto_follows_the_hardware_and_cpu_is_always_there():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("CPU") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(GlasstuneError, match="CUDA is not available.*use --device cpu or auto"):
        resolve_device("cuda")


@pytest.mark.parametrize("name", ["tpu", "cpu:1", "cuda:x"])
def test_unknown_devices_are_refused(name):
    with pytest.raises(GlasstuneError, match="unknown device"):
        resolve_device(name)
