"""The PYNQ-Z2 block design build.tcl creates under the stubs: DMA parameters, the PS7,
board files, and agreement with the virtual board's ``description()`` (every board's
cells, wiring and addresses: test_boards_design.py).

Pin and address-segment names of the Xilinx IP are checked against the product
guides (PG021, PG082, PG059, PG247, PG164, xlconcat) by the stub's catalog.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import test_boards_design
from vivado_stub import StubRun, hex_int, run_build

from pynq_mnist.hardware import regmap
from pynq_mnist.hardware import tcl as gen_config

if TYPE_CHECKING:
    from pynq_mnist.sim.device import VirtualDevice


def test_stub_build_dma_parameters(z2_build: StubRun) -> None:
    cells = dict((name, vlnv) for name, vlnv in z2_build.of("create_bd_cell"))
    assert cells[regmap.DMA_INSTANCE] == regmap.DMA_VLNV
    config = {
        k.removeprefix("CONFIG."): v
        for k, v in z2_build.props(regmap.DMA_INSTANCE).items()
        if k.startswith("CONFIG.")
    }
    assert config == regmap.DMA_PARAMETERS
    # c_include_sg=0 is set before (not after) the widths that depend on it.
    order = [k for o, k, _v in z2_build.of("set_property") if o == regmap.DMA_INSTANCE]
    assert order.index("CONFIG.c_include_sg") < order.index("CONFIG.c_sg_length_width")


@pytest.mark.sim
def test_stub_build_matches_virtual_board(z2_build: StubRun, virtual_board: VirtualDevice) -> None:
    ps_data = "processing_system7_0/Data"
    assigned = {
        slave: (hex_int(offset), hex_int(rng))
        for space, slave, offset, rng in z2_build.of("assign_bd_address")
        if space == ps_data
    }
    cells = dict((name, vlnv) for name, vlnv in z2_build.of("create_bd_cell"))
    for name, ctrl in (
        (regmap.ACCEL_INSTANCE, f"{regmap.ACCEL_CTRL_INTERFACE}/reg0"),
        (regmap.DMA_INSTANCE, "S_AXI_LITE/Reg"),
    ):
        desc = virtual_board.description(name)
        assert desc["type"] == cells[name]
        assert assigned[f"{name}/{ctrl}"] == (desc["phys_addr"], desc["addr_range"])
        # hwh MEMRANGE: SLAVEBUSINTERFACE and MEMTYPE (address block usage "register")
        assert desc["mem_id"] == ctrl.split("/")[0]
        assert desc["memtype"] == "REGISTER"
    dma = virtual_board.description(regmap.DMA_INSTANCE)
    config = {
        k.removeprefix("CONFIG."): v
        for k, v in z2_build.props(regmap.DMA_INSTANCE).items()
        if k.startswith("CONFIG.")
    }
    assert {k: dma["parameters"][k] for k in config} == config
    # The .hwh names the accelerator's parameter after the IP user parameter.
    accel = virtual_board.description(regmap.ACCEL_INSTANCE)
    assert accel["parameters"].get("NUM_BANKS") == str(virtual_board.num_banks), (
        f"virtual board parameters {accel['parameters']} lack NUM_BANKS, the name the "
        "packaged IP (and so the .hwh) uses and the driver reads"
    )


def test_stub_build_ps7(z2_build: StubRun) -> None:
    ps = z2_build.props("processing_system7_0")
    assert float(ps["CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ"]) == regmap.FCLK_MHZ
    for key in ("PCW_USE_M_AXI_GP0", "PCW_USE_S_AXI_HP0", "PCW_FPGA_FCLK0_ENABLE"):
        assert ps[f"CONFIG.{key}"] == "1", key
    assert "CONFIG.PCW_USE_FABRIC_INTERRUPT" not in ps  # no IRQ_F2P port: nothing to wire
    # No board files given: fallback preset, board preset not applied.
    assert ps["CONFIG.PCW_CRYSTAL_PERIPHERAL_FREQMHZ"] == "50"
    auto = {k: v for _rule, _cell, k, v in z2_build.of("apply_bd_automation")}
    assert auto["apply_board_preset"] == "0"
    assert "BOARD_PART" not in z2_build.props("project")
    assert z2_build.props("project")["IP_REPO_PATHS"].endswith("ip_repo")


def test_stub_build_with_board_files(tmp_path: Path) -> None:
    part = "tul.com.tw:pynq-z2:part0:1.0"
    run = run_build(tmp_path, board_parts=("www.digilentinc.com:pynq-z1:part0:1.0", part))
    assert run.returncode == 0, run.error
    assert run.props("project")["BOARD_PART"] == part
    auto = {k: v for _rule, _cell, k, v in run.of("apply_bd_automation")}
    assert auto["apply_board_preset"] == "1"
    assert "CONFIG.PCW_CRYSTAL_PERIPHERAL_FREQMHZ" not in run.props("processing_system7_0")
    # The FCLK/port overrides come after the preset, which would reset them.
    order = [c[0] for c in run.calls]
    last_auto = max(i for i, c in enumerate(order) if c == "apply_bd_automation")
    fclk = [
        i
        for i, c in enumerate(run.calls)
        if c[:3] == ["set_property", "processing_system7_0", "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ"]
    ]
    assert fclk and min(fclk) > last_auto


def test_stub_build_outputs_side_by_side(z2_build: StubRun) -> None:
    assert (z2_build.out_dir / "mnist.bit").read_bytes() == b"fake bit"
    assert (z2_build.out_dir / "mnist.hwh").read_text() == "<fake hwh/>"
    order = [c[0] for c in z2_build.calls]
    assert order.index("validate_bd_design") < order.index("generate_target")
    launches = z2_build.of("launch_runs")
    assert launches[-1][:3] == ["impl_1", "-to_step", "write_bitstream"]
    assert launches[-1][launches[-1].index("-jobs") + 1] == "2"


def test_stub_checks_can_fail(tmp_path: Path) -> None:
    """A config.tcl that drifts from regmap yields a design the checks reject."""
    drifted = tmp_path / "config.tcl"
    drifted.write_text(
        gen_config.render()
        .replace(f"0x{regmap.DMA_BASE:08X}", "0x40410000")
        .replace("c_sg_length_width 26", "c_sg_length_width 23")
    )
    run = run_build(tmp_path / "run", config=drifted)
    assert run.returncode == 0, run.error
    with pytest.raises(AssertionError):
        test_boards_design.test_addresses({"pynq-z2": run}, "pynq-z2")
    with pytest.raises(AssertionError):
        test_stub_build_dma_parameters(run)
    # A misspelt Xilinx pin is caught by the stub pin catalog.
    typo = run_build(tmp_path / "typo", patch=("bd.tcl", "m_axi_s2mm_aclk", "m_axi_s2m_aclk"))
    assert typo.returncode == 1
    assert "has no pin 'm_axi_s2m_aclk'" in typo.error
