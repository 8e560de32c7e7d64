"""The one cache directory of pynq-mnist: downloaded MNIST files, ``sim/`` (built simulator
models) and ``overlays/`` (the virtual board's stand-in bitstreams)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV_VAR", "cache_root"]

CACHE_ENV_VAR = "PYNQ_MNIST_CACHE"


def cache_root() -> Path:
    """``$PYNQ_MNIST_CACHE``, else ``$XDG_CACHE_HOME/pynq-mnist``, else ``~/.cache/pynq-mnist``."""
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pynq-mnist"
