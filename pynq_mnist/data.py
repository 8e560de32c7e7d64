"""MNIST IDX files: locate, read and fingerprint (numpy only)."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from pynq_mnist.errors import DataError

__all__ = [
    "DEFAULT_RELATIVE_DIR",
    "ENV_VAR",
    "FILES",
    "find_split_files",
    "load_mnist",
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


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Pick the data directory: argument, else ``$PYNQ_MNIST_DATA``, else ``../shared/data/mnist``.

    Raises
    ------
    DataError
        No argument, no environment variable and no default directory.
    """
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    default = Path.cwd() / DEFAULT_RELATIVE_DIR
    if default.is_dir():
        return default
    raise DataError(f"no MNIST data directory: pass data_dir, set ${ENV_VAR}, or create {default}")


def _candidates(root: Path, base: str) -> list[Path]:
    """Paths where ``base`` may live: flat, torchvision ``MNIST/raw`` or ``raw``; gz or not."""
    dirs = [root, root / "MNIST" / "raw", root / "raw"]
    return [d / (base + suffix) for d in dirs for suffix in (".gz", "")]


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
