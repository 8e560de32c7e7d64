"""The virtual board's stand-in bitstream: a ``.hwh`` and a placeholder ``.bit`` beside it.

:func:`standin_bitstream` writes the generated ``.hwh`` of a block design with
a ``.bit`` that has a valid Xilinx bit header around a payload naming the
``.hwh``'s digest, into the user cache, for the virtual board to "download".
A real FPGA rejects the payload; the virtual board checks the digest, so
neither a real bitstream nor a stale pair can be "programmed".
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from pathlib import Path

from ..cache import cache_root
from ..hardware import hwh
from ..hardware.design import BlockDesign

__all__ = [
    "STANDIN_MAGIC",
    "overlay_cache_root",
    "standin_bit",
    "standin_bitstream",
    "standin_digest",
]

STANDIN_MAGIC = b"PYNQ-MNIST VIRTUAL BOARD STAND-IN BITSTREAM, NOT FOR AN FPGA\n"


def standin_digest(hwh_text: str) -> str:
    """The digest a stand-in .bit carries of the .hwh it was written with."""
    return hashlib.sha256(hwh_text.encode("utf-8")).hexdigest()


def _bit_field(key: bytes, text: str) -> bytes:
    data = text.encode("ascii") + b"\0"
    return key + struct.pack(">H", len(data)) + data


def standin_bit(design: BlockDesign, hwh_text: str) -> bytes:
    """A .bit file: Xilinx header fields a-e around a payload naming the .hwh's digest."""
    payload = STANDIN_MAGIC + standin_digest(hwh_text).encode("ascii") + b"\n"
    payload += b"\0" * (-len(payload) % 4)
    device, package, _ = design.platform.systeminfo
    header = struct.pack(">H", 9) + bytes.fromhex("0ff00ff00ff00ff000") + struct.pack(">H", 1)
    header += _bit_field(b"a", f"{design.name};UserID=0XFFFFFFFF;Version={design.vivado_version}")
    header += _bit_field(b"b", f"{device}{package}")
    header += _bit_field(b"c", "1970/01/01")
    header += _bit_field(b"d", "00:00:00")
    return header + b"e" + struct.pack(">I", len(payload)) + payload


def overlay_cache_root() -> Path:
    """``overlays/`` in the package's one cache directory (:func:`pynq_mnist.cache.cache_root`)."""
    return cache_root() / "overlays"


def standin_bitstream(design: BlockDesign | None = None) -> Path:
    """Write (once) ``<cache>/overlays/<digest>/<name>.{hwh,bit}``; return the .bit path.

    The directory is named by the .hwh's digest, so concurrent processes and
    repeated calls share one pair and never see a half-written file.
    """
    design = design or BlockDesign()
    text = hwh.render(design)
    directory = overlay_cache_root() / standin_digest(text)[:20]
    bit = directory / f"{design.name}.bit"
    if bit.is_file():
        return bit
    directory.mkdir(parents=True, exist_ok=True)
    for path, data in (
        (bit.with_suffix(".hwh"), text.encode("utf-8")),
        (bit, standin_bit(design, text)),
    ):
        with tempfile.NamedTemporaryFile(dir=directory, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)
    return bit
