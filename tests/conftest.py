"""Shared fixtures: seeds, the golden model on the path, board detection, the virtual board."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from pynq_mnist.sim.device import VirtualDevice

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))

from pynq_mnist.hardware.boards import DEFAULT_BOARD  # noqa: E402

DEFAULT_SEED = 20261125
log = logging.getLogger(__name__)


BOARD_STACK_MARKER = (
    "board_stack: the board's pynq code path (pynq.Overlay, the .hwh parser, MMIO modes) "
    "on the virtual board; CI's pynq lanes select them with -m board_stack"
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker the board-stack CI lanes select."""
    config.addinivalue_line("markers", BOARD_STACK_MARKER)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `board` tests off-board; nothing else may skip."""
    from pynq_mnist.board.detect import board_available

    if board_available():
        return
    skip = pytest.mark.skip(reason="needs a PYNQ board with the pynq-mnist overlay")
    for item in items:
        if item.get_closest_marker("board") is not None:
            item.add_marker(skip)


@pytest.fixture
def seed() -> int:
    """The test seed ($PYNQ_MNIST_TEST_SEED overrides it); logged so a failure can be replayed."""
    value = int(os.environ.get("PYNQ_MNIST_TEST_SEED", DEFAULT_SEED))
    log.info("test seed %d", value)
    return value


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    """A seeded generator per test."""
    return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST directory ($PYNQ_MNIST_DATA or ../shared/data/mnist)."""
    path = Path(os.environ.get("PYNQ_MNIST_DATA", REPO_ROOT.parent / "shared" / "data" / "mnist"))
    if not (path / "t10k-images-idx3-ubyte.gz").exists():
        raise FileNotFoundError(f"MNIST not found in {path}: set PYNQ_MNIST_DATA")
    return path


@pytest.fixture(params=[False, True], ids=["register_rw", "memory_mapped"])
def memory_mapped(request: pytest.FixtureRequest) -> bool:
    """Both MMIO modes of the virtual board: pass as ``SimBackend(memory_mapped=...)``
    or ``VirtualDevice(memory_mapped=...)`` (a board is MEMORY_MAPPED)."""
    return bool(request.param)


@pytest.fixture
def board_key() -> str:
    """The virtual board's board (a ``hardware.boards`` key); ``sim_hooks.both_boards``
    runs a test on one board of each PS family."""
    return DEFAULT_BOARD


@pytest.fixture(scope="module")
def virtual_board(request: pytest.FixtureRequest) -> Iterator[VirtualDevice]:
    """One virtual board (default banks) per test module, pynq's active device while it lives.

    The default board, or the board ``request.param`` names where a directory parametrizes
    it indirectly (tests/sim does, for one board of each PS family).
    """
    from pynq_mnist.sim.device import VirtualDevice

    with VirtualDevice(board=getattr(request, "param", DEFAULT_BOARD)) as device:
        yield device
