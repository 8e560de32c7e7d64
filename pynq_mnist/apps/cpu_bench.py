"""`bench-cpu`: the vectorised CPU backend against the seed notebook's per-image loop."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ..backends.cpu import CpuBackend
from ..errors import PynqMnistError
from ..model import Model, load_model

REPEATS = 5


def seed_loop_logits(model: Model, images: np.ndarray) -> np.ndarray:
    """The seed notebook's method: one int32 ``np.matmul`` per image and layer."""
    w1 = model.w1.astype(np.int32)
    w2 = model.w2.astype(np.int32)
    logits = np.empty((len(images), w2.shape[0]), dtype=np.int32)
    for k, image in enumerate(images):
        acc1 = np.matmul(w1, image.astype(np.int32))
        hidden = np.minimum(np.right_shift(np.maximum(acc1, 0), model.shift_l1), 255)
        logits[k] = np.matmul(w2, hidden)
    return logits


def compare(model: Model, images: np.ndarray, repeats: int = REPEATS) -> dict[str, float | int]:
    """Time both methods in this process; vectorised time is the best of ``repeats``."""
    start = time.perf_counter()
    seed = seed_loop_logits(model, images)
    seed_s = time.perf_counter() - start
    backend = CpuBackend()
    backend.load(model)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        logits = backend.infer(images)
        times.append(time.perf_counter() - start)
    if not np.array_equal(logits, seed):
        mismatches = int(np.any(logits != seed, axis=1).sum())
        raise PynqMnistError(f"cpu backend disagrees with the seed loop on {mismatches} images")
    return {
        "n": len(images),
        "seed_loop_s": seed_s,
        "cpu_s": min(times),
        "cpu_median_s": float(np.median(times)),
        "speedup": seed_s / min(times),
        "identical": len(images),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m pynq_mnist bench-cpu``."""
    parser.add_argument(
        "--data",
        help="MNIST directory (default: $PYNQ_MNIST_DATA, ../shared/data/mnist or the download "
        "cache, else the shipped 1,000-image sample)",
    )
    parser.add_argument("--model", help="model .npz (default: the bundled model)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N test images")
    parser.add_argument(
        "--repeats", type=int, default=REPEATS, help="timed runs of the cpu backend"
    )
    parser.add_argument("--json", dest="json_path", help="also write the figures as JSON here")


def run(args: argparse.Namespace) -> int:
    """Print seed-loop time, vectorised time and their ratio on the MNIST test set."""
    from ..data import load_test_set

    test = load_test_set(args.data)  # the shipped sample when no full test set is found
    images = test.images.reshape(len(test.images), -1)[: args.limit]
    figures = compare(load_model(args.model), images, max(1, args.repeats))
    print(f"data:                  {test.source}")
    print(f"images:                {figures['n']}")
    print(f"seed per-image loop:   {figures['seed_loop_s']:.3f} s")
    print(f"cpu backend (best of {max(1, args.repeats)}): {figures['cpu_s']:.4f} s")
    print(f"speedup:               {figures['speedup']:.1f}x  (logits identical on all images)")
    if args.json_path:
        with open(args.json_path, "w") as file:
            json.dump(figures, file, indent=2)
    return 0
