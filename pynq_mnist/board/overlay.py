"""``MnistOverlay``: pynq's Overlay for the mnist block design, with the accelerator and its DMA.

Imports pynq; :mod:`.detect` answers "is this a board" without it.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any

import pynq

from ..errors import ConfigError
from ..hardware import regmap
from ..hardware.boards import ZYNQ7000
from .accel import DEFAULT_TIMEOUT_S, MnistAccel
from .detect import find_bitstream
from .fit import Handoff, check_handoff, check_port_widths, read_handoff

__all__ = ["MnistOverlay", "find_accelerator"]

log = logging.getLogger(__name__)

# (accelerator stream port, AXI DMA stream port) pairs that make "its DMA" (overlay/bd.tcl).
ACCEL_DMA_STREAMS = (("s_axis", "M_AXIS_MM2S"), ("m_axis", "S_AXIS_S2MM"))


def find_accelerator(ip_dict: dict[str, Any], systemgraph: Any, source: str) -> tuple[str, str]:
    """(accelerator, DMA) names in ``ip_dict``: the one IP of VLNV ``regmap.VLNV``, and the
    AXI DMA whose MM2S stream feeds its ``s_axis`` and whose S2MM stream takes its ``m_axis``.

    Works for any instance names and hierarchy (``mnist_accel``, ``mnist_accel_0``,
    ``accel/mnist_accel_0``); the wiring comes from pynq's parsed design graph.

    Raises
    ------
    ConfigError
        Not exactly one accelerator, or not exactly one DMA wired to it both ways.
    """
    accels = sorted(n for n, d in ip_dict.items() if d.get("type") == regmap.VLNV)
    if len(accels) != 1:
        raise ConfigError(
            f"{source}: expected one IP of VLNV {regmap.VLNV}, found {len(accels)} {accels}"
        )
    accel = accels[0]
    if systemgraph is None:
        raise ConfigError(f"{source}: pynq parsed no design graph, so the DMA cannot be found")
    cores = {getattr(c, "hierarchy_name", None): c for c in systemgraph.blocks.values()}
    wired: set[str] | None = None
    for accel_port, dma_port in ACCEL_DMA_STREAMS:
        ports = cores[accel].ports if accel in cores else {}
        peers = ports[accel_port].destinations().values() if accel_port in ports else []
        ends = {
            p.parent().hierarchy_name
            for p in peers
            if p.name == dma_port
            and ip_dict.get(p.parent().hierarchy_name, {}).get("type") == regmap.DMA_VLNV
        }
        wired = ends if wired is None else wired & ends
    dmas = sorted(wired or ())
    if len(dmas) != 1:
        raise ConfigError(
            f"{source}: expected one {regmap.DMA_VLNV} with M_AXIS_MM2S -> {accel}/s_axis "
            f"and {accel}/m_axis -> S_AXIS_S2MM, found {len(dmas)} {dmas}"
        )
    return accel, dmas[0]


def _achieved_clock_rates(overlay: Any) -> None:
    """Give ``clock_dict`` the FCLK rates that pynq 4.0 sets from and a Zynq-7000 .hwh lacks.

    pynq 4.0 sets each enabled PL clock from ``clock_dict[i]["frequency"]``;
    pynqmetadata 0.2.0 looks for the Zynq UltraScale+ parameter name, so for a
    PS7 it is None and ``Clocks.set_pl_clk`` fails. The rate the design was timed
    at is the PS7's ``PCW_ACT_FPGA<i>_PERIPHERAL_FREQMHZ``. pynq 3.x uses the
    divisors and ignores the frequency.
    """
    ps7 = [
        d["parameters"] for d in overlay.ip_dict.values() if ZYNQ7000.is_ps(str(d.get("type", "")))
    ]
    for index, clock in overlay.clock_dict.items():
        key = f"PCW_ACT_FPGA{index}_PERIPHERAL_FREQMHZ"
        if clock.get("frequency", 0) is None and ps7 and key in ps7[0]:
            clock["frequency"] = float(ps7[0][key])


def _stated_fclk0_mhz(handoff: Handoff) -> float:
    """PL clock 0 as the .hwh states it (regmap.FCLK_MHZ if it does not)."""
    for key in ("PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ", "PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ"):
        try:
            return float(handoff.ps_parameters[key])
        except (KeyError, ValueError):
            continue
    return float(regmap.FCLK_MHZ)


def _fclk0_mhz(handoff: Handoff) -> float:
    """PL clock 0 as the PS actually runs it (as the .hwh states it if it cannot be read)."""
    from pynq.ps import Clocks

    try:
        return float(Clocks.fclk0_mhz)
    except (OSError, RuntimeError, ValueError, AttributeError) as exc:
        stated = _stated_fclk0_mhz(handoff)
        log.warning("cannot read PL clock 0 (%s): assuming %s MHz", exc, stated)
        return stated


class MnistOverlay(pynq.Overlay):  # type: ignore[misc]
    """The mnist overlay: ``.accel`` (MnistAccel, bound by VLNV) with ``.dma`` attached.

    The accelerator and its DMA are found by VLNV and stream wiring
    (``find_accelerator``), not by instance name. Before pynq downloads, the
    ``.hwh`` is checked against the board (PS family, port widths and PL clock
    pynq can set); after, the PS port-width registers against the design
    (``fit``).

    Parameters
    ----------
    bitfile : str or Path, optional
        Defaults to the packaged bitstream for ``$BOARD``.
    download : bool
        Program the PL (default True).
    timeout_s : float
        Deadline of every wait on the hardware.
    """

    def __init__(
        self,
        bitfile: str | os.PathLike[str] | None = None,
        download: bool = True,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        **kwargs: Any,
    ) -> None:
        path = find_bitstream() if bitfile is None else Path(bitfile)
        handoff = read_handoff(path.with_suffix(".hwh"))
        check_handoff(handoff, kwargs.get("device") or pynq.Device.active_device)
        super().__init__(str(path), download=download, **kwargs)
        check_port_widths(self.ip_dict, self.device, str(path))
        accel_name, dma_name = find_accelerator(
            self.ip_dict, getattr(self, "systemgraph", None), str(path)
        )
        # Both before assigning: a hierarchy may itself be called "accel" or "dma".
        accel, dma = (
            functools.reduce(getattr, name.split("/"), self) for name in (accel_name, dma_name)
        )
        if not isinstance(accel, MnistAccel):
            raise ConfigError(
                f"{path}: {accel_name} is bound to {type(accel).__name__}, not MnistAccel"
            )
        self.accel = accel
        self.dma = dma
        self.accel.timeout_s = float(timeout_s)
        self.accel.fclk_mhz = _fclk0_mhz(handoff)
        self.accel.attach_dma(self.dma)

    def download(self, dtbo: str | None = None) -> None:
        """pynq's download, with the FCLK rates pynq 4.0 needs filled in."""
        _achieved_clock_rates(self)
        super().download(dtbo)
