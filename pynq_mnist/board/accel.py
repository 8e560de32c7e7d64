"""``MnistAccel``: the PYNQ driver of the mnist_accel IP (weights over AXI-Lite, images and
results over AXI DMA), bound by VLNV; the same code runs on a board and on the virtual board.

The overlay (or the ``sim`` glue) hands it pynq's ``DMA`` with :meth:`MnistAccel.attach_dma`;
:mod:`.axi_dma` programs its two channels directly, so a batch costs 11 register accesses
(N_IMAGES, S2MM DA/LENGTH, CTRL.START, MM2S SA/LENGTH, one S2MM DMASR poll, S2MM_LENGTH,
STATUS, OWNER_TAG, CYCLES) where pynq's ``transfer()``/``wait()`` cost five or more per channel.
It trusts nothing: both channels' errors, S2MM_LENGTH, poisoned output records and OWNER_TAG
are checked, and every failure resets accelerator and DMA together (docs/architecture.md,
"Recovery" and "Ownership").
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any, ClassVar

import numpy as np
from pynq import DefaultIP

from ..errors import AcceleratorError, AcceleratorOwnershipLost, AcceleratorTimeout, ConfigError
from ..hardware import regmap
from ..model import Model
from .axi_dma import DmaBuffers, DmaPair
from .mmio import WORD_BYTES, AccessCount, CountingMmio, Deadline, describe_bits
from .records import POISON, decode_records, field_mask, weight_name

__all__ = ["DEFAULT_TIMEOUT_S", "MAX_BUFFER_BYTES", "MnistAccel"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
_IN_BYTES_PER_IMAGE = regmap.N_IN
_OUT_WORDS_PER_IMAGE = regmap.RESULT_WORDS_PER_IMAGE
_OUT_BYTES_PER_IMAGE = WORD_BYTES * _OUT_WORDS_PER_IMAGE
_N_IMAGES_MAX = (1 << 32) - 1
# Each DMA buffer stays within 16 MiB, well inside the 128 MiB CMA pool of
# the PYNQ v3 kernel, so a big batch is split rather than failing to allocate.
MAX_BUFFER_BYTES = 16 << 20
_STATUS_FIELDS = regmap.REGISTERS["STATUS"]["fields"]
_ERROR_CAUSE_FIELDS = regmap.REGISTERS["ERROR_CAUSE"]["fields"]


class _Engine:
    """The accelerator as the taker of the MM2S stream, for the DMA reset (a ``StreamSink``)."""

    def __init__(self, regs: CountingMmio) -> None:
        self.regs = regs
        self.status = 0

    def idle(self) -> bool:
        self.status = self.regs.read(regmap.REG_STATUS)
        return bool(self.status & regmap.STATUS_IDLE) and not self.status & regmap.STATUS_DRAINING

    def take_packet_end(self) -> None:
        # A one-image batch: its framing check swallows the beats up to TLAST.
        log.info("AXI DMA reset waits for a stream taker: one-image drain batch")
        self.regs.write(regmap.REG_N_IMAGES, 1)
        self.regs.write(regmap.REG_CTRL, regmap.CTRL_START)

    def stop_taking(self) -> None:
        self.regs.write(regmap.REG_CTRL, regmap.CTRL_SOFT_RESET)

    def describe(self) -> str:
        return f"mnist_accel STATUS={describe_bits(self.status, _STATUS_FIELDS)}"


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
    _decode = staticmethod(decode_records)

    def __init__(self, description: dict[str, Any], timeout_s: float = DEFAULT_TIMEOUT_S):
        super().__init__(description)
        self.timeout_s = float(timeout_s)
        self._count = AccessCount()  # shared by the accelerator's and the DMA's window
        self._regs = CountingMmio(self.mmio, self._count)
        self._dma: Any = None
        self._channels: DmaPair | None = None
        self.max_images_per_transfer = 0
        self._buffers = DmaBuffers(
            (_IN_BYTES_PER_IMAGE, np.uint8), (_OUT_WORDS_PER_IMAGE, np.uint32), "images"
        )
        self._in_flight = False
        self._cycles_per_image: float | None = None
        self._owner_tag: int | None = None  # our OWNER_TAG token; None: no usable weights
        self._owner_lost = False  # another owner took the accelerator from us
        self.fclk_mhz: float = regmap.FCLK_MHZ
        banks = description.get("parameters", {}).get("NUM_BANKS")
        self._described_banks = None if banks is None else int(banks)
        self.num_banks = self.check_config()

    @property
    def register_accesses(self) -> int:
        """Register accesses made by this driver so far (accelerator and DMA)."""
        return self._count.value

    @register_accesses.setter
    def register_accesses(self, value: int) -> None:
        self._count.value = int(value)

    # --- configuration ----------------------------------------------------------------

    def check_config(self) -> int:
        """Read ID, NUM_BANKS and LAYER_SIZES; return NUM_BANKS.

        Raises
        ------
        ConfigError
            A register value differs from what this driver (or the description) expects.
        """
        ident = self._regs.read(regmap.REG_ID)
        if ident != regmap.ID_VALUE:
            raise ConfigError(
                f"mnist_accel register ID (0x{regmap.REG_ID:02X}) reads 0x{ident:08X}, "
                f"expected 0x{regmap.ID_VALUE:08X}: wrong bitstream or IP version"
            )
        banks = self._regs.read(regmap.REG_NUM_BANKS)
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
        sizes = self._regs.read(regmap.REG_LAYER_SIZES)
        if sizes != regmap.LAYER_SIZES_VALUE:
            fields = regmap.REGISTERS["LAYER_SIZES"]["fields"]
            got = {k: sizes >> o & m for k in fields for o, m in [field_mask(fields, k)]}
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
        channels = DmaPair(dma, self._count, regmap.STREAM_DATA_WIDTH)
        self._dma = dma
        self._channels = channels
        self.max_images_per_transfer = min(
            min(dma.buffer_max_size, MAX_BUFFER_BYTES) // _IN_BYTES_PER_IMAGE,
            dma.buffer_max_size // _OUT_BYTES_PER_IMAGE,
            _N_IMAGES_MAX,
        )
        if self.max_images_per_transfer < 1:
            width = dma.description.get("parameters", {}).get("c_sg_length_width")
            raise ConfigError(
                f"axi_dma max transfer {dma.buffer_max_size} bytes (c_sg_length_width={width}) "
                f"is smaller than one image ({_IN_BYTES_PER_IMAGE} bytes)"
            )

    def _pair(self) -> DmaPair:
        if self._channels is None:
            raise ConfigError("no AXI DMA attached: call attach_dma(dma) first")
        return self._channels

    @property
    def dma(self) -> Any:
        """The attached ``pynq.lib.dma.DMA`` (None until :meth:`attach_dma`)."""
        return self._dma

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
        elif self._regs.read(regmap.REG_STATUS) & regmap.STATUS_BUSY:
            log.warning("mnist_accel busy while loading weights: soft reset")
            self._regs.write(regmap.REG_CTRL, regmap.CTRL_SOFT_RESET)
            idle, what = regmap.STATUS_IDLE, "mnist_accel STATUS.IDLE not set after SOFT_RESET"
            self._regs.wait_bits(regmap.REG_STATUS, idle, idle, Deadline(self.timeout_s), what)
        packed = regmap.pack_weights(model.w1, model.w2, self.num_banks)
        self._regs.write_block(regmap.WEIGHT_WINDOW_OFFSET, packed)
        self._regs.write(regmap.REG_SHIFT_L1, model.shift_l1)
        self._regs.write(regmap.REG_SHIFT_L2, model.shift_l2)
        if verify:
            self._verify_weights(model, packed)
        self._claim_ownership()
        log.debug("loaded %d weight bytes, NUM_BANKS=%d", packed.nbytes, self.num_banks)

    # --- ownership (docs/architecture.md, "Ownership") ----------------------------------

    def _claim_ownership(self) -> None:
        """Write a fresh random nonzero token to OWNER_TAG; any weight or shift write clears it."""
        token = secrets.randbits(32) or 1
        self._regs.write(regmap.REG_OWNER_TAG, token)
        self._owner_tag = token

    def _ownership_lost(self) -> AcceleratorOwnershipLost | None:
        """One OWNER_TAG read: the error to raise if it no longer holds this driver's token."""
        tag = self._regs.read(regmap.REG_OWNER_TAG)
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

    def _verify_weights(self, model: Model, packed: np.ndarray) -> None:
        back = self._regs.read_block(regmap.WEIGHT_WINDOW_OFFSET, packed.nbytes).view(np.int8)
        bad = np.flatnonzero(back != packed)
        if bad.size:
            first = int(bad[0])
            name = weight_name(first, self.num_banks)
            raise AcceleratorError(
                f"weight verify failed: {bad.size} of {packed.nbytes} bytes differ in the "
                f"mnist_accel weight window (0x{regmap.WEIGHT_WINDOW_OFFSET:05X}); first at "
                f"byte 0x{regmap.WEIGHT_WINDOW_OFFSET + first:05X} = "
                f"{name}: wrote {int(packed[first])}, read {int(back[first])}"
            )
        for offset, name, want in (
            (regmap.REG_SHIFT_L1, "SHIFT_L1", model.shift_l1),
            (regmap.REG_SHIFT_L2, "SHIFT_L2", model.shift_l2),
        ):
            got = self._regs.read(offset)
            if got != want:
                raise AcceleratorError(
                    f"register {name} (0x{offset:02X}) reads {got}, wrote {want}"
                )

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
        self._pair()  # ConfigError before attach_dma
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

    def _fail(self, error: type[AcceleratorError], message: str) -> AcceleratorError:
        """The error for a failed batch, after its recovery: ``error(message + '; DMA and
        accelerator reset')``, or ownership lost (then nothing is reset under the new owner)."""
        lost = self._ownership_lost()
        if lost is not None:
            return lost
        self._recover()
        return error(f"{message}; DMA and accelerator reset")

    def _transfer(self, chunk: np.ndarray, read_cycles: bool) -> tuple[np.ndarray, int | None]:
        pair = self._pair()
        if self._in_flight:
            # A previous call was interrupted (e.g. KeyboardInterrupt) mid-transfer.
            log.warning("previous transfer did not finish: resetting DMA and accelerator")
            self._recover()
        n = chunk.shape[0]
        src, dst = self._buffers.get(n)
        pair.check_reach(src, dst)
        src[:] = chunk
        src.flush()
        dst[:] = POISON  # a record the DMA does not overwrite can never pass _decode
        dst.flush()
        # Written every batch: an overlay download by someone else resets it to
        # 0, and a START of 0 images would only end at the deadline.
        self._regs.write(regmap.REG_N_IMAGES, n)
        self._in_flight = True
        out_bytes = n * _OUT_BYTES_PER_IMAGE
        pair.s2mm.start(dst.physical_address, out_bytes)
        self._regs.write(regmap.REG_CTRL, regmap.CTRL_START)
        pair.mm2s.start(src.physical_address, n * _IN_BYTES_PER_IMAGE)
        # The time the batch should take at the last CYCLES per image (0 before the first).
        expected = n * (self._cycles_per_image or 0.0) / (self.fclk_mhz * 1e6)
        deadline = Deadline(self.timeout_s + 2 * expected)
        fault = pair.wait_received(deadline, expected, f"batch of {n} images")
        if fault is not None:
            message = fault.message or (
                f"batch of {n} images not done within {deadline.seconds:.3f} s "
                f"(timeout_s={self.timeout_s})"
            )
            detail = self._describe_state(None, s2mm_sr=fault.s2mm_sr, mm2s_sr=fault.mm2s_sr)
            raise self._fail(fault.error, f"{message}: {detail}")
        received = pair.s2mm.transferred()
        if received != out_bytes:
            detail = self._describe_state(None)
            raise self._fail(
                AcceleratorError,
                f"AXI DMA S2MM_LENGTH reads {received} bytes, expected {out_bytes} for "
                f"{n} images: the result packet was "
                f"{'short' if received < out_bytes else 'long'}: {detail}",
            )
        status = self._regs.read(regmap.REG_STATUS)
        # DONE follows the last result beat by a few clock cycles; on a board
        # the poll above is far slower than that, so this loop rarely turns.
        while status & regmap.STATUS_BUSY and not status & regmap.STATUS_ERROR:
            if deadline.passed():
                detail = self._describe_state(status)
                raise self._fail(
                    AcceleratorTimeout,
                    f"mnist_accel still BUSY after the DMA received all {n} results: {detail}",
                )
            status = self._regs.read(regmap.REG_STATUS)
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
        cycles = self._regs.read(regmap.REG_CYCLES) if read_cycles else None
        if cycles:
            self._cycles_per_image = cycles / n
        self._in_flight = False
        dst.invalidate()
        return np.array(dst, dtype=np.uint32), cycles

    def _framing_hint(self) -> str:
        cause = self._regs.read(regmap.REG_ERROR_CAUSE)
        if cause & regmap.ERR_MISSING_TLAST:
            return (
                " (MISSING_TLAST: more beats than N images reached the accelerator, e.g. "
                "residual beats of an aborted transfer, or a stream without TLAST)"
            )
        return ""

    def _describe_state(
        self, status: int | None, s2mm_sr: int | None = None, mm2s_sr: int | None = None
    ) -> str:
        """Decode STATUS, ERROR_CAUSE, IMAGES_DONE and both DMASR values into one line."""
        if status is None:
            status = self._regs.read(regmap.REG_STATUS)
        cause = self._regs.read(regmap.REG_ERROR_CAUSE)
        done = self._regs.read(regmap.REG_IMAGES_DONE)
        return (
            f"STATUS={describe_bits(status, _STATUS_FIELDS)} "
            f"ERROR_CAUSE={describe_bits(cause, _ERROR_CAUSE_FIELDS)} "
            f"IMAGES_DONE={done} {self._pair().describe(s2mm_sr, mm2s_sr)}"
        )

    # --- recovery (docs/architecture.md#recovery) ---------------------------------------

    def _recover(self) -> None:
        """Reset the AXI DMA and the accelerator together, leave both idle, restart the DMA.

        1. CTRL.SOFT_RESET: the accelerator drops its batch and flushes its streams.
        2. DMACR.Reset, which resets both channels.
        3. Wait until Reset clears and STATUS.IDLE is 1, giving the MM2S packet
           end a taker (a one-image batch) if the reset waits for one.
        4. RS=1 on both channels, as pynq's DMA driver left them.

        Why each step, and what the hardware does meanwhile: docs/architecture.md#recovery.

        Raises
        ------
        AcceleratorTimeout
            The pair did not come back within ``timeout_s``; reload the overlay.
        """
        deadline = Deadline(self.timeout_s)
        self._in_flight = False
        self._regs.write(regmap.REG_CTRL, regmap.CTRL_SOFT_RESET)
        self._pair().reset(deadline, _Engine(self._regs))
        log.info("mnist_accel and axi_dma reset")

    @property
    def _out_buf(self) -> Any:  # what the last transfer left (tests read it)
        return self._buffers.dst

    def _free_buffers(self) -> None:
        """Free the DMA buffers; the next batch allocates them again."""
        self._buffers.free()

    def close(self) -> None:
        """Free the DMA buffers (idempotent)."""
        self._buffers.free()
        self._dma = None
        self._channels = None
