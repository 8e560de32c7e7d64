"""MNIST IDX reader and file discovery, on tiny IDX files written here."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import model_logits
from reference import reference_digits

from pynq_mnist.data import (
    CACHE_ENV_VAR,
    ENV_VAR,
    IDX_SHA256,
    SAMPLE_DIR,
    cache_dir,
    find_split_files,
    load_mnist,
    load_sample,
    load_test_set,
    read_idx,
    resolve_data_dir,
    sha256_of_files,
)
from pynq_mnist.errors import DataError
from pynq_mnist.model import load_model

REPO_ROOT = Path(__file__).resolve().parents[2]

TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding written from the format description: 0x0000 0x08 ndim, big-endian dims."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data, mtime=0))
    else:
        path.write_bytes(data)
    return path


def write_split(
    directory: Path, rng: np.random.Generator, names: tuple[str, str], n: int, compress: bool
) -> tuple[np.ndarray, np.ndarray]:
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    write_idx(directory / names[0], images, compress)
    write_idx(directory / names[1], labels, compress)
    return images, labels


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path: Path, rng: np.random.Generator, compress: bool) -> None:
    array = rng.integers(0, 256, size=(3, 5, 7), dtype=np.uint8)
    path = write_idx(tmp_path / "x-idx3-ubyte", array, compress)
    out = read_idx(path, ndim=3)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, array)


def test_read_idx_bad_magic_names_file(tmp_path: Path) -> None:
    data = bytearray(idx_bytes(np.zeros(4, dtype=np.uint8)))
    data[2] = 0x0D  # float element type
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"labels-idx1-ubyte.*bad magic 0x00000d01"):
        read_idx(path)


def test_read_idx_nonzero_magic_prefix(tmp_path: Path) -> None:
    path = tmp_path / "junk"
    path.write_bytes(b"PK\x03\x04" + bytes(16))
    with pytest.raises(DataError, match="bad magic 0x504b0304"):
        read_idx(path)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_truncated_payload(tmp_path: Path, compress: bool) -> None:
    data = idx_bytes(np.zeros((2, 28, 28), dtype=np.uint8))[:-1]
    path = tmp_path / ("short-idx3-ubyte" + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(DataError, match=r"short-idx3-ubyte.*truncated: 1583 bytes.*need 1584"):
        read_idx(path)


def test_read_idx_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "hdr"
    path.write_bytes(idx_bytes(np.zeros((2, 2, 2), dtype=np.uint8))[:9])
    with pytest.raises(DataError, match="truncated: 9 bytes, header needs 16"):
        read_idx(path)


def test_read_idx_trailing_bytes_and_wrong_ndim(tmp_path: Path) -> None:
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros(3, dtype=np.uint8)) + b"\x00")
    with pytest.raises(DataError, match="longer than its header says"):
        read_idx(path)
    path.write_bytes(idx_bytes(np.zeros(3, dtype=np.uint8)))
    with pytest.raises(DataError, match="has 1 dimensions, expected 3"):
        read_idx(path, ndim=3)


def test_read_idx_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "broken-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(100, dtype=np.uint8)))[:30])
    with pytest.raises(DataError, match=r"broken-idx1-ubyte\.gz"):
        read_idx(path)


@pytest.mark.parametrize("layout", ["", "MNIST/raw", "raw"])
@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist_layouts(
    tmp_path: Path, rng: np.random.Generator, layout: str, compress: bool
) -> None:
    """Flat directory and both torchvision layouts (DIR/MNIST/raw, DIR/raw), gz or not."""
    where = tmp_path / layout if layout else tmp_path
    train = write_split(where, rng, (TRAIN_IMAGES, TRAIN_LABELS), 5, compress)
    test = write_split(where, rng, (TEST_IMAGES, TEST_LABELS), 3, compress)
    for split, (images, labels) in (("train", train), ("test", test)):
        got_images, got_labels = load_mnist(split, tmp_path)
        np.testing.assert_array_equal(got_images, images)
        np.testing.assert_array_equal(got_labels, labels)


def test_missing_file_lists_where_it_looked(tmp_path: Path, rng: np.random.Generator) -> None:
    write_split(tmp_path, rng, (TEST_IMAGES, TEST_LABELS), 2, True)
    (tmp_path / (TEST_LABELS + ".gz")).unlink()
    with pytest.raises(DataError) as info:
        load_mnist("test", tmp_path)
    message = str(info.value)
    assert TEST_LABELS in message
    for place in (tmp_path, tmp_path / "MNIST" / "raw", tmp_path / "raw"):
        assert str(place / (TEST_LABELS + ".gz")) in message
        assert str(place / TEST_LABELS) in message


def test_unknown_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'validation'"):
        find_split_files("validation", tmp_path)


def test_count_mismatch_and_bad_label(tmp_path: Path, rng: np.random.Generator) -> None:
    write_idx(tmp_path / TEST_IMAGES, np.zeros((3, 28, 28), np.uint8), True)
    write_idx(tmp_path / TEST_LABELS, np.zeros(2, np.uint8), True)
    with pytest.raises(DataError, match=r"3 images but .* 2 labels"):
        load_mnist("test", tmp_path)
    write_idx(tmp_path / TEST_LABELS, np.array([1, 10, 2], np.uint8), True)
    with pytest.raises(DataError, match="label 10, limit 9"):
        load_mnist("test", tmp_path)
    write_idx(tmp_path / TEST_IMAGES, np.zeros((3, 27, 28), np.uint8), True)
    with pytest.raises(DataError, match=r"\(27, 28\), expected \(28, 28\)"):
        load_mnist("test", tmp_path)


def test_data_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "cache"))
    project = tmp_path / "main"
    project.mkdir()
    monkeypatch.chdir(project)
    with pytest.raises(DataError, match=rf"{ENV_VAR}.*data download"):
        resolve_data_dir()
    (tmp_path / "cache").mkdir()
    assert resolve_data_dir() == tmp_path / "cache"
    shared = tmp_path / "shared" / "data" / "mnist"
    shared.mkdir(parents=True)
    assert resolve_data_dir().resolve() == shared.resolve()
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"


def test_sha256_of_files(tmp_path: Path, rng: np.random.Generator) -> None:
    write_split(tmp_path, rng, (TRAIN_IMAGES, TRAIN_LABELS), 2, True)
    write_split(tmp_path / "raw", rng, (TEST_IMAGES, TEST_LABELS), 2, False)
    digests = sha256_of_files(tmp_path)
    expected = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in [*tmp_path.glob("*.gz"), *(tmp_path / "raw").iterdir()]
    }
    assert digests == expected
    assert len(digests) == 4


def test_real_mnist(mnist_dir: Path) -> None:
    """The shared data set: sizes, dtypes and the well-known first labels."""
    train_images, train_labels = load_mnist("train", mnist_dir)
    test_images, test_labels = load_mnist("test", mnist_dir)
    assert train_images.shape == (60000, 28, 28) and train_images.dtype == np.uint8
    assert test_images.shape == (10000, 28, 28) and test_labels.shape == (10000,)
    assert train_labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert test_labels[:5].tolist() == [7, 2, 1, 0, 4]
    test_counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(test_labels, minlength=10).tolist() == test_counts


def test_cache_dir_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_ENV_VAR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "pynq-mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "pynq-mnist"
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_test_set_search_order(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Explicit dir, then $PYNQ_MNIST_DATA, ../shared/data/mnist, the cache; else the sample."""
    project, cache, env = tmp_path / "main", tmp_path / "cache", tmp_path / "env"
    for d in (project, cache, env):
        d.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv(CACHE_ENV_VAR, str(cache))
    monkeypatch.setenv(ENV_VAR, str(env))  # empty: skipped

    sample = load_test_set()
    assert not sample.full and sample.images.shape == (1000, 28, 28)
    assert sample.source.startswith("shipped sample, the first 1000 MNIST test images")
    assert str(env) in sample.source and str(cache) in sample.source

    cached, _ = write_split(cache, rng, (TEST_IMAGES, TEST_LABELS), 3, True)
    got = load_test_set()
    assert got.full and got.source == f"MNIST test set, 3 images from {cache}"
    np.testing.assert_array_equal(got.images, cached)

    shared = tmp_path / "shared" / "data" / "mnist"
    shared_images, _ = write_split(shared, rng, (TEST_IMAGES, TEST_LABELS), 4, False)
    np.testing.assert_array_equal(load_test_set().images, shared_images)

    _, env_labels = write_split(env / "raw", rng, (TEST_IMAGES, TEST_LABELS), 5, True)
    got = load_test_set()
    assert got.source == f"MNIST test set, 5 images from {env / 'raw'}"
    np.testing.assert_array_equal(got.labels, env_labels)

    with pytest.raises(DataError, match="not found"):
        load_test_set(tmp_path / "nowhere")
    (env / "raw" / (TEST_LABELS + ".gz")).write_bytes(b"garbage")  # present but broken: an error
    with pytest.raises(DataError, match=TEST_LABELS):
        load_test_set()


def test_sample_is_the_first_1000_test_images(mnist_dir: Path) -> None:
    images, labels = load_sample()
    full_images, full_labels = load_mnist("test", mnist_dir)
    np.testing.assert_array_equal(images, full_images[:1000])
    np.testing.assert_array_equal(labels, full_labels[:1000])
    credits = (SAMPLE_DIR / "README.md").read_text()
    assert "CC BY-SA 3.0" in credits
    for name in ("t1k-images-idx3-ubyte", "t1k-labels-idx1-ubyte"):
        digest = hashlib.sha256(gzip.decompress((SAMPLE_DIR / f"{name}.gz").read_bytes()))
        assert f"`{name}.gz` | " in credits and digest.hexdigest() in credits


def test_recorded_idx_digests_match_the_data(mnist_dir: Path) -> None:
    for base, digest in IDX_SHA256.items():
        data = gzip.decompress((mnist_dir / f"{base}.gz").read_bytes())
        assert hashlib.sha256(data).hexdigest() == digest, base


@pytest.mark.sim
def test_bench_runs_on_the_sample_without_data(tmp_path: Path) -> None:
    """A fresh machine: empty $PYNQ_MNIST_DATA, no ../shared, empty cache -> the sample."""
    empty, cache, cwd = tmp_path / "empty", tmp_path / "cache", tmp_path / "cwd"
    for d in (empty, cache, cwd):
        d.mkdir()
    env = {
        **os.environ,
        ENV_VAR: str(empty),
        CACHE_ENV_VAR: str(cache),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pynq_mnist", "bench", "--backends", "cpu,sim",
         "--latency-calls", "3", "--no-progress"],
        cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("data: shipped sample, the first 1000 MNIST test images (")
    assert str(empty) in lines[0] and "pynq-mnist data download" in lines[0]

    images, labels = load_sample()
    model = load_model(None)
    logits = model_logits(model, images)
    accuracy = np.mean(reference_digits(logits) == labels) * 100
    for backend in ("cpu", "sim"):
        assert f"| {backend} | {accuracy:.2f} % | 1000/1000 |" in proc.stdout


def test_one_cache_root_for_data_simulator_and_overlays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pynq_mnist.sim import bitstream, build

    monkeypatch.delenv(CACHE_ENV_VAR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    root = tmp_path / "home" / ".cache" / "pynq-mnist"
    assert (cache_dir(), build.cache_root(), bitstream.overlay_cache_root()) == (
        root,
        root / "sim",
        root / "overlays",
    )
