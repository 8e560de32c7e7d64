"""The block design build.tcl makes under the stubs is the one ``netlist.cells`` describes
(and so the one the generated .hwh and the virtual board describe), for every board.

Cells and VLNVs, every bus-interface connection, every clock/reset net, the DMA,
accelerator and interconnect parameters, the PS settings both state, and the PL
clock divisors. This replaces reading bd.tcl's text: the stub run is what Vivado
would be asked to build.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from vivado_stub import BOARD_KEYS, StubRun, run_build

from pynq_mnist.hardware import boards, netlist, regmap
from pynq_mnist.hardware.design import BlockDesign

# Vivado's names of the PL clock's divisors in the PS parameters (.hwh): PCW_*
# (PYNQ-Z2 base.hwh), PSU__* (ZCU104 base.hwh, both in the pynq 3.0.1 sdist).
DIVISOR_PARAMETERS = {
    "zynq": ("PCW_FCLK0_PERIPHERAL_DIVISOR0", "PCW_FCLK0_PERIPHERAL_DIVISOR1"),
    "zynqmp": ("PSU__CRL_APB__PL0_REF_CTRL__DIVISOR0", "PSU__CRL_APB__PL0_REF_CTRL__DIVISOR1"),
}
# The PS settings that must be in both: the PL clock and the HP port's width.
SHARED_PS_SETTINGS = {
    "zynq": {"PCW_FPGA0_PERIPHERAL_FREQMHZ", "PCW_S_AXI_HP0_DATA_WIDTH"},
    "zynqmp": {"PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ", "PSU__SAXIGP2__DATA_WIDTH"},
}


def _netlist(design: BlockDesign) -> dict[str, netlist.Cell]:
    """netlist.cells of ``design``, which has one cell of the board's PS."""
    cells = netlist.cells(design)
    assert [c.vlnv for c in cells.values()].count(design.family.ps_vlnv) == 1
    return cells


def _interface_pairs(cells: dict[str, netlist.Cell]) -> set[tuple[str, str]]:
    buses: dict[str, list[tuple[str, str]]] = {}
    for cell in cells.values():
        for name, bus in cell.interfaces.items():
            if bus.busname != "__NOC__":
                buses.setdefault(bus.busname, []).append((bus.kind, f"{cell.path}/{name}"))
    pairs = set()
    for ends in buses.values():
        (master,) = [p for kind, p in ends if kind in ("MASTER", "INITIATOR")]
        (slave,) = [p for kind, p in ends if kind in ("SLAVE", "TARGET")]
        pairs.add((master, slave))
    return pairs


def _scalar_nets(cells: dict[str, netlist.Cell]) -> dict[str, set[str]]:
    nets = {}
    for cell in cells.values():
        in_buses = {phys for bus in cell.interfaces.values() for _, phys in bus.portmap}
        for name, port in cell.ports.items():
            if name not in in_buses and port.direction == "O" and port.peers:
                nets[f"{cell.path}/{name}"] = {f"{inst}/{pin}" for inst, pin in port.peers}
    return nets


def _config(run: StubRun, cell: str) -> dict[str, str]:
    return {k.removeprefix("CONFIG."): v for k, v in run.props(cell).items()}


@pytest.mark.parametrize("key", BOARD_KEYS)
def test_cells_and_nets_agree(board_builds: dict[str, StubRun], key: str) -> None:
    cells = _netlist(BlockDesign(board=key))
    run = board_builds[key]
    assert dict(run.of("create_bd_cell")) == {c.path: c.vlnv for c in cells.values()}
    assert {tuple(c) for c in run.of("connect_bd_intf_net")} == _interface_pairs(cells)
    assert {c[0]: set(c[1:]) for c in run.of("connect_bd_net")} == _scalar_nets(cells)


@pytest.mark.parametrize("key", BOARD_KEYS)
def test_parameters_agree(board_builds: dict[str, StubRun], key: str) -> None:
    cells = _netlist(BlockDesign(board=key))
    run = board_builds[key]
    for role in ("dma", "accel", "ctrl_ic", "mem_ic"):
        config = _config(run, cells[role].path)
        assert config, role
        assert config == {k: cells[role].parameters.get(k) for k in config}, role
    family = boards.BOARDS[key].family
    ps_cell = next(c for c in cells.values() if c.vlnv == family.ps_vlnv)
    ps = _config(run, ps_cell.path)
    shared = set(ps) & set(ps_cell.parameters)
    assert shared >= SHARED_PS_SETTINGS[family.name]
    assert {k: ps[k] for k in shared} == {k: ps_cell.parameters[k] for k in shared}
    (line,) = re.findall(r"PL clock: .* / (\d+) / (\d+) = ", run.stdout)
    assert line == tuple(ps_cell.parameters[k] for k in DIVISOR_PARAMETERS[family.name])


def test_agreement_checks_can_fail(tmp_path: Path) -> None:
    unclocked = run_build(
        tmp_path / "clock",
        patch=("bd.tcl", "$dma/m_axi_s2mm_aclk \\\n        $acc/aclk]", "$dma/m_axi_s2mm_aclk]"),
    )
    assert unclocked.returncode == 0, unclocked.error
    with pytest.raises(AssertionError):
        test_cells_and_nets_agree({"pynq-z2": unclocked}, "pynq-z2")
    narrow = run_build(tmp_path / "width", {"hp_width": "32"})
    assert narrow.returncode == 0, narrow.error
    with pytest.raises(AssertionError):
        test_parameters_agree({"pynq-z2": narrow}, "pynq-z2")


@pytest.mark.parametrize(
    ("key", "options"),
    [
        ("pynq-z1", {"fclk_mhz": "125", "num_banks": "32"}),
        ("ultra96v2", {"fclk_mhz": "187.5", "num_banks": "128", "hp_width": "64"}),
    ],
)
def test_options_agree(tmp_path: Path, key: str, options: dict[str, str]) -> None:
    """FCLK_MHZ, NUM_BANKS and HP_WIDTH reach the design as BlockDesign states them."""
    run = run_build(tmp_path, {"board": key, **options})
    assert run.returncode == 0, run.error
    kwargs = {"fclk_mhz": float(options["fclk_mhz"]), "num_banks": int(options["num_banks"])}
    if "hp_width" in options:
        kwargs["hp_data_width"] = int(options["hp_width"])
    cells = _netlist(BlockDesign(board=key, **kwargs))  # type: ignore[arg-type]
    family = boards.BOARDS[key].family
    ps_cell = next(c for c in cells.values() if c.vlnv == family.ps_vlnv)
    ps = _config(run, ps_cell.path)
    for setting in SHARED_PS_SETTINGS[family.name]:
        assert ps[setting] == ps_cell.parameters[setting], setting
    accel = next(c for c in cells.values() if c.vlnv == regmap.VLNV)
    assert _config(run, accel.path)["NUM_BANKS"] == accel.parameters["NUM_BANKS"]
