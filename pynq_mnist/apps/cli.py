"""The ``pynq-mnist`` command (also ``python -m pynq_mnist``): infer, train, bench, bench-cpu,
data, serve.

Exit status: 0 success; 1 some input or run failed; 2 bad usage, model or
backend (nothing was classified). Errors are one line on stderr; library
code raises, only this module prints.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

import numpy as np

from .. import __version__
from ..backends import BACKEND_ENV, BACKEND_NAMES
from ..errors import BackendUnavailable, PynqMnistError

PROG = "pynq-mnist"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_SETUP = 2
EXIT_INTERRUPTED = 130

# Subcommands owned by other modules: name -> (module, one-line help). Each module
# exposes add_arguments(parser) and run(args) -> int and is imported only when chosen,
# so that infer never pays for torch or pynq.
DELEGATED: dict[str, tuple[str, str]] = {
    "train": ("pynq_mnist.training.train", "train the MLP and export the int8 model"),
    "bench": ("pynq_mnist.apps.bench", "accuracy, throughput and latency per backend"),
    "bench-cpu": ("pynq_mnist.apps.cpu_bench", "numpy backend against the seed per-image loop"),
    "data": ("pynq_mnist.apps.download", "MNIST data: 'data download' fetches and verifies it"),
    "serve": (
        "pynq_mnist.apps.serve",
        "draw-a-digit web page and JSON API on port 8080 (no password by default)",
    ),
}

# Packages of an optional extra -> how to install it.
OPTIONAL_EXTRAS = {
    "torch": "pip install 'pynq-mnist[train]'",
    "tqdm": "pip install 'pynq-mnist[train]'",
}
DELEGATED["bench-photos"] = (
    "pynq_mnist.apps.photo_bench",
    "accuracy on synthetic phone photos per variation; memory and time per photo",
)

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]) and return the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser, subparsers = _build_parser()
    command = _command_name(arguments)
    module: ModuleType | None = None
    if command in DELEGATED:
        module_name = DELEGATED[command][0]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            extra = OPTIONAL_EXTRAS.get(str(exc.name).split(".")[0])
            if extra is None:
                _error(f"'{command}' is not available: cannot import {module_name}: {exc}")
                return EXIT_SETUP
            hint = f"'{command}' needs {exc.name}, which is not installed: {extra}"
            if {"-h", "--help"} & set(arguments):  # help works without the extra
                subparsers[command].description = f"{DELEGATED[command][1]}. {hint}."
                subparsers[command].add_argument("options", nargs="*", help="see above")
                parser.parse_args(arguments)  # prints the help and exits 0
            _error(hint)
            return EXIT_SETUP
        module.add_arguments(subparsers[command])
    args = parser.parse_args(arguments)
    _configure_logging(args.verbose)
    try:
        if module is not None:
            return int(module.run(args))
        return _infer(args)
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BackendUnavailable as exc:
        _error(str(exc))
        return EXIT_SETUP
    except (PynqMnistError, OSError, ValueError) as exc:
        _error(str(exc))
        return EXIT_FAILED


def _build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Classify MNIST digits with an int8 MLP on a PYNQ board or the CPU."
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log to stderr (-vv: debug)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    subparsers: dict[str, argparse.ArgumentParser] = {}

    infer = commands.add_parser(
        "infer",
        help="classify image files (PNG, JPEG, ...; any size, photos of paper too)",
        description="Classify image files. Each is turned into a 28x28 MNIST-style digit "
        "(inverted if the background is light, cropped, scaled, centred) first.",
    )
    infer.add_argument("images", nargs="+", metavar="IMG", help="image file(s)")
    infer.add_argument("--model", metavar="NPZ", help="model file (default: the bundled model)")
    infer.add_argument(
        "--backend",
        metavar="{" + ",".join(BACKEND_NAMES) + "}",
        help=f"where to run (default: ${BACKEND_ENV} or auto: fabric on a board, else cpu)",
    )
    infer.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: path, digit, confidence, logits, seed_digit, backend, "
        "doubt (null, or why the answer may be wrong)",
    )
    infer.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    subparsers["infer"] = infer

    for name, (_, summary) in DELEGATED.items():
        subparsers[name] = commands.add_parser(name, help=summary, description=summary)
    return parser, subparsers


def _command_name(arguments: Sequence[str]) -> str | None:
    """The subcommand: the first argument that is not an option (global options take no value)."""
    return next((a for a in arguments if not a.startswith("-")), None)


def _configure_logging(verbosity: int) -> None:
    """Log to stderr: warnings from everyone, -v info and -vv debug from pynq_mnist only."""
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    if verbosity > 0:
        level = logging.INFO if verbosity == 1 else logging.DEBUG
        logging.getLogger(__package__).setLevel(level)
    # Progress of long one-off steps (building the simulator), plain lines on stderr.
    progress = logging.getLogger("pynq_mnist.progress")  # what the library reports as progress
    if not progress.handlers:
        progress.addHandler(_ProgressLines())
    progress.setLevel(logging.INFO)
    progress.propagate = False


class _ProgressLines(logging.Handler):
    """Each record as a plain line on the current sys.stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(record.getMessage(), file=sys.stderr, flush=True)


def _error(message: str) -> None:
    """One line on stderr, however many lines the message had."""
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)


def _infer(args: argparse.Namespace) -> int:
    """Classify every readable image in one batch; report unreadable ones and carry on."""
    from ..backends import resolve_backend_name
    from ..classifier import Classifier, seed_digits
    from ..model import load_model
    from ..preprocess import doubt_note, read_digit

    backend = resolve_backend_name(args.backend)  # a typo fails before any work
    try:
        model = load_model(args.model)
    except (PynqMnistError, OSError, ValueError) as exc:
        _error(f"cannot load model: {exc}")
        return EXIT_SETUP
    paths: list[str] = []
    images: list[np.ndarray] = []
    doubts: list[str | None] = []
    for path in args.images:
        try:
            digit = read_digit(path)
            images.append(digit.pixels)
            doubts.append(digit.doubt)
        except PynqMnistError as exc:
            _error(str(exc))
            continue
        except Exception as exc:  # a bug or a codec's surprise costs this file only
            logger.debug("%s: traceback", path, exc_info=True)
            _error(f"{path}: unexpected {type(exc).__name__} while reading the image: {exc}")
            continue
        paths.append(path)
    if not images:
        return EXIT_FAILED
    try:
        # Built only now: a sim backend may first compile the RTL.
        classifier = Classifier(model=model, backend=backend)
    except PynqMnistError as exc:  # unavailable, or failed to start / take the weights
        _error(str(exc))
        return EXIT_SETUP
    with classifier:
        result = classifier.classify(np.stack(images))
    logger.info("classified %d image(s) on the %s backend", len(images), result.backend)
    seeds = seed_digits(result.logits, model)
    for i, path in enumerate(paths):
        digit, confidence = int(result.digits[i]), float(result.confidence[i])
        doubt = doubt_note(doubts[i], confidence)
        if args.json:
            record = {
                "path": path,
                "digit": digit,
                "confidence": confidence,
                "logits": [int(v) for v in result.logits[i]],
                "seed_digit": int(seeds[i]),
                "backend": result.backend,
                "doubt": doubt,
            }
            print(json.dumps(record))
        else:
            note = f", doubtful: {doubt}" if doubt else ""
            print(f"{path}: digit {digit} (confidence {confidence:.3f}{note})")
    return EXIT_OK if len(paths) == len(args.images) else EXIT_FAILED
