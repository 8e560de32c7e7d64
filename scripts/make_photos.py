"""Write the synthetic phone photos of ``pynq-mnist bench-photos`` to a directory.

    python scripts/make_photos.py OUT_DIR [--per-variation 32] [--seed 0]
    python scripts/make_photos.py docs/photos --examples   # the README's examples

Files are ``<variation>_<index>_<label>.jpg``; the set takes seconds to make,
so only the few examples are committed. MNIST training digits are read from
$PYNQ_MNIST_DATA or ../shared/data/mnist.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pynq_mnist.apps import photo_synth
from pynq_mnist.data import load_mnist

EXAMPLES = ("tilt 0.5-3", "out of frame", "patterned table", "perspective", "light + shadow")
EXAMPLE_SIDE = 240  # pixels, long side
EXAMPLE_QUALITY = 75


def main(argv: list[str] | None = None) -> int:
    """Generate the photos (or the examples) into the given directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-variation", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", action="store_true", help="a few small JPEGs only")
    args = parser.parse_args(argv)
    digits, labels = load_mnist("train")
    args.out.mkdir(parents=True, exist_ok=True)
    count = 0
    per_variation = 1 if args.examples else args.per_variation
    for photo in photo_synth.generate(digits, labels, per_variation=per_variation, seed=args.seed):
        if args.examples and photo.variation not in EXAMPLES:
            continue
        name = photo_synth.file_name(photo)
        data = photo.jpeg
        if args.examples:
            image = Image.open(io.BytesIO(data))
            image.thumbnail((EXAMPLE_SIDE, EXAMPLE_SIDE))
            data = photo_synth.to_jpeg(image, EXAMPLE_QUALITY)
        (args.out / name).write_bytes(data)
        count += 1
    print(f"{count} photos in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
