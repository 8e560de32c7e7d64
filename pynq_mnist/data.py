"""MNIST IDX files: locate, read and fingerprint (numpy only).

Where the test set comes from (:func:`load_test_set`): an explicit directory,
else ``$PYNQ_MNIST_DATA``, ``../shared/data/mnist`` and the download cache
(``pynq-mnist data download``), the first that holds it; else the sample of the
first 1,000 test images shipped in ``pynq_mnist/samples/mnist-t1k``.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cache import CACHE_ENV_VAR, cache_root
from .errors import DataError

__all__ = [
    "CACHE_ENV_VAR",
    "DEFAULT_RELATIVE_DIR",
    "ENV_VAR",
    "FILES",
    "IDX_SHA256",
    "SAMPLE_DIR",
    "SAMPLE_FILES",
    "TestSet",
    "cache_dir",
    "find_split_files",
    "load_mnist",
    "load_sample",
    "load_test_set",
    "read_idx",
    "resolve_data_dir",
    "sha256_of_files",
]

logger = logging.getLogger(__name__)

ENV_VAR = "PYNQ_MNIST_DATA"
DEFAULT_RELATIVE_DIR = Path("..") / "shared" / "data" / "mnist"

# Base names of the original LeCun files; each may also carry a ".gz" suffix.
FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# SHA-256 of each file's IDX bytes (decompressed): it holds for the mirrors' original
# .gz files and for any faithful re-compression of them alike.
IDX_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


SAMPLE_DIR = Path(__file__).resolve().parent / "samples" / "mnist-t1k"
SAMPLE_FILES = ("t1k-images-idx3-ubyte.gz", "t1k-labels-idx1-ubyte.gz")

# IDX type byte 0x08 = unsigned byte; the only element type MNIST uses.
_IDX_UBYTE = 0x08
_MAX_IDX_DIMS = 4


def _read_bytes(path: Path) -> bytes:
    """Return the (decompressed, if the name ends in .gz) contents of ``path``."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(f"MNIST file not found: {path}") from exc
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from exc


def read_idx(path: str | os.PathLike[str], ndim: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file (raw or gzip) into a uint8 array.

    Parameters
    ----------
    path:
        The IDX file; decompressed with gzip when its name ends in ``.gz``.
    ndim:
        Expected number of dimensions (3 for images, 1 for labels), or None.

    Raises
    ------
    DataError
        Bad magic, unsupported element type, wrong dimension count, or a
        payload shorter or longer than the header announces.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"IDX file {path} is truncated: {len(raw)} bytes, header needs 4")
    zero, dtype_code, n_dims = int.from_bytes(raw[0:2], "big"), raw[2], raw[3]
    if zero != 0 or dtype_code != _IDX_UBYTE or not 1 <= n_dims <= _MAX_IDX_DIMS:
        raise DataError(
            f"IDX file {path} has bad magic 0x{raw[:4].hex()}: expected 0x0000080N "
            f"(unsigned byte, N = 1..{_MAX_IDX_DIMS} dims)"
        )
    if ndim is not None and n_dims != ndim:
        raise DataError(f"IDX file {path} has {n_dims} dimensions, expected {ndim}")
    header_len = 4 + 4 * n_dims
    if len(raw) < header_len:
        raise DataError(
            f"IDX file {path} is truncated: {len(raw)} bytes, header needs {header_len}"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(n_dims))
    expected = header_len + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        kind = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(f"IDX file {path} is {kind}: {len(raw)} bytes, dims {dims} need {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims).copy()


def cache_dir() -> Path:
    """Download cache: :func:`pynq_mnist.cache.cache_root` (``$PYNQ_MNIST_CACHE``, else
    ``$XDG_CACHE_HOME/pynq-mnist``, else ``~/.cache/pynq-mnist``)."""
    return cache_root()


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Pick the data directory: argument, else ``$PYNQ_MNIST_DATA``, else
    ``../shared/data/mnist``, else the download cache (:func:`cache_dir`).

    Raises
    ------
    DataError
        No argument, no environment variable and neither default directory exists.
    """
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    default = Path.cwd() / DEFAULT_RELATIVE_DIR
    if default.is_dir():
        return default
    if cache_dir().is_dir():
        return cache_dir()
    raise DataError(
        f"no MNIST data directory: pass data_dir, set ${ENV_VAR}, create {default} "
        f"or run 'pynq-mnist data download' (into {cache_dir()})"
    )


def _candidates(root: Path, base: str) -> list[Path]:
    """Paths where ``base`` may live: flat, torchvision ``MNIST/raw`` or ``raw``; gz or not."""
    dirs = [root, root / "MNIST" / "raw", root / "raw"]
    return [d / (base + suffix) for d in dirs for suffix in (".gz", "")]


def _holds_split(root: Path, split: str) -> bool:
    """Whether both files of ``split`` are somewhere under ``root`` (see :func:`_candidates`)."""
    return all(any(p.is_file() for p in _candidates(root, base)) for base in FILES[split])


def find_split_files(
    split: str, data_dir: str | os.PathLike[str] | None = None
) -> tuple[Path, Path]:
    """Return the (images, labels) IDX paths of ``split`` ("train" or "test").

    Raises
    ------
    ValueError
        Unknown split.
    DataError
        A file is in none of the accepted places; the message lists them.
    """
    if split not in FILES:
        raise ValueError(f"split must be one of {sorted(FILES)}, got {split!r}")
    root = resolve_data_dir(data_dir)
    found: list[Path] = []
    for base in FILES[split]:
        candidates = _candidates(root, base)
        hit = next((p for p in candidates if p.is_file()), None)
        if hit is None:
            looked = ", ".join(str(p) for p in candidates)
            raise DataError(f"MNIST file {base}[.gz] not found; looked for: {looked}")
        found.append(hit)
    return found[0], found[1]


def load_mnist(
    split: str, data_dir: str | os.PathLike[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load an MNIST split as (images uint8 [N,28,28], labels uint8 [N]).

    Raises
    ------
    DataError
        Missing or malformed files, or image and label counts that disagree.
    """
    images_path, labels_path = find_split_files(split, data_dir)
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    _checked_pair(images, labels, images_path, labels_path)
    logger.debug("loaded %s: %d images from %s", split, images.shape[0], images_path)
    return images, labels


def sha256_of_files(
    data_dir: str | os.PathLike[str] | None = None, splits: tuple[str, ...] = ("train", "test")
) -> dict[str, str]:
    """SHA-256 (of the file bytes as stored) of each MNIST file, keyed by file name."""
    digests: dict[str, str] = {}
    for split in splits:
        for path in find_split_files(split, data_dir):
            h = hashlib.sha256()
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            digests[path.name] = h.hexdigest()
    return digests


def _checked_pair(
    images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path
) -> None:
    """Raise DataError unless images [N,28,28] and labels [N] in 0..9 belong together."""
    if images.shape[1:] != (28, 28):
        raise DataError(
            f"IDX file {images_path} has images of {images.shape[1:]}, expected (28, 28)"
        )
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{images_path} has {images.shape[0]} images but {labels_path} has "
            f"{labels.shape[0]} labels"
        )
    if labels.size and int(labels.max()) > 9:
        raise DataError(f"IDX file {labels_path} has label {int(labels.max())}, limit 9")


def load_sample() -> tuple[np.ndarray, np.ndarray]:
    """The shipped sample: the first 1,000 MNIST test images [1000,28,28] and labels [1000]."""
    images_path, labels_path = (SAMPLE_DIR / name for name in SAMPLE_FILES)
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    _checked_pair(images, labels, images_path, labels_path)
    return images, labels


@dataclass(frozen=True)
class TestSet:
    """Test images uint8 [N,28,28], labels uint8 [N] and a one-line note of where they came from."""

    __test__ = False  # not a pytest test class

    images: np.ndarray
    labels: np.ndarray
    source: str
    full: bool


def load_test_set(data_dir: str | os.PathLike[str] | None = None) -> TestSet:
    """The MNIST test set, or the shipped 1,000-image sample when no full set is found.

    ``data_dir`` given: that directory or a DataError. Otherwise the first of
    ``$PYNQ_MNIST_DATA``, ``../shared/data/mnist`` and :func:`cache_dir` that
    holds both test files; none does: :func:`load_sample`.

    Raises
    ------
    DataError
        Test files that exist but are malformed, or a ``data_dir`` without them.
    """
    if data_dir is not None:
        roots = [Path(data_dir)]
    else:
        env = os.environ.get(ENV_VAR)
        roots = [Path(env)] if env else []
        roots += [Path.cwd() / DEFAULT_RELATIVE_DIR, cache_dir()]
    for root in roots:
        if data_dir is not None or _holds_split(root, "test"):
            images, labels = load_mnist("test", root)
            where = find_split_files("test", root)[0].parent
            source = f"MNIST test set, {len(images)} images from {where}"
            return TestSet(images, labels, source, full=True)
    images, labels = load_sample()
    looked = ", ".join(str(r) for r in roots)
    source = (
        f"shipped sample, the first {len(images)} MNIST test images ({SAMPLE_DIR}); "
        f"no full test set in {looked}: 'pynq-mnist data download' fetches it"
    )
    return TestSet(images, labels, source, full=False)
