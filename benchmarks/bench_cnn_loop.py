"""Training throughput of the CNN: glasstune's loop vs a plain PyTorch loop, same model, same data.

glasstune: the image set lives on the device as uint8; each batch is one gather there, augmented
with batched rot90/flip, normalised on the fly, channels-last, bf16 autocast on CUDA, fused Adam.
Plain: a torch.utils.data.DataLoader over a Dataset that rotates/flips each sample with numpy on the
CPU, converts it to float and copies each batch to the device; fp32; Adam with the L2 term in the loss.

Both train the lab's network (batch 80, Adam 1e-3, L2 beta 0.01, dropout 0.5, augmentation on) for the
same number of iterations of 10 batches; evaluation is not timed. The two alternate over --repeats
rounds and the best round of each is kept (the machine may be shared). Prints images/s and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

PARAMS = {"batch_size": 80, "learning_rate": 1e-3, "dropout": 0.5, "l2_beta": 0.01, "schedule": "constant",
          "augment": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--size", type=int, default=48, help="image size in pixels (the lab's: 250)")
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations of 10 batches per round")
    parser.add_argument("--images", type=int, default=800, help="images in the data set")
    parser.add_argument("--batch", type=int, default=80)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (plain loop)")
    parser.add_argument("--repeats", type=int, default=2, help="alternating rounds; the best of each is kept")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: free cores)")
    parser.add_argument("--precision", default="auto", help="glasstune loop: auto (bf16 on CUDA), fp32 or bf16")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    import torch

    from glasstune.data.image_sets import SyntheticImages
    from glasstune.objectives.device import default_threads, resolve_device, resolve_precision

    device = resolve_device(args.device)
    threads = args.threads or default_threads(device)
    torch.set_num_threads(threads)
    data = SyntheticImages(n_per_class=args.images // 2, size=args.size, particles_across=max(4, args.size // 5)).load()
    params = {**PARAMS, "batch_size": args.batch}
    print(describe_machine(device, threads))
    print(f"data: {len(data)} synthetic images {args.size}x{args.size}x3 uint8; batch {args.batch}; "
          f"{args.iterations} iterations x 10 batches per round; {args.repeats} rounds; "
          f"glasstune precision {resolve_precision(args.precision, device)}")

    fast, plain = [], []
    for _ in range(args.repeats):
        fast.append(glasstune_loop(data, params, device, args.iterations, args.precision))
        plain.append(plain_loop(data, params, device, args.iterations, args.workers))
    best_fast, best_plain = max(fast), max(plain)
    print(f"glasstune loop     {best_fast:9.1f} images/s   rounds: {', '.join(f'{v:.0f}' for v in fast)}")
    print(f"plain DataLoader   {best_plain:9.1f} images/s   rounds: {', '.join(f'{v:.0f}' for v in plain)}")
    print(f"ratio              {best_fast / best_plain:9.2f}x")
    peak = None
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        print(f"peak GPU memory    {peak:9.0f} MiB (both loops, one process)")
    if args.json:
        report = {"machine": describe_machine(device, threads), "device": device, "size": args.size,
                  "images": len(data), "batch": args.batch, "iterations": args.iterations, "repeats": args.repeats,
                  "workers": args.workers, "precision": resolve_precision(args.precision, device),
                  "glasstune_images_per_s": best_fast, "plain_images_per_s": best_plain,
                  "ratio": best_fast / best_plain, "glasstune_rounds": fast, "plain_rounds": plain,
                  "peak_gpu_memory_mib": peak}
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)


def describe_machine(device: str, threads: int) -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = (f"machine: {cpu}, {os.cpu_count()} cores (load {load:.1f}); torch {torch.__version__}, "
            f"{threads} thread(s); device {device}")
    if device.startswith("cuda"):
        text += f" ({torch.cuda.get_device_name(device)})"
    return text


def glasstune_loop(data, params: dict, device: str, iterations: int, precision: str = "auto") -> float:
    """Images/s of glasstune's Trainer.train_iteration (after one untimed warm-up iteration)."""
    import torch

    from glasstune.objectives.cnn.images import DeviceImages, stratified_split
    from glasstune.objectives.cnn.loop import Trainer, TrainingProtocol
    from glasstune.objectives.cnn.network import lab_network

    split = stratified_split(data.labels, seed=0)
    torch.manual_seed(0)
    trainer = Trainer(lab_network(data.image_size, params), DeviceImages(data, device, split.train), split, params,
                      seed=0, protocol=TrainingProtocol(eval_examples=10, precision=precision))
    trainer.train_iteration(params["learning_rate"])
    trainer.train_seconds, trainer.train_images = 0.0, 0
    for _ in range(iterations):
        trainer.train_iteration(params["learning_rate"])
    return trainer.train_images / trainer.train_seconds


class AugmentedImages:
    """The plain way: a Dataset that augments one image at a time with numpy on the CPU."""

    def __init__(self, images, labels, mean, std, seed: int = 0) -> None:
        import numpy as np

        self.images, self.labels = images, labels
        self.mean, self.std = mean, std
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        import numpy as np
        import torch

        image = np.rot90(self.images[index], k=int(self.rng.integers(4)), axes=(0, 1))
        if self.rng.random() < 0.5:
            image = np.flipud(image)
        pixels = (image.astype(np.float32) / 255.0 - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))), int(self.labels[index])


def plain_loop(data, params: dict, device: str, iterations: int, workers: int) -> float:
    """Images/s of a textbook loop: DataLoader, per-sample CPU augmentation, fp32, L2 in the loss."""
    import numpy as np
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch.utils.data import DataLoader

    from glasstune.objectives.cnn.images import stratified_split
    from glasstune.objectives.cnn.network import l2_penalty, lab_network

    split = stratified_split(data.labels, seed=0)
    train_images = data.images[split.train]
    scaled = train_images[:100].reshape(-1, 3).astype(np.float32) / 255.0
    dataset = AugmentedImages(train_images, data.labels[split.train], scaled.mean(0), np.maximum(scaled.std(0), 1e-3))
    loader = DataLoader(dataset, batch_size=params["batch_size"], shuffle=True, drop_last=True, num_workers=workers,
                        pin_memory=device.startswith("cuda"), persistent_workers=workers > 0)
    torch.manual_seed(0)
    model = lab_network(data.image_size, params).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params["learning_rate"])
    batches = iter(_forever(loader))

    def iteration() -> int:
        for _ in range(10):
            x, y = next(batches)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y) + params["l2_beta"] * l2_penalty(model)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)
        return 10 * params["batch_size"]

    iteration()  # warm-up, untimed
    start, count = time.perf_counter(), 0
    for _ in range(iterations):
        count += iteration()
    return count / (time.perf_counter() - start)


def _forever(loader):
    while True:
        yield from loader


if __name__ == "__main__":
    main()
