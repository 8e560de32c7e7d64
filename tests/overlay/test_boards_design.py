"""The block design of every board under the stubs: the PS of its family, its
wiring, PS configuration, addresses, DMA build and board files.

The expected names are boards.py's (family.ps_instance, ctrl_master, ...);
the addresses and widths are written out as UG585/UG1085 state them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tcl_tools import OVERLAY, brace, tclsh
from vivado_stub import BOARD_KEYS, StubRun, hex_int, run_build

from pynq_mnist.hardware import boards, design, regmap

ZYNQMP_BOARDS = ("kv260", "zcu104", "ultra96v2")
GIB = 1 << 30
# (space, slave segment) -> (offset, range) of each board: UG585 (GP0, HP0
# 512 MiB), UG1085 (HPM0_FPD at 0xA000_0000, DDR_LOW 2 GiB, DDR_HIGH at 32 GiB).
PS7_ADDRESSES = {
    ("processing_system7_0/Data", "mnist_accel/s_axi_ctrl/reg0"): (0x43C0_0000, 0x4_0000),
    ("processing_system7_0/Data", "axi_dma/S_AXI_LITE/Reg"): (0x4040_0000, 0x1_0000),
    ("axi_dma/Data_MM2S", "processing_system7_0/S_AXI_HP0/HP0_DDR_LOWOCM"): (0, 512 << 20),
    ("axi_dma/Data_S2MM", "processing_system7_0/S_AXI_HP0/HP0_DDR_LOWOCM"): (0, 512 << 20),
}
ZYNQMP_ADDRESSES = {
    ("zynq_ultra_ps_e_0/Data", "mnist_accel/s_axi_ctrl/reg0"): (0xA000_0000, 0x4_0000),
    ("zynq_ultra_ps_e_0/Data", "axi_dma/S_AXI_LITE/Reg"): (0xA004_0000, 0x1_0000),
    ("axi_dma/Data_MM2S", "zynq_ultra_ps_e_0/SAXIGP2/HP0_DDR_LOW"): (0, 2 * GIB),
    ("axi_dma/Data_S2MM", "zynq_ultra_ps_e_0/SAXIGP2/HP0_DDR_LOW"): (0, 2 * GIB),
}
DDR_HIGH = {
    ("axi_dma/Data_MM2S", "zynq_ultra_ps_e_0/SAXIGP2/HP0_DDR_HIGH"): (0x8_0000_0000, 2 * GIB),
    ("axi_dma/Data_S2MM", "zynq_ultra_ps_e_0/SAXIGP2/HP0_DDR_HIGH"): (0x8_0000_0000, 2 * GIB),
}
ADDRESSES = {
    "pynq-z1": PS7_ADDRESSES,
    "pynq-z2": PS7_ADDRESSES,
    "kv260": {**ZYNQMP_ADDRESSES, **DDR_HIGH},  # 4 GiB: 2 low, 2 high
    "zcu104": ZYNQMP_ADDRESSES,
    "ultra96v2": ZYNQMP_ADDRESSES,
}
# The PS's configuration for the PL side after the preset: (PCW_*/PSU__* key, value).
PS7_SETTINGS = {
    "PCW_USE_M_AXI_GP0": "1",
    "PCW_USE_S_AXI_HP0": "1",
    "PCW_S_AXI_HP0_DATA_WIDTH": "64",
    "PCW_FPGA_FCLK0_ENABLE": "1",
    "PCW_FCLK0_PERIPHERAL_CLKSRC": "IO PLL",
    "PCW_FPGA0_PERIPHERAL_FREQMHZ": "100",
}
ZYNQMP_SETTINGS = {
    "PSU__USE__M_AXI_GP0": "1",  # M_AXI_HPM0_FPD
    "PSU__USE__M_AXI_GP1": "0",  # M_AXI_HPM1_FPD
    "PSU__USE__M_AXI_GP2": "0",  # M_AXI_HPM0_LPD
    "PSU__USE__IRQ0": "0",  # pl_ps_irq0: no interrupt is wired
    "PSU__USE__IRQ1": "0",
    "PSU__USE__S_AXI_GP2": "1",  # S_AXI_HP0_FPD
    "PSU__SAXIGP2__DATA_WIDTH": "128",
    "PSU__FPGA_PL0_ENABLE": "1",
    "PSU__CRL_APB__PL0_REF_CTRL__SRCSEL": "IOPLL",
    "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ": "150",
}


def _family(key: str) -> boards.PsFamily:
    return boards.BOARDS[key].family


def _config(run: StubRun, cell: str) -> dict[str, str]:
    return {k.removeprefix("CONFIG."): v for k, v in run.props(cell).items()}


@pytest.mark.parametrize("key", BOARD_KEYS)
def test_cells(board_builds: dict[str, StubRun], key: str) -> None:
    family = _family(key)
    cells = dict(board_builds[key].of("create_bd_cell"))
    assert cells == {
        family.ps_instance: family.ps_vlnv,
        family.reset_instance: "xilinx.com:ip:proc_sys_reset:5.0",
        "ps7_axi_periph": "xilinx.com:ip:axi_interconnect:2.1",
        "axi_mem_smc": "xilinx.com:ip:smartconnect:1.0",
        regmap.DMA_INSTANCE: regmap.DMA_VLNV,
        regmap.ACCEL_INSTANCE: regmap.VLNV,
    }
    expected_ps = {"kv260": "zynq_ultra_ps_e_0", "pynq-z1": "processing_system7_0"}
    assert family.ps_instance == expected_ps.get(key, family.ps_instance)


@pytest.mark.parametrize("key", BOARD_KEYS)
def test_wiring(board_builds: dict[str, StubRun], key: str) -> None:
    f = _family(key)
    run = board_builds[key]
    ps, rst, dma, acc = f.ps_instance, f.reset_instance, regmap.DMA_INSTANCE, regmap.ACCEL_INSTANCE
    assert {tuple(c) for c in run.of("connect_bd_intf_net")} == {
        (f"{ps}/{f.ctrl_master}", "ps7_axi_periph/S00_AXI"),
        ("ps7_axi_periph/M00_AXI", f"{acc}/s_axi_ctrl"),
        ("ps7_axi_periph/M01_AXI", f"{dma}/S_AXI_LITE"),
        (f"{dma}/M_AXI_MM2S", "axi_mem_smc/S00_AXI"),
        (f"{dma}/M_AXI_S2MM", "axi_mem_smc/S01_AXI"),
        ("axi_mem_smc/M00_AXI", f"{ps}/{f.mem_slave}"),
        (f"{dma}/M_AXIS_MM2S", f"{acc}/s_axis"),
        (f"{acc}/m_axis", f"{dma}/S_AXIS_S2MM"),
    }
    nets = {c[0]: set(c[1:]) for c in run.of("connect_bd_net")}
    assert nets == {
        f"{ps}/{f.pl_clock}": {
            f"{ps}/{f.ctrl_master_clock}",
            f"{ps}/{f.mem_slave_clock}",
            f"{rst}/slowest_sync_clk",
            *(f"ps7_axi_periph/{p}" for p in ("ACLK", "S00_ACLK", "M00_ACLK", "M01_ACLK")),
            "axi_mem_smc/aclk",
            *(f"{dma}/{p}" for p in ("s_axi_lite_aclk", "m_axi_mm2s_aclk", "m_axi_s2mm_aclk")),
            f"{acc}/aclk",
        },
        f"{ps}/{f.pl_reset}": {f"{rst}/ext_reset_in"},
        f"{rst}/interconnect_aresetn": {"ps7_axi_periph/ARESETN"},
        f"{rst}/peripheral_aresetn": {
            *(f"ps7_axi_periph/{p}" for p in ("S00_ARESETN", "M00_ARESETN", "M01_ARESETN")),
            "axi_mem_smc/aresetn",
            f"{dma}/axi_resetn",
            f"{acc}/aresetn",
        },
    }


@pytest.mark.parametrize("key", BOARD_KEYS)
def test_addresses(board_builds: dict[str, StubRun], key: str) -> None:
    assigned = {
        (space, slave): (hex_int(offset), hex_int(rng))
        for space, slave, offset, rng in board_builds[key].of("assign_bd_address")
    }
    assert assigned == ADDRESSES[key]


@pytest.mark.parametrize("key", BOARD_KEYS)
def test_ps_configuration(board_builds: dict[str, StubRun], key: str) -> None:
    ps = _config(board_builds[key], _family(key).ps_instance)
    expected = PS7_SETTINGS if key.startswith("pynq") else ZYNQMP_SETTINGS
    assert {k: ps[k] for k in expected} == expected
    # Nothing of the PL side beyond the fallback preset and these settings.
    pl_side = {
        k for k in ps if re.match(r"PCW_(USE|S_AXI|M_AXI|FPGA|FCLK)|PSU__(USE|SAXI|M|FPGA|CRL)", k)
    }
    assert pl_side == set(expected)


@pytest.mark.parametrize("key", BOARD_KEYS)
def test_dma_build(board_builds: dict[str, StubRun], key: str) -> None:
    dma = _config(board_builds[key], regmap.DMA_INSTANCE)
    assert dma == design.BlockDesign(board=key).dma_config
    assert dma["c_addr_width"] == ("32" if key.startswith("pynq") else "64")


def test_zynqmp_hp_width_and_pl_clock_options(tmp_path: Path) -> None:
    run = run_build(tmp_path, {"board": "kv260", "hp_width": "32", "fclk_mhz": "100"})
    assert run.returncode == 0, run.error
    ps = _config(run, "zynq_ultra_ps_e_0")
    assert ps["PSU__SAXIGP2__DATA_WIDTH"] == "32"
    assert ps["PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"] == "100"
    # The ZCU104 base.hwh's PL0: 100 MHz = IOPLL / 15 / 1 = 99.999000 MHz.
    assert "PL clock: IOPLL (1499.985 MHz) / 15 / 1 = 99.999000 MHz" in run.stdout


@pytest.mark.parametrize("key", BOARD_KEYS)
def test_part(tmp_path: Path, key: str) -> None:
    run = run_build(tmp_path, {"board": key, "step": "bd"})
    assert run.returncode == 0, run.error
    (project,) = [c for c in run.of("create_project") if c[1] == "mnist"]
    part = {
        "pynq-z1": "xc7z020clg400-1",
        "pynq-z2": "xc7z020clg400-1",
        "kv260": "xck26-sfvc784-2LV-c",
        "zcu104": "xczu7ev-ffvc1156-2-e",
        "ultra96v2": "xczu3eg-sbva484-1-e",
    }[key]
    assert project[-1] == part
    (packaging,) = [c for c in run.of("create_project") if c[1] == "mnist_ip_pkg"]
    assert packaging[-1] == part


# --- board files ---------------------------------------------------------------


@pytest.mark.parametrize("key", ZYNQMP_BOARDS)
def test_zynqmp_fallback_without_board_files(board_builds: dict[str, StubRun], key: str) -> None:
    run = board_builds[key]
    assert not run.of("apply_bd_automation"), "the ZynqMP rule has nothing to do without a preset"
    assert "BOARD_PART" not in run.props("project")
    assert _config(run, "zynq_ultra_ps_e_0")["PSU__PSS_REF_CLK__FREQMHZ"] == "33.333"
    part = boards.BOARDS[key].part
    assert re.findall(r"^INFO: \[mnist\] board part used: .*$", run.stdout, re.M) == [
        f"INFO: [mnist] board part used: none (part {part}, zynq_ultra_ps_e fallback preset)"
    ]


BOARD_PARTS = {
    "kv260": "xilinx.com:kv260_som:part0:1.4",
    "zcu104": "xilinx.com:zcu104:part0:1.1",
    "ultra96v2": "avnet.com:ultra96v2:part0:1.2",
}


@pytest.mark.parametrize("key", ZYNQMP_BOARDS)
def test_zynqmp_board_preset(tmp_path: Path, key: str) -> None:
    installed = (*BOARD_PARTS.values(), "xilinx.com:kv260_som:part0:1.3")
    run = run_build(tmp_path, {"board": key, "require_board_files": "1"}, board_parts=installed)
    assert run.returncode == 0, run.error
    assert run.props("project")["BOARD_PART"] == BOARD_PARTS[key]  # the newest
    assert run.of("apply_bd_automation") == [
        ["xilinx.com:bd_rule:zynq_ultra_ps_e", "zynq_ultra_ps_e_0", "apply_board_preset", "1"]
    ]
    assert "CONFIG.PSU__PSS_REF_CLK__FREQMHZ" not in run.props("zynq_ultra_ps_e_0")
    # The PL-side settings come after the preset, which would reset them.
    order = [c[0] for c in run.calls]
    preset = order.index("apply_bd_automation")
    settings = [
        i for i, c in enumerate(run.calls) if c[:2] == ["set_property", "zynq_ultra_ps_e_0"]
    ]
    assert settings and min(settings) > preset
    assert (
        f"INFO: [mnist] board part used: {BOARD_PARTS[key]} (zynq_ultra_ps_e from the board preset)"
        in run.stdout
    )


@pytest.mark.parametrize("key", ZYNQMP_BOARDS)
def test_zynqmp_require_board_files(tmp_path: Path, key: str) -> None:
    other = tuple(p for k, p in BOARD_PARTS.items() if k != key)
    run = run_build(tmp_path, {"board": key, "require_board_files": "1"}, board_parts=other)
    assert run.returncode == 1
    pattern = boards.BOARDS[key].board_part
    assert f"no board files for {key} ({pattern})" in run.error
    assert "REQUIRE_BOARD_FILES=1 to build with the zynq_ultra_ps_e fallback preset" in run.error
    assert not run.of("ipx::package_project"), "checked before any work"


# --- the PL clock's divisors: the Tcl rule is design.fclk_divisors ------------------


def _tcl_divisors(board: str, frequencies: list[float]) -> list[str]:
    result = tclsh(
        f"""
        source {brace(OVERLAY / "config.tcl")}
        proc mnist::msg {{level text}} {{}}
        source {brace(OVERLAY / "bd.tcl")}
        foreach mhz {{{" ".join(map(str, frequencies))}}} {{
            if {{[catch {{mnist::pl_clock_divisors {board} $mhz}} result]}} {{
                puts "error"
            }} else {{
                puts [lrange $result 0 1]
            }}
        }}
        """
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("key", ["pynq-z2", "kv260"])
def test_pl_clock_divisors_equal_design_py(key: str) -> None:
    family = _family(key)
    # The PLL over every divisor product (rounded as a user types them), a grid between.
    frequencies = [round(family.pll_mhz / n, 4) for n in range(3, 300)]
    frequencies += [f / 4 for f in range(4, int(family.max_fclk_mhz) * 4 + 1, 7)]
    frequencies += [100, 125, 142.857142, 149.9985, 150, 187.5, 200, 250, 300, 333]
    expected = []
    for mhz in frequencies:
        try:
            expected.append("{} {}".format(*design.fclk_divisors(mhz, family)))
        except ValueError:
            expected.append("error")
    assert _tcl_divisors(key, frequencies) == expected
    assert expected.count("error") > 100 and len(set(expected)) > 200


def test_missing_ddr_segment_is_a_clear_error(tmp_path: Path) -> None:
    """A PS whose DDR configuration has no DDR_HIGH (the KV260's upper 2 GiB) stops the build."""
    run = run_build(tmp_path, {"board": "kv260"}, missing_segments=("SAXIGP2/HP0_DDR_HIGH",))
    assert run.returncode == 1
    assert run.error == (
        "zynq_ultra_ps_e has no address segment zynq_ultra_ps_e_0/SAXIGP2/HP0_DDR_HIGH for "
        "axi_dma/Data_MM2S (its DDR configuration lacks it): build with the board files of kv260"
    )
    assert not run.of("validate_bd_design")


def test_ps_version_missing_from_the_ip_catalog(tmp_path: Path) -> None:
    """A Vivado whose catalog has another zynq_ultra_ps_e version stops before any cell."""
    run = run_build(
        tmp_path,
        {"board": "zcu104"},
        version="2022.1",
        missing_ipdefs=("xilinx.com:ip:zynq_ultra_ps_e:3.5",),
        other_ipdefs=("xilinx.com:ip:zynq_ultra_ps_e:3.4",),
    )
    assert run.returncode == 1
    assert run.error == (
        "Vivado 2022.1 has no xilinx.com:ip:zynq_ultra_ps_e:3.5 in its IP catalog "
        "(it has: xilinx.com:ip:zynq_ultra_ps_e:3.4)"
    )
    assert not run.of("create_bd_cell")
