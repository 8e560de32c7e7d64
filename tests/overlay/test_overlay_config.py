"""overlay/config.tcl and overlay/README.md against regmap.

``overlay/config.tcl`` is generated from the register map and must not be stale;
read back through ``tclsh`` it must equal regmap, and the address window it
packages must be what the AXI4-Lite port decodes. The README's address map
table states the same bases and ranges.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tcl_tools import OVERLAY, brace, tclsh
from vivado_stub import BOARD_KEYS

from pynq_mnist.hardware import boards, design, regmap

# --- config.tcl: generated, fresh, equal to regmap ---------------------------------


SCALARS = (
    "VLNV",
    "TOP_MODULE",
    "ACCEL_INSTANCE",
    "ACCEL_RANGE",
    "ACCEL_CTRL_INTERFACE",
    "AXIL_ADDR_WIDTH",
    "AXIL_DATA_WIDTH",
    "STREAM_DATA_WIDTH",
    "WEIGHT_WINDOW_OFFSET",
    "NUM_BANKS_DEFAULT",
    "DMA_VLNV",
    "DMA_INSTANCE",
    "DMA_RANGE",
    "BOARD_DEFAULT",
)


def _config_from_tcl(path: Path) -> dict[str, Any]:
    """Source config.tcl in tclsh and return its variables as plain Python values.

    Tcl prints records of \\x1f-separated fields, one per \\x1e.
    """
    script = f"""
        source {brace(path)}
        proc out {{args}} {{ puts -nonewline "[join $args \\x1f]\\x1e" }}
        foreach name {{{" ".join(SCALARS)}}} {{ out S $name [set mnist::$name] }}
        out L NUM_BANKS_SUPPORTED {{*}}$mnist::NUM_BANKS_SUPPORTED
        out L BOARD_KEYS {{*}}$mnist::BOARD_KEYS
        dict for {{board info}} $mnist::BOARDS {{
            dict for {{k v}} $info {{ out B $board $k $v }}
        }}
        dict for {{family info}} $mnist::FAMILIES {{
            dict for {{k v}} $info {{
                if {{$k ne "dma_parameters"}} {{ out P $family $k $v }}
            }}
            foreach {{k v}} [dict get $info dma_parameters] {{ out D $family $k $v }}
        }}
        foreach r $mnist::REGISTERS {{
            lassign $r name offset size access description fields
            out R $name [expr {{$offset}}] $size $access $description
            foreach f $fields {{ out F $name {{*}}$f }}
        }}
    """
    result = tclsh(script)
    assert result.returncode == 0, result.stderr
    cfg: dict[str, Any] = {"DMA_PARAMETERS": {}, "REGISTERS": {}, "BOARDS": {}, "FAMILIES": {}}
    for record in filter(None, result.stdout.split("\x1e")):
        kind, *rest = record.split("\x1f")
        if kind == "S":
            cfg[rest[0]] = rest[1]
        elif kind == "L":
            cfg[rest[0]] = rest[1:]
        elif kind == "D":
            cfg["DMA_PARAMETERS"].setdefault(rest[0], {})[rest[1]] = rest[2]
        elif kind == "B":
            cfg["BOARDS"].setdefault(rest[0], {})[rest[1]] = rest[2]
        elif kind == "P":
            cfg["FAMILIES"].setdefault(rest[0], {})[rest[1]] = rest[2]
        elif kind == "R":
            name, offset, size, access, description = rest
            cfg["REGISTERS"][name] = {
                "address_offset": int(offset),
                "access": access,
                "size": int(size),
                "description": description,
                "fields": {},
            }
        else:
            reg, fname, lsb, width, access, description = rest
            cfg["REGISTERS"][reg]["fields"][fname] = {
                "bit_offset": int(lsb),
                "bit_width": int(width),
                "access": access,
                "description": description,
            }
    return cfg


def test_config_tcl_values_equal_regmap() -> None:
    cfg = _config_from_tcl(OVERLAY / "config.tcl")
    assert cfg["VLNV"] == regmap.VLNV
    assert cfg["ACCEL_INSTANCE"] == regmap.ACCEL_INSTANCE
    assert int(cfg["ACCEL_RANGE"], 16) == regmap.ACCEL_RANGE
    assert cfg["ACCEL_CTRL_INTERFACE"] == regmap.ACCEL_CTRL_INTERFACE
    assert int(cfg["AXIL_ADDR_WIDTH"]) == regmap.AXIL_ADDR_WIDTH
    assert int(cfg["AXIL_DATA_WIDTH"]) == regmap.AXIL_DATA_WIDTH
    assert int(cfg["STREAM_DATA_WIDTH"]) == regmap.STREAM_DATA_WIDTH
    assert int(cfg["WEIGHT_WINDOW_OFFSET"], 16) == regmap.WEIGHT_WINDOW_OFFSET
    assert int(cfg["NUM_BANKS_DEFAULT"]) == regmap.DEFAULT_NUM_BANKS
    assert tuple(int(n) for n in cfg["NUM_BANKS_SUPPORTED"]) == tuple(regmap.SUPPORTED_NUM_BANKS)
    assert cfg["DMA_VLNV"] == regmap.DMA_VLNV
    assert cfg["DMA_INSTANCE"] == regmap.DMA_INSTANCE
    assert int(cfg["DMA_RANGE"], 16) == regmap.DMA_RANGE
    assert cfg["REGISTERS"] == regmap.REGISTERS


def test_config_tcl_boards_equal_boards_py() -> None:
    cfg = _config_from_tcl(OVERLAY / "config.tcl")
    assert cfg["BOARD_DEFAULT"] == boards.DEFAULT_BOARD
    assert tuple(cfg["BOARD_KEYS"]) == BOARD_KEYS
    assert list(cfg["BOARDS"]) == cfg["BOARD_KEYS"]
    for key, board in boards.BOARDS.items():
        tcl = cfg["BOARDS"][key]
        assert (tcl["env_name"], tcl["part"], tcl["board_part"]) == (
            board.env_name,
            board.part,
            board.board_part,
        )
        assert (tcl["family"], float(tcl["fclk_mhz"])) == (board.family.name, board.fclk_mhz)
        memory = [block.split() for block in tcl["memory"].strip("{}").split("} {")]
        assert [(n, int(b, 16), int(s, 16)) for n, b, s in memory] == [
            (m.name, m.base, m.span) for m in board.memory
        ]


def test_config_tcl_families_equal_boards_py() -> None:
    cfg = _config_from_tcl(OVERLAY / "config.tcl")
    assert list(cfg["FAMILIES"]) == ["zynq", "zynqmp"]
    for name, family in boards.FAMILIES.items():
        tcl = cfg["FAMILIES"][name]
        for field in (
            "ps_instance", "ps_vlnv", "reset_instance", "ctrl_master", "mem_slave",
            "mem_slave_port", "ctrl_master_clock", "mem_slave_clock", "pl_clock", "pl_reset",
            "pll_name", "title", "arch",
        ):  # fmt: skip
            assert tcl[field] == getattr(family, field), field
        assert int(tcl["accel_base"], 16) == family.accel_base
        assert int(tcl["dma_base"], 16) == family.dma_base
        assert float(tcl["pll_mhz"]) == family.pll_mhz
        assert float(tcl["max_fclk_mhz"]) == family.max_fclk_mhz
        assert int(tcl["default_hp_width"]) == family.default_hp_width
        board = next(b for b in boards.BOARDS.values() if b.family is family)
        assert cfg["DMA_PARAMETERS"][name] == design.BlockDesign(board=board.key).dma_config
    # The literal values of UG585/UG1085 the block design depends on.
    assert cfg["FAMILIES"]["zynq"]["hp_widths"] == "32 64"
    assert cfg["FAMILIES"]["zynqmp"]["hp_widths"] == "32 64 128"
    assert cfg["DMA_PARAMETERS"]["zynq"]["c_addr_width"] == "32"
    assert cfg["DMA_PARAMETERS"]["zynqmp"]["c_addr_width"] == "64"
    assert cfg["FAMILIES"]["zynqmp"]["pll_mhz"] == "1499.985"  # 33.333 MHz x 90 / 2


def test_contract_consistency() -> None:
    """The address window the Tcl packages is exactly what the AXI4-Lite port decodes."""
    assert regmap.ACCEL_RANGE == 1 << regmap.AXIL_ADDR_WIDTH
    assert regmap.WEIGHT_WINDOW_OFFSET + regmap.WEIGHT_WINDOW_SPAN == regmap.ACCEL_RANGE
    assert regmap.ACCEL_BASE % regmap.ACCEL_RANGE == 0
    assert regmap.DMA_BASE % regmap.DMA_RANGE == 0
    accel = range(regmap.ACCEL_BASE, regmap.ACCEL_BASE + regmap.ACCEL_RANGE)
    dma = range(regmap.DMA_BASE, regmap.DMA_BASE + regmap.DMA_RANGE)
    assert not set(range(accel.start, accel.stop, 0x1000)) & set(range(dma.start, dma.stop, 0x1000))
    # M_AXI_GP0 decodes 0x4000_0000..0x7FFF_FFFF on Zynq-7000 (UG585).
    for window in (accel, dma):
        assert window.start >= 0x4000_0000 and window.stop - 1 <= 0x7FFF_FFFF
    # M_AXI_HPM0_FPD decodes 0xA000_0000..0xAFFF_FFFF on Zynq UltraScale+ (UG1085).
    mp_accel = range(boards.ZYNQMP.accel_base, boards.ZYNQMP.accel_base + regmap.ACCEL_RANGE)
    mp_dma = range(boards.ZYNQMP.dma_base, boards.ZYNQMP.dma_base + regmap.DMA_RANGE)
    assert mp_accel.stop <= mp_dma.start
    for window in (mp_accel, mp_dma):
        assert window.start % len(window) == 0
        assert window.start >= 0xA000_0000 and window.stop - 1 <= 0xAFFF_FFFF
    # A 10k-image batch in one simple-mode transfer (PG021: length < 2**width).
    length_max = (1 << int(regmap.DMA_PARAMETERS["c_sg_length_width"])) - 1
    assert length_max >= 10_000 * regmap.N_IN
    assert length_max >= 10_000 * regmap.RESULT_WORDS_PER_IMAGE * 4


# --- overlay/README.md's address map ------------------------------------------------


def _kib(n: int) -> str:
    return f"{n // 1024} KiB"


def _grouped_hex(n: int) -> str:
    return f"0x{n >> 16:04X}_{n & 0xFFFF:04X}"


def test_readme_address_map_matches_regmap() -> None:
    """Both families' bases and the ranges in overlay/README.md's address map."""
    from pynq_mnist.hardware.boards import ZYNQ7000, ZYNQMP

    rows = {
        m.group(1): m.group(2, 3, 4)
        for m in re.finditer(
            r"^\| `(\w+)` \| [^|]+\| [^|]+\| `(0x[0-9A-F_]+)` \| `(0x[0-9A-F_]+)` \| ([^|]+?) \|",
            (OVERLAY / "README.md").read_text(),
            re.M,
        )
    }
    assert rows[regmap.ACCEL_INSTANCE] == (
        _grouped_hex(ZYNQ7000.accel_base),
        _grouped_hex(ZYNQMP.accel_base),
        _kib(regmap.ACCEL_RANGE),
    )
    assert rows[regmap.DMA_INSTANCE] == (
        _grouped_hex(ZYNQ7000.dma_base),
        _grouped_hex(ZYNQMP.dma_base),
        _kib(regmap.DMA_RANGE),
    )
