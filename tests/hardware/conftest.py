"""Where the Vivado-written .hwh files of the pynq 3.0.1 sdist are (scripts/setup-dev.sh)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pynq_mnist.cache import cache_root

VIVADO_HWH_ENV = "PYNQ_MNIST_VIVADO_HWH"


def find_vivado_hwh(board_dir: str) -> Path:
    """``boards/<board_dir>/base/base.hwh`` under ``$PYNQ_MNIST_VIVADO_HWH`` or the cache.

    Fails the test (no skip) with a one-line message when the file is missing.
    """
    root = Path(os.environ.get(VIVADO_HWH_ENV) or cache_root() / "vivado-hwh")
    path = root / "boards" / board_dir / "base" / "base.hwh"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run scripts/setup-dev.sh", pytrace=False)
    return path


@pytest.fixture
def vivado_hwh() -> Callable[[str], Path]:
    """:func:`find_vivado_hwh`, for tests that compare with Vivado's output."""
    return find_vivado_hwh
