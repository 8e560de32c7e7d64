"""``python -m pynq_mnist.apps.deskew_bench``: time the integer deskew on MNIST test images.

Prints the best-of-N wall time for one batch (10,000 images by default) and the
time per image; the function it times is ``pynq_mnist.deskew.bench``.
"""

from __future__ import annotations

import argparse

from ..data import load_mnist
from ..deskew import SIDE, bench


def main(argv: list[str] | None = None) -> int:
    """Time ``deskew`` on the first N MNIST test images and print the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m pynq_mnist.apps.deskew_bench", description=__doc__
    )
    parser.add_argument("--data", metavar="DIR", help="MNIST directory (default as for train)")
    parser.add_argument("--images", type=int, default=10000, help="batch size (default 10000)")
    parser.add_argument("--repeats", type=int, default=5, help="best of N runs (default 5)")
    args = parser.parse_args(argv)
    if not 1 <= args.images <= 10000 or args.repeats < 1:
        parser.error("--images must be 1..10000 and --repeats >= 1")
    images, _ = load_mnist("test", args.data)
    result = bench(images[: args.images].reshape(-1, SIDE * SIDE), args.repeats)
    print(
        f"deskew: {int(result['images'])} images, best of {args.repeats}: "
        f"{result['total[s]'] * 1e3:.1f} ms wall ({result['per_image[us]']:.2f} us per image), "
        f"{result['cpu_total[s]'] * 1e3:.1f} ms CPU "
        f"({result['cpu_per_image[us]']:.2f} us per image)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
