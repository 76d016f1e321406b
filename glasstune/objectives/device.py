"""Which device and precision a training run uses, decided once and said plainly when impossible."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from glasstune.errors import GlasstuneError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")


def parse_device(name: str | None) -> tuple[str, int | None]:
    """``"cuda:1"`` -> ``("cuda", 1)``: the one place a device string is read. Unknown names are
    a user error; nothing is imported, so the CLI checks ``--device`` before any work."""
    wanted = (name or "auto").strip().lower()
    base, colon, index = wanted.partition(":")
    if base not in DEVICES or (colon and (base != "cuda" or not index.isdigit())):
        raise GlasstuneError(f"unknown device {name!r} (--device); use auto, cuda, cuda:N or cpu")
    return base, int(index) if colon else None


def resolve_device(name: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible else 'cpu'; 'cuda' without a GPU is a user error."""
    import torch

    base, index = parse_device(name)
    if base == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if base == "cuda":
        _require_cuda(name)
        if index is not None and index >= torch.cuda.device_count():
            raise GlasstuneError(
                f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) are visible"
            )
        return "cuda" if index is None else f"cuda:{index}"
    return base


def device_for(objective: object, requested: str) -> str:
    """The device a study's trials train on: the requested one for objectives that use a device
    (``uses_device``), else the CPU."""
    if not getattr(objective, "uses_device", False):
        return "cpu"
    return resolve_device(requested)


def gpu_label(device: str) -> str | None:
    """Which GPU a CUDA device is, as the machine numbers them: this process's CUDA_VISIBLE_DEVICES
    (set per worker by ``--workers``/``--gpus``, or by a scheduler), else the device's index."""
    import os

    base, index = parse_device(device)
    if base != "cuda":
        return None
    index = index or 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if visible:
        ids = [part.strip() for part in visible.split(",") if part.strip()]
        return ids[index] if index < len(ids) else visible
    return str(index)


def _require_cuda(name: str) -> None:
    import torch

    if not torch.cuda.is_available():
        build = "a CPU-only torch build" if torch.version.cuda is None else "no visible GPU"
        raise GlasstuneError(
            f"device {name!r} asked for, but CUDA is not available ({build}); use --device cpu or auto"
        )


def resolve_precision(precision: str, device: str) -> str:
    """'auto' -> bf16 autocast on CUDA (tensor cores; the network's accuracy holds), fp32 on CPU.

    On CPU, bf16 autocast trained about 2x faster on a 2-core AVX2 Xeon but ended 1-2 points lower in
    validation accuracy on the synthetic set, and its speed depends on the CPU's instruction set: it is
    offered (``precision="bf16"``), not the default.
    """
    if precision not in PRECISIONS:
        raise GlasstuneError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if device.startswith("cuda") else "fp32"
    return precision


@contextlib.contextmanager
def autocast(device: str, precision: str) -> Iterator[None]:
    """bf16 autocast for the forward pass when asked for; a no-op for fp32."""
    import torch

    if precision != "bf16":
        yield
        return
    with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16):
        yield


def default_threads(device: str) -> int:
    """Intra-op threads for one run: ``$OMP_NUM_THREADS`` if set; else the cores not already busy.

    Busy cores are judged by the 1-minute load average (this process counts as one). Oversubscribed
    OpenMP threads spin at barriers while descheduled: on a loaded 2-core machine two threads ran the
    lab network 4-50x slower than one. On CUDA the CPU only feeds the GPU: at most 4 threads.
    """
    import os

    configured = os.environ.get("OMP_NUM_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    cores = os.cpu_count() or 1
    try:
        busy = max(0.0, os.getloadavg()[0] - 1.0)
    except OSError:  # no load average on this platform
        busy = 0.0
    free = max(1, min(cores, int(cores - busy + 0.5)))
    return free if device == "cpu" else min(4, free)


@contextlib.contextmanager
def training_environment(device: str, threads: int | None) -> Iterator[None]:
    """Process-wide torch settings for the run only, restored after it: intra-op threads
    (``threads`` or ``default_threads``) and cuDNN autotuning on CUDA (the shapes never change
    within a run) unless deterministic algorithms were asked for."""
    import torch

    threads_before = torch.get_num_threads()
    benchmark_before = torch.backends.cudnn.benchmark
    torch.set_num_threads(max(1, threads or default_threads(device)))
    if device.startswith("cuda") and not torch.are_deterministic_algorithms_enabled():
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.set_num_threads(threads_before)
        torch.backends.cudnn.benchmark = benchmark_before
