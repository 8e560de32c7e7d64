"""PYNQ driver for the mnist_accel IP: weights over AXI-Lite, images and results over AXI DMA.

``MnistAccel`` is bound by VLNV, so ``pynq.Overlay`` attaches it to the
``mnist_accel`` instance; the overlay (or the ``sim`` glue) hands it the
``pynq.lib.dma.DMA`` object with :meth:`MnistAccel.attach_dma`. The same code
runs on a board and on the virtual board.

A DMA transfer (after weights are loaded) costs N_IMAGES + S2MM DA/LENGTH +
CTRL.START + MM2S SA/LENGTH + S2MM DMASR polls (+ MM2S DMASR for each poll
that finds S2MM still busy) + S2MM_LENGTH + STATUS + OWNER_TAG (+ CYCLES)
register accesses: 10 or 11 with one poll.
pynq's ``_SDMAChannel.transfer()``/``wait()`` cost five or more per channel,
so the driver programs the two DMA channels itself through the DMA's MMIO,
with the PG021 register map named in one place (``regmap.DMA_REGISTERS``).

It trusts nothing: one wait watches both channels' errors; S2MM_LENGTH must
equal the bytes of the batch; the output buffer is poisoned before every
transfer, so a record the DMA did not write cannot pass; OWNER_TAG proves no
one else reloaded the weights; every recovery resets the accelerator and the
AXI DMA together (docs/architecture.md, "Recovery" and "Ownership").
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any, ClassVar

import numpy as np
from pynq import DefaultIP, allocate

from ..errors import (
    AcceleratorError,
    AcceleratorOwnershipLost,
    AcceleratorTimeout,
    BufferAllocationError,
    ConfigError,
)
from ..hardware import regmap
from ..model import Model

__all__ = ["DEFAULT_TIMEOUT_S", "MAX_BUFFER_BYTES", "MnistAccel"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
# Polling backoff: the first polls come fast (a single image takes ~30 us at
# 100 MHz), later ones back off. No wait between polls (nor before the first)
# exceeds _POLL_MAX_S, so a DMA error is seen within ~2 ms on a board (issue
# 10 asks for 10 ms); a long batch costs two DMASR reads per 2 ms, ~0.1% of
# the CPU.
_POLL_FIRST_S = 10e-6
_POLL_MAX_S = 2e-3
# Batches expected to take longer than this (from the last CYCLES per image)
# sleep up to _POLL_MAX_S before the first poll.
_PRESLEEP_MIN_S = 200e-6

_IN_BYTES_PER_IMAGE = regmap.N_IN
_OUT_WORDS_PER_IMAGE = regmap.RESULT_WORDS_PER_IMAGE
_OUT_BYTES_PER_IMAGE = 4 * _OUT_WORDS_PER_IMAGE
_N_IMAGES_MAX = (1 << 32) - 1
_WORD_BYTES = 4
_NUM_BANKS_PARAMETER = "NUM_BANKS"
# Each DMA buffer stays within 16 MiB, well inside the 128 MiB CMA pool of
# the PYNQ v3 kernel, so a big batch is split rather than failing to allocate.
MAX_BUFFER_BYTES = 16 << 20
# Written over the output buffer before each transfer. Word 10 of a real
# record has bits [30:24] = 0, so a record still holding this was never written.
_POISON = 0xFFFFFFFF
# What each DMASR error bit means (PG021, MMx_DMASR bits 4..6).
_DMA_ERROR_TEXT = {
    "DMAIntErr": "internal error: LENGTH 0 or a packet longer than the buffer",
    "DMASlvErr": "slave error: the memory answered SLVERR",
    "DMADecErr": "decode error: no memory at the buffer address",
}


def _field_mask(fields: dict[str, dict[str, Any]], name: str) -> tuple[int, int]:
    f = fields[name]
    return int(f["bit_offset"]), (1 << int(f["bit_width"])) - 1


def _decode_bits(value: int, fields: dict[str, dict[str, Any]]) -> str:
    """``0x00000005 (IDLE|DONE)``: the value and the names of its set 1-bit fields."""
    names = [
        name
        for name, f in fields.items()
        if int(f["bit_width"]) == 1 and value >> int(f["bit_offset"]) & 1
    ]
    return f"0x{value:08X} ({'|'.join(names) or '-'})"


def _described_num_banks(description: dict[str, Any]) -> int | None:
    """The NUM_BANKS parameter of the IP description (the hwh), if it has one."""
    value = description.get("parameters", {}).get(_NUM_BANKS_PARAMETER)
    return None if value is None else int(value)


class _DmaChannel:
    """Offsets and bits of one AXI DMA channel (PG021), taken from the named map."""

    def __init__(self, prefix: str, address_register: str) -> None:
        self.name = prefix
        self.dmacr = regmap.dma_offset(f"{prefix}_DMACR")
        self.dmasr = regmap.dma_offset(f"{prefix}_DMASR")
        self.address = regmap.dma_offset(f"{prefix}_{address_register}")
        self.address_msb = regmap.dma_offset(f"{prefix}_{address_register}_MSB")
        self.length = regmap.dma_offset(f"{prefix}_LENGTH")
        self.sr_fields = regmap.DMA_REGISTERS[f"{prefix}_DMASR"]["fields"]
        self.run = regmap.dma_bit(f"{prefix}_DMACR", "RS")
        self.reset = regmap.dma_bit(f"{prefix}_DMACR", "Reset")
        self.halted = regmap.dma_bit(f"{prefix}_DMASR", "Halted")
        self.idle = regmap.dma_bit(f"{prefix}_DMASR", "Idle")
        self.error_bits = {
            name: regmap.dma_bit(f"{prefix}_DMASR", name) for name in _DMA_ERROR_TEXT
        }
        self.errors = sum(self.error_bits.values())

    def describe_errors(self, sr: int) -> str:
        """``MM2S DMADecErr (decode error: ...)`` for each error bit set in ``sr``."""
        return "; ".join(
            f"{self.name} {name} ({_DMA_ERROR_TEXT[name]})"
            for name, bit in self.error_bits.items()
            if sr & bit
        )


class MnistAccel(DefaultIP):
    """Driver for ``mnist_accel``: ID check, weight load/verify, batched DMA classify.

    Parameters
    ----------
    description : dict
        The IP description (from the .hwh, or the virtual board's ``description()``).
    timeout_s : float
        Deadline of every wait on the hardware; a batch also gets the time
        its size needs at the overlay clock.

    Attributes
    ----------
    num_banks : int
        MAC lanes / weight banks, from the NUM_BANKS register.
    timeout_s : float
        As the parameter; may be changed at any time.
    fclk_mhz : float
        Clock of the accelerator (sizes the wait before the first poll).
    register_accesses : int
        Register accesses made by this driver so far (a bulk weight
        write/read counts one per 32-bit word).
    max_images_per_transfer : int
        Images per DMA transfer, from the DMA's maximum transfer length.

    Raises
    ------
    ConfigError
        The ID, NUM_BANKS or LAYER_SIZES registers do not match this driver or
        the description's ``NUM_BANKS`` parameter.
    """

    bindto: ClassVar[list[str]] = [regmap.VLNV]

    def __init__(self, description: dict[str, Any], timeout_s: float = DEFAULT_TIMEOUT_S):
        super().__init__(description)
        self.timeout_s = float(timeout_s)
        self.register_accesses = 0
        self._dma: Any = None
        self._dma_mmio: Any = None
        self._mm2s = _DmaChannel("MM2S", "SA")
        self._s2mm = _DmaChannel("S2MM", "DA")
        self._dma_addr64 = False
        self._dmacr_run: dict[str, int] = {}
        self.max_images_per_transfer = 0
        self._in_buf: Any = None
        self._out_buf: Any = None
        self._in_flight = False
        self._cycles_per_image: float | None = None
        self._owner_tag: int | None = None  # our OWNER_TAG token; None: no usable weights
        self._owner_lost = False  # another owner took the accelerator from us
        self.fclk_mhz: float = regmap.FCLK_MHZ
        self._described_banks = _described_num_banks(description)
        self.num_banks = self.check_config()

    # --- register access, counted ---------------------------------------------------

    def _rd(self, offset: int) -> int:
        self.register_accesses += 1
        return int(self.mmio.read(offset))

    def _wr(self, offset: int, value: int) -> None:
        self.register_accesses += 1
        self.mmio.write(offset, int(value))

    def _dma_rd(self, offset: int) -> int:
        self.register_accesses += 1
        return int(self._dma_mmio.read(offset))

    def _dma_wr(self, offset: int, value: int) -> None:
        self.register_accesses += 1
        self._dma_mmio.write(offset, int(value))

    def _read_block(self, offset: int, nbytes: int) -> np.ndarray:
        """Read ``nbytes`` of the accelerator window in one go, as uint32 words."""
        self.register_accesses += nbytes // _WORD_BYTES
        device = self.mmio.device
        if device.has_capability("MEMORY_MAPPED"):
            first = offset // _WORD_BYTES
            return np.array(self.mmio.array[first : first + nbytes // _WORD_BYTES], dtype=np.uint32)
        raw = device.read_registers(self.mmio.base_addr + offset, nbytes)
        return np.frombuffer(bytes(raw), dtype="<u4").astype(np.uint32)

    # --- configuration ----------------------------------------------------------------

    def check_config(self) -> int:
        """Read ID, NUM_BANKS and LAYER_SIZES; return NUM_BANKS.

        Raises
        ------
        ConfigError
            A register value differs from what this driver (or the description) expects.
        """
        ident = self._rd(regmap.REG_ID)
        if ident != regmap.ID_VALUE:
            raise ConfigError(
                f"mnist_accel register ID (0x{regmap.REG_ID:02X}) reads 0x{ident:08X}, "
                f"expected 0x{regmap.ID_VALUE:08X}: wrong bitstream or IP version"
            )
        banks = self._rd(regmap.REG_NUM_BANKS)
        if banks < 1 or regmap.N_HID % banks:
            raise ConfigError(
                f"mnist_accel register NUM_BANKS (0x{regmap.REG_NUM_BANKS:02X}) reads {banks}, "
                f"expected a divisor of {regmap.N_HID}"
            )
        if self._described_banks is not None and banks != self._described_banks:
            raise ConfigError(
                f"mnist_accel register NUM_BANKS (0x{regmap.REG_NUM_BANKS:02X}) reads {banks}, "
                f"but the IP description parameter NUM_BANKS is {self._described_banks}"
            )
        sizes = self._rd(regmap.REG_LAYER_SIZES)
        if sizes != regmap.LAYER_SIZES_VALUE:
            fields = regmap.REGISTERS["LAYER_SIZES"]["fields"]
            got = {k: sizes >> o & m for k in fields for o, m in [_field_mask(fields, k)]}
            raise ConfigError(
                f"mnist_accel register LAYER_SIZES (0x{regmap.REG_LAYER_SIZES:02X}) reads "
                f"0x{sizes:08X} {got}, expected N_IN={regmap.N_IN} N_HID={regmap.N_HID} "
                f"N_OUT={regmap.N_OUT}"
            )
        return banks

    def attach_dma(self, dma: Any) -> None:
        """Use ``dma`` (a ``pynq.lib.dma.DMA`` in simple mode) for images and results.

        Raises
        ------
        ConfigError
            The DMA lacks a channel, uses scatter-gather or micro mode, or its
            data widths differ from the 32-bit streams of the accelerator.
        """
        params = dma.description.get("parameters", {})
        if dma.sendchannel is None or dma.recvchannel is None:
            raise ConfigError(
                "axi_dma needs both MM2S and S2MM channels "
                f"(c_include_mm2s={params.get('c_include_mm2s')}, "
                f"c_include_s2mm={params.get('c_include_s2mm')})"
            )
        for key, want in (("c_include_sg", 0), ("c_micro_dma", 0)):
            if int(params.get(key, 0)) != want:
                raise ConfigError(f"axi_dma parameter {key}={params[key]}, expected {want}")
        for key in ("c_m_axi_mm2s_data_width", "c_m_axi_s2mm_data_width"):
            if int(params.get(key, regmap.STREAM_DATA_WIDTH)) != regmap.STREAM_DATA_WIDTH:
                raise ConfigError(
                    f"axi_dma parameter {key}={params[key]}, expected {regmap.STREAM_DATA_WIDTH}"
                )
        self._dma = dma
        self._dma_mmio = dma.mmio
        self._dma_addr64 = int(params.get("c_addr_width", 32)) > 32
        # Remember what pynq's DMA wrote to DMACR (RS, and IOC_IrqEn when it
        # found an interrupt) so a recovery restarts the channels the same way.
        self._dmacr_run = {
            ch.name: self._dma_rd(ch.dmacr) | ch.run for ch in (self._mm2s, self._s2mm)
        }
        self.max_images_per_transfer = min(
            min(dma.buffer_max_size, MAX_BUFFER_BYTES) // _IN_BYTES_PER_IMAGE,
            dma.buffer_max_size // _OUT_BYTES_PER_IMAGE,
            _N_IMAGES_MAX,
        )
        if self.max_images_per_transfer < 1:
            raise ConfigError(
                f"axi_dma max transfer {dma.buffer_max_size} bytes "
                f"(c_sg_length_width={params.get('c_sg_length_width')}) is smaller than "
                f"one image ({_IN_BYTES_PER_IMAGE} bytes)"
            )

    @property
    def dma(self) -> Any:
        """The attached ``pynq.lib.dma.DMA`` (None until :meth:`attach_dma`)."""
        return self._dma

    # --- weights ----------------------------------------------------------------------

    def load_weights(self, model: Model, verify: bool = True) -> None:
        """Write the model's weights and shifts; with ``verify`` read them back and compare.

        Raises
        ------
        ConfigError
            ID/NUM_BANKS/LAYER_SIZES mismatch, or the model's shapes differ from LAYER_SIZES.
        AcceleratorError
            Read-back differs (names the first weight and the number of bad bytes).
        AcceleratorTimeout
            Accelerator and DMA did not return to idle after their reset.
        """
        self.num_banks = self.check_config()
        want = {"w1": (regmap.N_HID, regmap.N_IN), "w2": (regmap.N_OUT, regmap.N_HID)}
        for name, shape in want.items():
            got = getattr(model, name).shape
            if got != shape:
                raise ConfigError(f"model {name} shape {got} does not match LAYER_SIZES {shape}")
        self._owner_tag = None
        self._owner_lost = False
        if self._dma is not None:
            # Taking the fabric: whatever a previous owner left in the engine or
            # the streams (PG021's Idle cannot tell "never started" from "busy").
            self._recover()
        elif self._rd(regmap.REG_STATUS) & regmap.STATUS_BUSY:
            log.warning("mnist_accel busy while loading weights: soft reset")
            self._wr(regmap.REG_CTRL, regmap.CTRL_SOFT_RESET)
            self._wait_bits(
                lambda: self._rd(regmap.REG_STATUS),
                regmap.STATUS_IDLE,
                regmap.STATUS_IDLE,
                time.monotonic() + self.timeout_s,
                "mnist_accel STATUS.IDLE not set after SOFT_RESET",
            )
        packed = regmap.pack_weights(model.w1, model.w2, self.num_banks)
        self.register_accesses += packed.nbytes // _WORD_BYTES
        self.mmio.write(regmap.WEIGHT_WINDOW_OFFSET, packed.tobytes())
        self._write_shifts(model.shift_l1, model.shift_l2)
        if verify:
            self._verify_weights(model, packed)
        self._claim_ownership()
        log.debug("loaded %d weight bytes, NUM_BANKS=%d", packed.nbytes, self.num_banks)

    # --- ownership (docs/architecture.md, "Ownership") ----------------------------------

    def _claim_ownership(self) -> None:
        """Write a fresh random nonzero token to OWNER_TAG; any weight or shift write clears it."""
        token = secrets.randbits(32) or 1
        self._wr(regmap.REG_OWNER_TAG, token)
        self._owner_tag = token

    def _ownership_lost(self) -> AcceleratorOwnershipLost | None:
        """One OWNER_TAG read: the error to raise if it no longer holds this driver's token."""
        tag = self._rd(regmap.REG_OWNER_TAG)
        if self._owner_tag is not None and tag == self._owner_tag:
            return None
        self._owner_tag = None
        self._owner_lost = True
        self._in_flight = False  # the fabric is someone else's now: leave it alone
        return AcceleratorOwnershipLost(
            f"mnist_accel OWNER_TAG (0x{regmap.REG_OWNER_TAG:02X}) reads 0x{tag:08X}, not this "
            "driver's token: another process or backend reloaded the weights or the "
            "overlay; results discarded. Call load_weights again (backend.load) to take "
            "the accelerator back"
        )

    def _write_shifts(self, shift_l1: int, shift_l2: int) -> None:
        self._wr(regmap.REG_SHIFT_L1, shift_l1)
        self._wr(regmap.REG_SHIFT_L2, shift_l2)

    def _verify_weights(self, model: Model, packed: np.ndarray) -> None:
        back = self._read_block(regmap.WEIGHT_WINDOW_OFFSET, packed.nbytes).view(np.int8)
        bad = np.flatnonzero(back != packed)
        if bad.size:
            first = int(bad[0])
            raise AcceleratorError(
                f"weight verify failed: {bad.size} of {packed.nbytes} bytes differ in the "
                f"mnist_accel weight window (0x{regmap.WEIGHT_WINDOW_OFFSET:05X}); first at "
                f"byte 0x{regmap.WEIGHT_WINDOW_OFFSET + first:05X} = "
                f"{self._weight_name(first)}: wrote {int(packed[first])}, read {int(back[first])}"
            )
        for offset, name, want in (
            (regmap.REG_SHIFT_L1, "SHIFT_L1", model.shift_l1),
            (regmap.REG_SHIFT_L2, "SHIFT_L2", model.shift_l2),
        ):
            got = self._rd(offset)
            if got != want:
                raise AcceleratorError(
                    f"register {name} (0x{offset:02X}) reads {got}, wrote {want}"
                )

    def _weight_name(self, byte_index: int) -> str:
        """Name the weight at a window byte, e.g. ``W1[17][300]`` (layer 1, neuron 17, input 300).

        Packs index-coded matrices with the same ``pack_weights`` rather than
        inverting the layout by hand, so this cannot drift from the packing.
        """
        n1, i1 = np.indices((regmap.N_HID, regmap.N_IN))
        o2, n2 = np.indices((regmap.N_OUT, regmap.N_HID))

        def at(w1: np.ndarray, w2: np.ndarray) -> int:
            packed = regmap.pack_weights(
                w1.astype(np.uint8).view(np.int8),
                w2.astype(np.uint8).view(np.int8),
                self.num_banks,
            )
            return int(packed.view(np.uint8)[byte_index])

        layer = at(np.ones_like(n1), 2 * np.ones_like(n2))
        if layer == 1:
            neuron = at(n1, n2)
            pixel = at(i1 & 0xFF, o2) | at(i1 >> 8, o2) << 8
            return f"W1[{neuron}][{pixel}] (layer 1, neuron {neuron}, input {pixel})"
        neuron = at(n1, n2)
        output = at(i1 & 0xFF, o2)
        return f"W2[{output}][{neuron}] (layer 2, neuron {output}, input {neuron})"

    # --- classification ---------------------------------------------------------------

    def classify(
        self, images: np.ndarray, read_cycles: bool = True
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Classify uint8 images [N, 784] on the accelerator.

        Returns ``(logits int32 [N,10], digits int64 [N], stats)``; ``stats``
        has ``images``, ``transfers``, ``cycles`` (sum of CYCLES, None unless
        ``read_cycles``), ``register_accesses``, ``fclk_mhz`` and ``wall_s``.

        Raises
        ------
        ValueError
            Images not uint8 [N, 784] with N >= 1.
        ConfigError
            No DMA attached or no weights loaded.
        AcceleratorTimeout
            A transfer passed its deadline (DMA and accelerator are reset).
        AcceleratorError
            The DMA or the accelerator reported an error, S2MM_LENGTH or a
            record is wrong (both are reset; the message names the cause).
        AcceleratorOwnershipLost
            Another process or backend reloaded the weights or the overlay.
        BufferAllocationError
            The DMA buffers could not be allocated.
        """
        batch = np.asarray(images)
        if batch.dtype != np.uint8 or batch.ndim != 2 or batch.shape[1] != regmap.N_IN:
            raise ValueError(
                f"images must be uint8 [N, {regmap.N_IN}], got {batch.dtype} {list(batch.shape)}"
            )
        if batch.shape[0] < 1:
            raise ValueError("images must hold at least one image, got 0")
        if self._dma is None:
            raise ConfigError("no AXI DMA attached: call attach_dma(dma) first")
        if self._owner_tag is None and not self._owner_lost:
            raise ConfigError("no weights loaded: call load_weights(model) first")
        if self._owner_tag is None:
            raise AcceleratorOwnershipLost(
                "this driver lost the accelerator to another process or backend: "
                "call load_weights again (backend.load) to take it back"
            )
        t0 = time.perf_counter()
        accesses0 = self.register_accesses
        n = batch.shape[0]
        logits = np.empty((n, regmap.N_OUT), dtype=np.int32)
        digits = np.empty(n, dtype=np.int64)
        cycles = 0 if read_cycles else None
        transfers = 0
        step = self.max_images_per_transfer
        for start in range(0, n, step):
            chunk = batch[start : start + step]
            records, chunk_cycles = self._transfer(chunk, read_cycles)
            stop = start + chunk.shape[0]
            logits[start:stop], digits[start:stop] = self._decode(records)
            if cycles is not None and chunk_cycles is not None:
                cycles += chunk_cycles
            transfers += 1
        stats = {
            "images": n,
            "transfers": transfers,
            "cycles": cycles,
            "register_accesses": self.register_accesses - accesses0,
            "fclk_mhz": self.fclk_mhz,
            "wall_s": time.perf_counter() - t0,
        }
        return logits, digits, stats

    def _buffers(self, n: int) -> tuple[Any, Any]:
        """DMA buffers holding at least ``n`` images, allocated once and grown only when needed.

        Raises
        ------
        BufferAllocationError
            The contiguous (CMA) memory could not hold them.
        """
        if self._in_buf is None or self._in_buf.shape[0] < n:
            self._free_buffers()
            try:
                self._in_buf = allocate((n, _IN_BYTES_PER_IMAGE), dtype=np.uint8)
                self._out_buf = allocate((n, _OUT_WORDS_PER_IMAGE), dtype=np.uint32)
            except (RuntimeError, MemoryError, OSError, AcceleratorError) as exc:
                self._free_buffers()
                nbytes = n * (_IN_BYTES_PER_IMAGE + _OUT_BYTES_PER_IMAGE)
                raise BufferAllocationError(
                    f"cannot allocate DMA buffers for {n} images ({nbytes} bytes of contiguous "
                    f"memory): {exc}. Free other pynq buffers (freebuffer()/close()), stop "
                    "other PYNQ processes or reboot the board; the PYNQ v3 image reserves "
                    "128 MiB of CMA"
                ) from exc
            log.debug("allocated DMA buffers for %d images", n)
        return self._in_buf, self._out_buf

    def _free_buffers(self) -> None:
        for buf in (self._in_buf, self._out_buf):
            if buf is not None:
                buf.freebuffer()
        self._in_buf = self._out_buf = None

    def _start_channel(self, channel: _DmaChannel, address: int, nbytes: int) -> None:
        self._dma_wr(channel.address, address & 0xFFFFFFFF)
        if self._dma_addr64:
            self._dma_wr(channel.address_msb, address >> 32)
        self._dma_wr(channel.length, nbytes)  # writing LENGTH starts the channel

    def _fail(self, error: type[AcceleratorError], message: str) -> AcceleratorError:
        """The error to raise for a failed batch, after the recovery that it needs.

        If another owner took the accelerator (OWNER_TAG), that is the error
        and nothing is reset under the new owner; otherwise accelerator and
        DMA are reset and ``error(message + '; DMA and accelerator reset')``
        is returned.
        """
        lost = self._ownership_lost()
        if lost is not None:
            return lost
        self._recover()
        return error(f"{message}; DMA and accelerator reset")

    def _transfer(self, chunk: np.ndarray, read_cycles: bool) -> tuple[np.ndarray, int | None]:
        if self._in_flight:
            # A previous call was interrupted (e.g. KeyboardInterrupt) mid-transfer.
            log.warning("previous transfer did not finish: resetting DMA and accelerator")
            self._recover()
        n = chunk.shape[0]
        in_buf, out_buf = self._buffers(n)
        src = in_buf[:n]
        dst = out_buf[:n]
        src[:] = chunk
        src.flush()
        dst[:] = _POISON  # a record the DMA does not overwrite can never pass _decode
        dst.flush()
        # Written every batch: an overlay download by someone else resets it to
        # 0, and a START of 0 images would only end at the deadline.
        self._wr(regmap.REG_N_IMAGES, n)
        self._in_flight = True
        out_bytes = n * _OUT_BYTES_PER_IMAGE
        self._start_channel(self._s2mm, dst.physical_address, out_bytes)
        self._wr(regmap.REG_CTRL, regmap.CTRL_START)
        self._start_channel(self._mm2s, src.physical_address, n * _IN_BYTES_PER_IMAGE)
        deadline = self._wait_dma(n)
        received = self._dma_rd(self._s2mm.length)
        if received != out_bytes:
            detail = self._describe_state(None)
            raise self._fail(
                AcceleratorError,
                f"AXI DMA S2MM_LENGTH reads {received} bytes, expected {out_bytes} for "
                f"{n} images: the result packet was "
                f"{'short' if received < out_bytes else 'long'}: {detail}",
            )
        status = self._rd(regmap.REG_STATUS)
        # DONE follows the last result beat by a few clock cycles; on a board
        # the poll above is far slower than that, so this loop rarely turns.
        while status & regmap.STATUS_BUSY and not status & regmap.STATUS_ERROR:
            if time.monotonic() > deadline:
                detail = self._describe_state(status)
                raise self._fail(
                    AcceleratorTimeout,
                    f"mnist_accel still BUSY after the DMA received all {n} results: {detail}",
                )
            status = self._rd(regmap.REG_STATUS)
        if status & regmap.STATUS_ERROR or not status & regmap.STATUS_DONE:
            detail = self._describe_state(status)
            raise self._fail(
                AcceleratorError,
                f"mnist_accel batch of {n} images failed: {detail}{self._framing_hint()}",
            )
        lost = self._ownership_lost()
        if lost is not None:
            raise lost
        # The first batch always reads CYCLES: it sizes the pre-poll sleep.
        read_cycles = read_cycles or self._cycles_per_image is None
        cycles = self._rd(regmap.REG_CYCLES) if read_cycles else None
        if cycles:
            self._cycles_per_image = cycles / n
        self._in_flight = False
        dst.invalidate()
        return np.array(dst, dtype=np.uint32), cycles

    def _framing_hint(self) -> str:
        cause = self._rd(regmap.REG_ERROR_CAUSE)
        if cause & regmap.ERR_MISSING_TLAST:
            return (
                " (MISSING_TLAST: more beats than N images reached the accelerator, e.g. "
                "residual beats of an aborted transfer, or a stream without TLAST)"
            )
        return ""

    def _expected_s(self, n: int) -> float:
        if self._cycles_per_image is None:
            return 0.0
        return n * self._cycles_per_image / (self.fclk_mhz * 1e6)

    def _wait_dma(self, n: int) -> float:
        """Poll until S2MM is idle, watching both channels' errors; return the deadline.

        Each poll reads S2MM_DMASR; while S2MM is not done it also reads
        MM2S_DMASR, so an MM2S error (which starves the accelerator, so S2MM
        never completes) raises at the next poll instead of at the timeout.
        """
        expected = self._expected_s(n)
        budget = self.timeout_s + 2 * expected
        deadline = time.monotonic() + budget
        pause = _POLL_FIRST_S
        if expected > _PRESLEEP_MIN_S:
            time.sleep(min(expected, _POLL_MAX_S))
            pause = _POLL_MAX_S
        while True:
            s2mm_sr = self._dma_rd(self._s2mm.dmasr)
            if s2mm_sr & self._s2mm.errors:
                detail = self._describe_state(None, s2mm_sr=s2mm_sr)
                raise self._fail(
                    AcceleratorError,
                    f"AXI DMA {self._s2mm.describe_errors(s2mm_sr)} on a batch of {n} "
                    f"images: {detail}",
                )
            if s2mm_sr & self._s2mm.idle:
                return deadline
            mm2s_sr = self._dma_rd(self._mm2s.dmasr)
            if mm2s_sr & self._mm2s.errors:
                detail = self._describe_state(None, s2mm_sr=s2mm_sr, mm2s_sr=mm2s_sr)
                raise self._fail(
                    AcceleratorError,
                    f"AXI DMA {self._mm2s.describe_errors(mm2s_sr)} on a batch of {n} "
                    f"images: {detail}",
                )
            halted = [
                ch.name
                for ch, sr in ((self._s2mm, s2mm_sr), (self._mm2s, mm2s_sr))
                if sr & ch.halted
            ]
            if halted:
                detail = self._describe_state(None, s2mm_sr=s2mm_sr, mm2s_sr=mm2s_sr)
                raise self._fail(
                    AcceleratorError,
                    f"AXI DMA {'/'.join(halted)} halted during a batch of {n} images "
                    f"(RS=0 or reset by someone else): {detail}",
                )
            if time.monotonic() > deadline:
                detail = self._describe_state(None, s2mm_sr=s2mm_sr, mm2s_sr=mm2s_sr)
                raise self._fail(
                    AcceleratorTimeout,
                    f"batch of {n} images not done within {budget:.3f} s "
                    f"(timeout_s={self.timeout_s}): {detail}",
                )
            time.sleep(pause)
            pause = min(2 * pause, _POLL_MAX_S)

    def _describe_state(
        self, status: int | None, s2mm_sr: int | None = None, mm2s_sr: int | None = None
    ) -> str:
        """Decode STATUS, ERROR_CAUSE, IMAGES_DONE and both DMASR values into one line."""
        if status is None:
            status = self._rd(regmap.REG_STATUS)
        cause = self._rd(regmap.REG_ERROR_CAUSE)
        done = self._rd(regmap.REG_IMAGES_DONE)
        if mm2s_sr is None:
            mm2s_sr = self._dma_rd(self._mm2s.dmasr)
        if s2mm_sr is None:
            s2mm_sr = self._dma_rd(self._s2mm.dmasr)
        return (
            f"STATUS={_decode_bits(status, regmap.REGISTERS['STATUS']['fields'])} "
            f"ERROR_CAUSE={_decode_bits(cause, regmap.REGISTERS['ERROR_CAUSE']['fields'])} "
            f"IMAGES_DONE={done} "
            f"MM2S_DMASR={_decode_bits(mm2s_sr, self._mm2s.sr_fields)} "
            f"S2MM_DMASR={_decode_bits(s2mm_sr, self._s2mm.sr_fields)}"
        )

    def _decode(self, records: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Split [n, 11] result words into logits and hardware digits; check index and error."""
        n = records.shape[0]
        fields = regmap.RESULT_WORD10_FIELDS
        word = records[:, regmap.N_OUT].astype(np.int64)
        stale = np.flatnonzero(word == _POISON)
        if stale.size:
            raise AcceleratorError(
                f"{stale.size} of {n} result records were never written by the DMA "
                f"(still poisoned), first image {stale[0]}: stale output buffer"
            )
        shift, mask = _field_mask(fields, "ERROR")
        failed = np.flatnonzero(word >> shift & mask)
        if failed.size:
            raise AcceleratorError(
                f"{failed.size} of {n} result records carry the ERROR bit, first image {failed[0]}"
            )
        shift, mask = _field_mask(fields, "INDEX")
        index = word >> shift & mask
        wrong = np.flatnonzero(index != np.arange(n) & mask)
        if wrong.size:
            k = int(wrong[0])
            raise AcceleratorError(
                f"result record {k} carries image index {int(index[k])}, expected {k & mask} "
                f"({wrong.size} of {n} records out of order)"
            )
        shift, mask = _field_mask(fields, "DIGIT")
        digits = word >> shift & mask
        logits = np.ascontiguousarray(records[:, : regmap.N_OUT]).view(np.int32)
        return logits, digits

    # --- recovery -----------------------------------------------------------------------

    def _wait_bits(self, read: Any, mask: int, want: int, deadline: float, what: str) -> int:
        while True:
            value = read()
            if value & mask == want:
                return value
            if time.monotonic() > deadline:
                raise AcceleratorTimeout(
                    f"recovery failed: {what} (reads 0x{value:08X}); reload the overlay"
                )
            time.sleep(_POLL_FIRST_S)

    def _recover(self) -> None:
        """Reset the AXI DMA and the accelerator together, leave both idle, restart the DMA.

        The sequence and why (docs/architecture.md, "Recovery"):

        1. CTRL.SOFT_RESET: the accelerator drops its batch, closes a result
           packet under way with a terminator beat and flushes an image packet
           under way (DRAINING) up to TLAST or 512 idle cycles.
        2. DMACR.Reset (PG021: either channel's bit resets both, gracefully:
           MM2S stops and ends an open packet with TLAST, S2MM takes and drops
           what arrives meanwhile, so the terminator is consumed).
        3. Wait until the Reset bit clears and STATUS.IDLE is 1. A Reset that
           stays set while the engine is idle means the MM2S packet end has no
           taker (TREADY is low while idle; e.g. beats a halted transfer left
           behind): START a one-image batch once, whose framing check takes
           the leftover beats up to that TLAST, and SOFT_RESET it once the
           DMA reset is over.
        4. RS=1 on both channels, as pynq's DMA driver left them.

        Raises
        ------
        AcceleratorTimeout
            The pair did not come back within ``timeout_s``; reload the overlay.
        """
        deadline = time.monotonic() + self.timeout_s
        self._in_flight = False
        self._wr(regmap.REG_CTRL, regmap.CTRL_SOFT_RESET)
        self._dma_wr(self._mm2s.dmacr, self._mm2s.reset)  # either channel resets both
        drain_started = drain_stopped = False
        while True:
            resetting = self._dma_rd(self._mm2s.dmacr) & self._mm2s.reset
            status = self._rd(regmap.REG_STATUS)
            idle = status & regmap.STATUS_IDLE and not status & regmap.STATUS_DRAINING
            if not resetting and idle:
                break
            if resetting and idle and not drain_started:
                log.info("AXI DMA reset waits for a stream taker: one-image drain batch")
                self._wr(regmap.REG_N_IMAGES, 1)
                self._wr(regmap.REG_CTRL, regmap.CTRL_START)
                drain_started = True
            elif not resetting and drain_started and not drain_stopped:
                self._wr(regmap.REG_CTRL, regmap.CTRL_SOFT_RESET)
                drain_stopped = True
            if time.monotonic() > deadline:
                raise AcceleratorTimeout(
                    f"recovery failed within {self.timeout_s} s: AXI DMA "
                    f"MM2S_DMACR.Reset {'still set' if resetting else 'clear'}, mnist_accel "
                    f"STATUS={_decode_bits(status, regmap.REGISTERS['STATUS']['fields'])}; "
                    "reload the overlay"
                )
            time.sleep(_POLL_FIRST_S)
        for ch in (self._mm2s, self._s2mm):
            self._dma_wr(ch.dmacr, self._dmacr_run[ch.name])
            self._wait_bits(
                lambda ch=ch: self._dma_rd(ch.dmasr),
                ch.halted,
                0,
                deadline,
                f"AXI DMA {ch.name}_DMASR.Halted still set after RS=1",
            )
        log.info("mnist_accel and axi_dma reset")

    def close(self) -> None:
        """Free the DMA buffers (idempotent)."""
        self._free_buffers()
        self._dma = None
        self._dma_mmio = None
