"""``bench-photos``: accuracy on synthetic phone photos, per variation, and the photo path's cost.

The photos come from :mod:`pynq_mnist.apps.photo_synth` (MNIST *training* digits,
which the benchmark's test set does not contain). Each is JPEG-encoded,
decoded and preprocessed exactly as ``infer`` does it, and classified; the
same digits as clean 28x28 images give the accuracy the photo path is
compared with. Memory and time are measured on a phone-sized (12 MP) JPEG
and on the largest photos the decoder accepts, each in a fresh ``infer``
process whose peak resident memory is read from ``getrusage``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from ..classifier import Classifier
from ..data import load_mnist
from . import photo_synth

__all__ = ["accuracy_table", "add_arguments", "measure_infer", "run"]

PHONE_SIZE = (4000, 3000)  # 12 megapixels
TIMING_REPEATS = 3
_RESAMPLING = getattr(Image, "Resampling", Image)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``bench-photos``."""
    parser.add_argument(
        "--per-variation", type=int, default=32, metavar="N", help="photos per variation (32)"
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed (0)")
    parser.add_argument("--data", metavar="DIR", help="MNIST directory (default: as 'data')")
    parser.add_argument("--backend", default="cpu", help="backend for the accuracy run (cpu)")
    parser.add_argument("--model", metavar="NPZ", help="model file (default: the bundled one)")
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the 12 MP / largest-photo measurements"
    )
    parser.add_argument(
        "--save",
        metavar="DIR",
        help="also write the generated photos there as JPEG files, each with the 28x28 "
        "the network saw beside it (NAME.seen.png, after the model's input transform)",
    )


def _load(jpeg: bytes, name: str) -> tuple[np.ndarray, str | None]:
    """Decode and preprocess like ``infer``: (28x28 pixels, doubt or None)."""
    from .. import preprocess

    if hasattr(preprocess, "read_digit_bytes"):
        digit = preprocess.read_digit_bytes(jpeg, name=name)
        return digit.pixels, digit.doubt
    # Older preprocessing (for before/after comparisons): path only, no doubt.
    with tempfile.NamedTemporaryFile(suffix=".jpg") as file:
        file.write(jpeg)
        file.flush()
        return preprocess.load_image(file.name), None


def accuracy_table(
    args: argparse.Namespace,
) -> tuple[dict[str, tuple[int, int, int, int]], float, float, float]:
    """{variation: (correct, total, unreadable, doubtful)}, photo accuracy, clean accuracy,
    and the mean time to decode and preprocess one photo, in seconds."""
    digits, labels = load_mnist("train", args.data)
    results: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    pixels, truth, variations, picks, saved = [], [], [], [], []
    seconds = 0.0
    for photo in photo_synth.generate(
        digits, labels, per_variation=args.per_variation, seed=args.seed
    ):
        name = f"{photo.variation}#{photo.index}"
        if args.save:
            path = Path(args.save) / photo_synth.file_name(photo)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(photo.jpeg)
        results[photo.variation][1] += 1
        picks.append(photo.mnist_index)
        start = time.perf_counter()
        try:
            image, doubt = _load(photo.jpeg, name)
        except ValueError:  # ImageError: no digit found counts as wrong
            results[photo.variation][2] += 1
            continue
        finally:
            seconds += time.perf_counter() - start
        results[photo.variation][3] += doubt is not None
        pixels.append(image)
        saved.append(Path(args.save) / photo_synth.file_name(photo) if args.save else None)
        truth.append(photo.label)
        variations.append(photo.variation)
    with Classifier(args.model, backend=args.backend) as classifier:
        result = classifier.classify(np.stack(pixels))
        predicted = result.digits
        clean = classifier.classify(digits[np.array(picks)]).digits
    if args.save and result.network_input is not None:
        for path, seen in zip(saved, result.network_input, strict=True):
            Image.fromarray(seen.reshape(28, 28)).save(path.with_suffix(".seen.png"))
    for digit, label, variation in zip(predicted.tolist(), truth, variations, strict=True):
        results[variation][0] += digit == label
    total = sum(r[1] for r in results.values())
    photo_accuracy = sum(r[0] for r in results.values()) / total
    clean_accuracy = float((clean == labels[np.array(picks)]).mean())
    table = {name: (r[0], r[1], r[2], r[3]) for name, r in results.items()}
    return table, photo_accuracy, clean_accuracy, seconds / total


def measure_infer(path: Path, repeats: int = TIMING_REPEATS) -> dict[str, float]:
    """Peak RSS of a fresh ``infer`` process on ``path`` and the in-process time per photo."""
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run([sys.executable, '-m', 'pynq_mnist', 'infer', '--backend', 'cpu',"
        " sys.argv[1]], stdout=subprocess.DEVNULL)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", probe, str(path)], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    status, max_rss_kib = (int(v) for v in out.stdout.split())
    from ..preprocess import load_image

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        load_image(path)
        times.append(time.perf_counter() - start)
    return {
        "exit_status": status,
        "peak_rss[MB]": max_rss_kib * 1024 / 1e6,
        "infer_process[s]": wall,
        "decode_preprocess[s]": float(np.median(times)),
    }


def _big_photo(size: tuple[int, int], path: Path, *, seed: int) -> Path:
    """A generated photo scaled up to ``size`` and saved as JPEG (q 90) or PNG (by suffix)."""
    rng = np.random.default_rng(seed)
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[4:24, 12:16] = 255  # a plain 1, so that no MNIST file is needed
    scene = photo_synth.baseline_scene(rng)
    image = photo_synth.render(digit, scene, rng).resize(size, _RESAMPLING.BILINEAR)
    if path.suffix == ".png":
        image.save(path, compress_level=1)
    else:
        image.save(path, quality=90)
    return path


def run(args: argparse.Namespace) -> int:
    """Print the accuracy table, the clean gap and the memory/time figures."""
    table, photo_accuracy, clean_accuracy, seconds = accuracy_table(args)
    width = max(len(name) for name in table)
    print(f"{'variation':<{width}}  accuracy   n  unreadable  doubtful")
    for name, (correct, total, unreadable, doubtful) in table.items():
        print(
            f"{name:<{width}}  {correct / total:7.1%}  {total:3d}  {unreadable:10d}  {doubtful:8d}"
        )
    total = sum(r[1] for r in table.values())
    print(f"{'overall':<{width}}  {photo_accuracy:7.1%}  {total:3d}")
    print(f"{'clean 28x28':<{width}}  {clean_accuracy:7.1%}  {total:3d}  (the same digits)")
    print(f"gap (clean - photo): {100 * (clean_accuracy - photo_accuracy):.1f} points")
    size = f"{photo_synth.FRAME_LONG}x{photo_synth.FRAME_SHORT}"
    print(f"decode + preprocess per {size} JPEG: {1000 * seconds:.1f} ms (mean)")
    if args.no_memory:
        return 0
    from ..preprocess import MAX_DECODED_BYTES, MAX_PIXELS

    side = int((MAX_PIXELS * 3 / 4) ** 0.5)
    largest_jpeg = (side * 4 // 3, side)
    png_side = int((MAX_DECODED_BYTES / 4 * 3 / 4) ** 0.5)  # Pillow holds RGB in 4 bytes
    largest_png = (png_side * 4 // 3, png_side)
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            ("12 MP JPEG", PHONE_SIZE, Path(tmp) / "phone.jpg"),
            ("largest JPEG", largest_jpeg, Path(tmp) / "largest.jpg"),
            ("largest PNG (RGB)", largest_png, Path(tmp) / "largest.png"),
        ]
        for label, size, path in cases:
            _big_photo(size, path, seed=args.seed)
            figures = measure_infer(path)
            print(
                f"{label} {size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.1f} MP, "
                f"{path.stat().st_size / 1e6:.1f} MB file): "
                + json.dumps({k: round(v, 3) for k, v in figures.items()})
            )
    return 0
