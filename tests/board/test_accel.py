"""MnistAccel on the virtual board through the real pynq stack: lean batches, splitting,
deadlines and recovery, weight verification, ID/configuration checks.

Golden values come from ``tests/reference.py``; the weight a corrupted window
byte belongs to is computed here from the contract's layout formula, not with
the driver's packing code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from helpers import model_logits, random_images, random_model
from pynq import MMIO
from reference import reference_digits
from sim_hooks import both_boards, reset_counters

from pynq_mnist.backends.cpu import CpuBackend
from pynq_mnist.backends.sim import SimBackend
from pynq_mnist.board.accel import MAX_BUFFER_BYTES, MnistAccel
from pynq_mnist.errors import (
    AcceleratorError,
    AcceleratorOwnershipLost,
    AcceleratorTimeout,
    BufferAllocationError,
    ConfigError,
)
from pynq_mnist.hardware import regmap
from pynq_mnist.model import Model

pytestmark = pytest.mark.sim

MAX_ACCESSES_PER_BATCH = 12


@pytest.fixture
def sim(
    rng: np.random.Generator, memory_mapped: bool, board_key: str
) -> Iterator[tuple[SimBackend, Model]]:
    backend = SimBackend(timeout_s=2.0, memory_mapped=memory_mapped, board=board_key)
    model = random_model(rng)
    backend.load(model)
    yield backend, model
    backend.close()


def window_byte_name(byte: int, num_banks: int) -> str:
    """The weight at window byte ``byte``, from the architecture's layout formula."""
    npl = regmap.N_HID // num_banks
    address, bank = divmod(byte, num_banks)
    if address < regmap.N_IN * npl:
        j, i = divmod(address, regmap.N_IN)
        return f"W1[{j * num_banks + bank}][{i}]"
    o, j = divmod(address - regmap.N_IN * npl, npl)
    return f"W2[{o}][{j * num_banks + bank}]"


# --- the lean batch ------------------------------------------------------------


def test_batch_is_exact_and_costs_at_most_12_register_accesses(
    sim: tuple[SimBackend, Model], rng: np.random.Generator
) -> None:
    backend, model = sim
    dev = backend.device
    for n in (37, 37, 1, 64):
        images = random_images(rng, n)
        reset_counters(dev)
        logits, digits, stats = backend.accel.classify(images, read_cycles=True)
        accesses = sum(dev.register_accesses.values())
        assert accesses <= MAX_ACCESSES_PER_BATCH, dev.register_accesses
        assert stats["register_accesses"] == accesses  # the driver's own count is honest
        assert stats["transfers"] == 1 and stats["images"] == n
        assert stats["cycles"] > 0
        want = model_logits(model, images)
        np.testing.assert_array_equal(logits, want)
        np.testing.assert_array_equal(digits, reference_digits(want))


def test_register_count_is_not_vacuous(sim: tuple[SimBackend, Model], rng) -> None:
    """The counter sees every access: a batch costs at least the 7 the protocol needs."""
    backend, _ = sim
    reset_counters(backend.device)
    backend.accel.classify(random_images(rng, 3), read_cycles=True)
    assert sum(backend.device.register_accesses.values()) >= 7


@both_boards
def test_buffers_are_reused_between_batches(sim: tuple[SimBackend, Model], rng) -> None:
    backend, _ = sim
    dma = backend.device.description(regmap.DMA_INSTANCE)
    mmio = MMIO(dma["phys_addr"], dma["addr_range"], device=backend.device)
    sa = regmap.DMA_REGISTERS["MM2S_SA"]["address_offset"]
    da = regmap.DMA_REGISTERS["S2MM_DA"]["address_offset"]
    backend.accel.classify(random_images(rng, 20))
    first = (mmio.read(sa), mmio.read(da))
    backend.accel.classify(random_images(rng, 20))
    backend.accel.classify(random_images(rng, 5))
    assert (mmio.read(sa), mmio.read(da)) == first


def test_batches_split_to_the_dma_max_transfer(rng: np.random.Generator) -> None:
    # c_sg_length_width=12: at most 4095 bytes per transfer = 5 images of 784 bytes.
    backend = SimBackend(timeout_s=2.0, dma_parameters={"c_sg_length_width": "12"})
    try:
        model = random_model(rng)
        backend.load(model)
        assert backend.dma.buffer_max_size == 4095
        assert backend.accel.max_images_per_transfer == 5
        images = random_images(rng, 23)
        reset_counters(backend.device)
        logits, digits, stats = backend.accel.classify(images)
        assert stats["transfers"] == 5
        assert sum(backend.device.register_accesses.values()) <= 5 * MAX_ACCESSES_PER_BATCH
        want = model_logits(model, images)
        np.testing.assert_array_equal(logits, want)
        np.testing.assert_array_equal(digits, reference_digits(want))
    finally:
        backend.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "num_banks", [b for b in regmap.SUPPORTED_NUM_BANKS if b != regmap.DEFAULT_NUM_BANKS]
)
def test_other_bank_counts_are_exact(rng: np.random.Generator, num_banks: int) -> None:
    backend = SimBackend(num_banks=num_banks)
    try:
        assert backend.accel.num_banks == num_banks
        model = random_model(rng)
        backend.load(model)
        images = random_images(rng, 12)
        logits, digits, _ = backend.accel.classify(images)
        want = model_logits(model, images)
        np.testing.assert_array_equal(logits, want)
        np.testing.assert_array_equal(digits, reference_digits(want))
    finally:
        backend.close()


# --- deadlines and recovery -------------------------------------------------------


@both_boards
def test_stall_times_out_with_decoded_status_then_recovers(
    sim: tuple[SimBackend, Model], rng: np.random.Generator
) -> None:
    backend, model = sim
    backend.accel.timeout_s = 1.0
    images = random_images(rng, 4)
    backend.device.inject("stall")
    t0 = time.monotonic()
    with pytest.raises(AcceleratorTimeout) as info:
        backend.accel.classify(images)
    elapsed = time.monotonic() - t0
    assert elapsed < 1.0 + 1.5, f"timeout took {elapsed:.2f} s"
    message = str(info.value)
    for part in ("STATUS=", "BUSY", "ERROR_CAUSE=", "IMAGES_DONE=", "MM2S_DMASR=", "S2MM_DMASR="):
        assert part in message, message
    assert "Idle" not in message.split("S2MM_DMASR=")[1], message
    backend.device.clear_faults()
    logits, _, _ = backend.accel.classify(images)
    np.testing.assert_array_equal(logits, model_logits(model, images))


@both_boards
def test_interrupted_call_is_recovered_by_the_next(
    sim: tuple[SimBackend, Model],
    rng: np.random.Generator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend, model = sim
    backend.device.inject("stall")

    def interrupt(seconds: float) -> None:  # Ctrl-C while waiting between polls
        raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", interrupt)
    with pytest.raises(KeyboardInterrupt):
        backend.accel.classify(random_images(rng, 4))
    monkeypatch.undo()
    backend.device.clear_faults()
    # Without recovery the stalled batch would complete now and its first
    # three records would come back as the results of these three images.
    images = random_images(rng, 3)
    logits, _, _ = backend.accel.classify(images)
    np.testing.assert_array_equal(logits, model_logits(model, images))
    assert "did not finish" in caplog.text


@both_boards
def test_framing_error_is_decoded_then_recovers(
    sim: tuple[SimBackend, Model], rng: np.random.Generator
) -> None:
    backend, model = sim
    images = random_images(rng, 3)
    backend.device.inject("drop_tlast")
    with pytest.raises(AcceleratorError) as info:
        backend.accel.classify(images)
    assert not isinstance(info.value, AcceleratorTimeout)
    assert "ERROR" in str(info.value) and "MISSING_TLAST" in str(info.value)
    backend.device.clear_faults()
    logits, _, _ = backend.accel.classify(images)
    np.testing.assert_array_equal(logits, model_logits(model, images))


def test_random_stream_pauses_keep_results_exact(
    sim: tuple[SimBackend, Model], rng: np.random.Generator
) -> None:
    backend, model = sim
    backend.device.inject("random_stream", seed=7, idle_permille=300, backpressure_permille=300)
    images = random_images(rng, 9)
    logits, _, _ = backend.accel.classify(images)
    np.testing.assert_array_equal(logits, model_logits(model, images))


# --- weights -------------------------------------------------------------------------


@both_boards
@pytest.mark.parametrize("layer", [1, 2])
def test_verify_names_the_corrupted_weight(
    sim: tuple[SimBackend, Model], rng: np.random.Generator, layer: int
) -> None:
    backend, model = sim
    split = regmap.N_IN * regmap.N_HID
    byte = int(
        rng.integers(0, split) if layer == 1 else rng.integers(split, regmap.WEIGHT_WINDOW_BYTES)
    )
    word = regmap.WEIGHT_WINDOW_OFFSET + (byte & ~3)
    backend.device.model.fault_corrupt_write(word, word + 4, 8 * (byte % 4) + 6)
    with pytest.raises(AcceleratorError) as info:
        backend.load(model)
    message = str(info.value)
    assert window_byte_name(byte, backend.accel.num_banks) in message, message
    assert f"1 of {regmap.WEIGHT_WINDOW_BYTES} bytes" in message, message
    backend.load(model)  # the fault fired once: a clean reload verifies


def test_window_byte_name_formula_agrees_with_packing() -> None:
    """Cross-check of the test's own formula on a few bytes (it must be able to fail)."""
    w1 = np.zeros((regmap.N_HID, regmap.N_IN), np.int8)
    w2 = np.zeros((regmap.N_OUT, regmap.N_HID), np.int8)
    w1[77, 300] = 1
    w2[9, 101] = 1
    for banks in regmap.SUPPORTED_NUM_BANKS:
        hot = np.flatnonzero(regmap.pack_weights(w1, w2, banks)).tolist()
        assert [window_byte_name(b, banks) for b in hot] == ["W1[77][300]", "W2[9][101]"]


# --- identification ------------------------------------------------------------------


@both_boards
def test_wrong_id_register_is_config_error(sim: tuple[SimBackend, Model], monkeypatch) -> None:
    backend, model = sim
    dev = backend.device
    real_read = dev.read_registers
    bad_id = regmap.ID_VALUE + (1 << 8)  # major version 2
    id_address = dev.description(regmap.ACCEL_INSTANCE)["phys_addr"] + regmap.REG_ID

    def read(address: int, length: int) -> bytes:
        if address == id_address and length == 4:
            return bad_id.to_bytes(4, "little")
        return real_read(address, length)

    monkeypatch.setattr(dev, "read_registers", read)
    with pytest.raises(
        ConfigError, match=rf"ID \(0x00\) reads 0x{bad_id:08X}, expected 0x{regmap.ID_VALUE:08X}"
    ):
        backend.load(model)
    with pytest.raises(ConfigError, match="ID"):
        MnistAccel(dev.description(regmap.ACCEL_INSTANCE))


def test_num_banks_parameter_mismatch_is_config_error(sim: tuple[SimBackend, Model]) -> None:
    backend, _ = sim
    banks = backend.device.num_banks
    other = next(b for b in regmap.SUPPORTED_NUM_BANKS if b != banks)
    desc = backend.device.description(regmap.ACCEL_INSTANCE)
    assert desc["parameters"]["NUM_BANKS"] == str(banks)
    desc["parameters"]["NUM_BANKS"] = str(other)
    with pytest.raises(
        ConfigError, match=rf"NUM_BANKS \(0x04\) reads {banks}.*NUM_BANKS is {other}"
    ):
        MnistAccel(desc)


# --- arguments ---------------------------------------------------------------------------


def test_bad_images_are_value_errors(sim: tuple[SimBackend, Model]) -> None:
    backend, _ = sim
    for bad in (
        np.zeros((2, regmap.N_IN), np.float32),
        np.zeros((2, 28, 28), np.uint8),
        np.zeros((0, regmap.N_IN), np.uint8),
    ):
        with pytest.raises(ValueError):
            backend.accel.classify(bad)


def test_classify_before_weights_is_config_error() -> None:
    backend = SimBackend()
    try:
        with pytest.raises(ConfigError, match="load_weights"):
            backend.accel.classify(np.zeros((1, regmap.N_IN), np.uint8))
    finally:
        backend.close()


# --- trusting nothing: buffers, stale output, ownership ------------------------------


def test_transfers_are_capped_at_16_mib_per_buffer(sim: tuple[SimBackend, Model]) -> None:
    backend, _ = sim
    cap = backend.accel.max_images_per_transfer
    assert cap == MAX_BUFFER_BYTES // regmap.N_IN  # the DMA alone would allow 85k images
    assert cap * regmap.N_IN <= 16 << 20 < (cap + 1) * regmap.N_IN


@both_boards
def test_allocation_failure_is_the_package_error_with_advice(
    sim: tuple[SimBackend, Model], rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, model = sim

    def no_cma(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Failed to allocate Memory!")

    monkeypatch.setattr(backend.device, "allocate", no_cma)
    backend.accel._free_buffers()
    with pytest.raises(BufferAllocationError, match=r"128 MiB of CMA") as info:
        backend.accel.classify(random_images(rng, 3))
    assert "3 images" in str(info.value) and "Failed to allocate" in str(info.value)
    monkeypatch.undo()
    images = random_images(rng, 3)
    np.testing.assert_array_equal(backend.accel.classify(images)[0], model_logits(model, images))


@both_boards
def test_output_buffer_is_poisoned_so_stale_records_cannot_pass(
    sim: tuple[SimBackend, Model], rng: np.random.Generator
) -> None:
    backend, _ = sim
    backend.accel.classify(random_images(rng, 6))  # the buffer now holds 6 good records
    backend.device.inject("short_s2mm", nbytes=2 * 4 * regmap.RESULT_WORDS_PER_IMAGE)
    with pytest.raises(AcceleratorError, match="S2MM_LENGTH reads 88 bytes, expected 264"):
        backend.accel.classify(random_images(rng, 6))
    info_words = np.array(backend.accel._out_buf[2:6, regmap.N_OUT])
    assert (info_words == 0xFFFFFFFF).all()  # poison, not the previous batch's records
    records = np.array(backend.accel._out_buf[:6])
    with pytest.raises(AcceleratorError, match="4 of 6 result records were never written"):
        backend.accel._decode(records)  # what would catch them if LENGTH were not read


@both_boards
def test_two_backends_on_one_board_never_give_a_silent_wrong_result(
    rng: np.random.Generator, board_key: str
) -> None:
    """Ownership: a second backend downloading the overlay or loading weights is detected."""
    first = SimBackend(timeout_s=2.0, board=board_key)
    try:
        model_a, model_b = random_model(rng), random_model(rng)
        cpu_a, cpu_b = CpuBackend(), CpuBackend()
        cpu_a.load(model_a)
        cpu_b.load(model_b)
        images = random_images(rng, 8)
        first.load(model_a)
        np.testing.assert_array_equal(first.infer(images), cpu_a.infer(images))

        second = SimBackend(timeout_s=2.0, device=first.device)  # downloads the overlay again
        t0 = time.monotonic()
        with pytest.raises(AcceleratorOwnershipLost, match="load_weights again"):
            first.infer(images)
        assert time.monotonic() - t0 < first.accel.timeout_s  # after its batch, not at the deadline
        second.load(model_b)
        with pytest.raises(AcceleratorOwnershipLost, match="another process or backend"):
            first.infer(images)  # first still has no claim: it never silently computes
        np.testing.assert_array_equal(second.infer(images), cpu_b.infer(images))

        first.load(model_a)  # taking it back makes the second one the loser
        reset_counters(first.device)
        np.testing.assert_array_equal(first.infer(images), cpu_a.infer(images))
        assert sum(first.device.register_accesses.values()) <= MAX_ACCESSES_PER_BATCH
        with pytest.raises(AcceleratorOwnershipLost, match=r"OWNER_TAG \(0x30\) reads"):
            second.infer(images)  # detected after its batch: the results are discarded
        np.testing.assert_array_equal(first.infer(images), cpu_a.infer(images))
        second.accel.close()
    finally:
        first.close()
