"""Does an overlay fit the board: the checks before pynq downloads (board/fit.py)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from pynq_mnist.board.fit import check_handoff, read_handoff
from pynq_mnist.errors import ConfigError
from pynq_mnist.hardware import hwh
from pynq_mnist.hardware.boards import ZYNQ7000, ZYNQMP

ZYNQ_BOARD = SimpleNamespace(arch="armv7l")
ZYNQMP_BOARD = SimpleNamespace(arch="aarch64")


def _edited(tmp_path: Path, source: Path, **params: str) -> Path:
    """A copy of ``source`` with PS parameters set to new values."""
    text = source.read_text(encoding="utf-8")
    for name, value in params.items():
        text, count = re.subn(
            rf'(<PARAMETER NAME="{name}" VALUE=")[^"]*(")', rf"\g<1>{value}\g<2>", text
        )
        assert count >= 1, name
    path = tmp_path / "edited.hwh"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_the_ps_of_the_reference_design() -> None:
    handoff = read_handoff(hwh.REFERENCE_PATH)
    assert (handoff.arch, handoff.device, handoff.family) == ("zynq", "7z020", ZYNQ7000)
    assert handoff.ps_parameters["PCW_FCLK0_PERIPHERAL_DIVISOR0"] == "5"
    assert handoff.describe() == "a Zynq-7000 design (7z020)"


def test_a_zynq7000_design_runs_on_a_zynq7000_board() -> None:
    check_handoff(read_handoff(hwh.REFERENCE_PATH), ZYNQ_BOARD)


def test_a_zynq7000_design_on_an_ultrascale_board_is_refused_before_download() -> None:
    with pytest.raises(ConfigError) as info:
        check_handoff(read_handoff(hwh.REFERENCE_PATH), ZYNQMP_BOARD)
    assert str(info.value) == (
        f"{hwh.REFERENCE_PATH} is a Zynq-7000 design (7z020), but this board is a "
        "Zynq UltraScale+ (aarch64): use the overlay built for this board "
        "(KV260, ZCU104, Ultra96V2; make -C overlay BOARD=...)"
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"PCW_FCLK0_PERIPHERAL_DIVISOR0": "64"}, "PCW_FCLK0_PERIPHERAL_DIVISOR0=64: the PS "
         "cannot set this PL clock (divisors are 1..63)"),
        ({"PCW_FCLK0_PERIPHERAL_DIVISOR1": "0"}, "PCW_FCLK0_PERIPHERAL_DIVISOR1=0: the PS "
         "cannot set this PL clock (divisors are 1..63)"),
        ({"PCW_FPGA_FCLK0_ENABLE": "0"}, "PL clock 0 is not enabled: the design has no clock"),
        ({"PCW_FPGA0_PERIPHERAL_FREQMHZ": "300"}, "PL clock 0 at 300 MHz: Zynq-7000 PL clocks "
         "go up to 250 MHz"),
        ({"PCW_FPGA0_PERIPHERAL_FREQMHZ": "fast"}, "PCW_FPGA0_PERIPHERAL_FREQMHZ=fast is not "
         "a frequency"),
    ],
)  # fmt: skip
def test_a_clock_the_ps_cannot_set_is_one_clear_error(
    tmp_path: Path, params: dict[str, str], message: str
) -> None:
    path = _edited(tmp_path, hwh.REFERENCE_PATH, **params)
    with pytest.raises(ConfigError) as info:
        check_handoff(read_handoff(path), ZYNQ_BOARD)
    assert str(info.value) == f"{path}: {message}"


def test_a_design_without_a_known_ps_is_refused(tmp_path: Path) -> None:
    text = hwh.REFERENCE_PATH.read_text(encoding="utf-8")
    path = tmp_path / "other.hwh"
    path.write_text(
        text.replace('MODTYPE="processing_system7"', 'MODTYPE="versal_cips"').replace(
            'ARCH="zynq"', 'ARCH="versal"'
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        check_handoff(read_handoff(path), ZYNQ_BOARD)
    assert str(info.value) == (
        f"{path}: no Zynq-7000 or Zynq UltraScale+ PS in this design (ARCH=versal)"
    )


@pytest.mark.parametrize("content", ["", "<EDKSYSTEM/>", "not xml"])
def test_an_unreadable_handoff_is_one_line(tmp_path: Path, content: str) -> None:
    path = tmp_path / "broken.hwh"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read_handoff(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


def test_families_are_told_apart_by_machine() -> None:
    assert (ZYNQ7000.machine, ZYNQMP.machine) == ("armv7l", "aarch64")


# --- Zynq UltraScale+ ---------------------------------------------------------------


def test_an_ultrascale_design_runs_only_on_an_ultrascale_board() -> None:
    handoff = read_handoff(hwh.REFERENCE_ZYNQMP_PATH)
    assert (handoff.arch, handoff.device, handoff.family) == ("zynquplus", "xck26", ZYNQMP)
    check_handoff(handoff, ZYNQMP_BOARD)
    with pytest.raises(ConfigError) as info:
        check_handoff(handoff, ZYNQ_BOARD)
    assert str(info.value) == (
        f"{hwh.REFERENCE_ZYNQMP_PATH} is a Zynq UltraScale+ design (xck26), but this board is "
        "a Zynq-7000 (armv7l): use the overlay built for this board (Pynq-Z1, Pynq-Z2; "
        "make -C overlay BOARD=...)"
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"C_SAXIGP2_DATA_WIDTH": "256"}, "C_SAXIGP2_DATA_WIDTH=256 is not a width pynq can "
         "set on the PS (32/64/128 bits)"),
        ({"C_MAXIGP0_DATA_WIDTH": "16"}, "C_MAXIGP0_DATA_WIDTH=16 is not a width pynq can set "
         "on the PS (32/64/128 bits)"),
        ({"PSU__CRL_APB__PL0_REF_CTRL__DIVISOR0": "0"}, "PSU__CRL_APB__PL0_REF_CTRL__DIVISOR0=0: "
         "the PS cannot set this PL clock (divisors are 1..63)"),
        ({"PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ": "400"}, "PL clock 0 at 400 MHz: Zynq "
         "UltraScale+ PL clocks go up to 333 MHz"),
        ({"PSU__FPGA_PL0_ENABLE": "0"}, "PL clock 0 is not enabled: the design has no clock"),
    ],
)  # fmt: skip
def test_an_ultrascale_width_or_clock_the_ps_cannot_set_is_one_clear_error(
    tmp_path: Path, params: dict[str, str], message: str
) -> None:
    path = _edited(tmp_path, hwh.REFERENCE_ZYNQMP_PATH, **params)
    with pytest.raises(ConfigError) as info:
        check_handoff(read_handoff(path), ZYNQMP_BOARD)
    assert str(info.value) == f"{path}: {message}"


@pytest.mark.sim
@pytest.mark.parametrize(
    ("design_board", "device_board"), [("pynq-z2", "kv260"), ("kv260", "pynq-z2")]
)
def test_mnist_overlay_refuses_the_other_family_before_download(
    design_board: str, device_board: str
) -> None:
    from pynq_mnist.board.overlay import MnistOverlay
    from pynq_mnist.hardware.design import BlockDesign
    from pynq_mnist.sim.bitstream import standin_bitstream
    from pynq_mnist.sim.device import VirtualDevice

    bit = standin_bitstream(BlockDesign(board=design_board))
    with VirtualDevice(board=device_board) as device:
        downloads = []
        device.download = lambda *args, **kwargs: downloads.append(args)  # type: ignore[method-assign]
        with pytest.raises(ConfigError, match=r"design \(.*\), but this board is a ") as info:
            MnistOverlay(bit, device=device)
        assert downloads == []
        assert "\n" not in str(info.value)


@pytest.mark.sim
def test_a_buffer_beyond_the_dmas_addresses_is_refused_before_any_transfer() -> None:
    """A KV260 design whose DMA has 32-bit addresses, with buffers in DDR_HIGH."""
    import numpy as np

    from pynq_mnist.backends.sim import SimBackend
    from pynq_mnist.model import load_model

    with SimBackend(board="kv260", dma_parameters={"c_addr_width": "32"}) as backend:
        backend.load(load_model())
        mm2s_before = dict(backend.device.dma.addresses or {})
        with pytest.raises(ConfigError) as info:
            backend.infer(np.zeros((3, 784), np.uint8))
        src = backend.accel._buffers.src
        assert str(info.value) == (
            f"DMA buffer at physical {src.physical_address:#x} (2352 bytes) is beyond the AXI "
            "DMA's 32-bit addresses (c_addr_width): allocate it below that, or use an overlay "
            "whose DMA has 64-bit addresses"
        )
        assert src.physical_address >= 1 << 32
        assert dict(backend.device.dma.addresses or {}) == mm2s_before  # nothing started
