"""Model file format: round trip and every validation error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pynq_mnist import load_model, save_model
from pynq_mnist.errors import ModelFormatError
from pynq_mnist.model import Model


def random_arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "w1": rng.integers(-128, 128, (128, 784), dtype=np.int8),
        "w2": rng.integers(-128, 128, (10, 128), dtype=np.int8),
        "shift_l1": np.array(9),
        "shift_l2": np.array(4),
    }


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    with open(path, "wb") as file:
        np.savez(file, **arrays)
    return path


def test_seed_format_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    arrays = random_arrays(rng)
    seed_file = write_npz(tmp_path / "seed.npz", **arrays)
    model = load_model(seed_file)
    assert np.array_equal(model.w1, arrays["w1"]) and model.w1.dtype == np.int8
    assert np.array_equal(model.w2, arrays["w2"])
    assert (model.shift_l1, model.shift_l2) == (9, 4)
    assert model.metadata == {}

    saved = tmp_path / "copy.model"  # no .npz suffix: must not be renamed
    save_model(Model.from_arrays(**arrays, metadata={"recipe": "qat"}), saved)
    again = load_model(saved)
    assert again == model and again.metadata == {"recipe": "qat"}
    with np.load(saved, allow_pickle=False) as npz:
        assert set(npz.files) == {"w1", "w2", "shift_l1", "shift_l2", "metadata"}
        assert npz["shift_l1"].shape == ()
        assert json.loads(str(npz["metadata"])) == {"recipe": "qat"}


def test_weights_are_read_only(rng: np.random.Generator) -> None:
    model = Model.from_arrays(**random_arrays(rng))
    with pytest.raises(ValueError):
        model.w1[0, 0] = 1


def test_wider_integer_dtype_inside_int8_range_is_accepted(rng: np.random.Generator) -> None:
    arrays = random_arrays(rng)
    model = Model.from_arrays(arrays["w1"].astype(np.int32), arrays["w2"], 0, 31)
    assert model.w1.dtype == np.int8 and np.array_equal(model.w1, arrays["w1"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"w1": None}, "missing key(s) w1"),
        ({"shift_l2": None}, "missing key(s) shift_l2"),
        ({"w1": np.zeros((784, 128), np.int8)}, "'w1' has shape (784, 128), expected (128, 784)"),
        ({"w2": np.zeros((10, 127), np.int8)}, "'w2' has shape (10, 127)"),
        ({"w1": np.zeros((128, 784), np.float32)}, "'w1' has dtype float32, expected int8"),
        ({"w2": np.full((10, 128), 128, np.int16)}, "'w2' values span 128..128, outside int8"),
        ({"w1": np.full((128, 784), -129, np.int32)}, "outside int8 -128..127"),
        ({"shift_l1": np.array(32)}, "'shift_l1' is 32, outside 0..31"),
        ({"shift_l2": np.array(-1)}, "'shift_l2' is -1, outside 0..31"),
        ({"shift_l1": np.array(3.0)}, "'shift_l1' must be one integer"),
        ({"shift_l1": np.array([1, 2])}, "'shift_l1' must be one integer"),
        ({"metadata": np.array("{not json")}, "'metadata' is not valid JSON"),
        ({"metadata": np.array("[1, 2]")}, "'metadata' must be a JSON object"),
    ],
)
def test_validation_errors(
    tmp_path: Path, rng: np.random.Generator, change: dict, message: str
) -> None:
    arrays = random_arrays(rng)
    for key, value in change.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    path = write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ModelFormatError) as info:
        load_model(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_not_an_npz(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    path.write_text("hello, I am not a zip file\n")
    with pytest.raises(ModelFormatError, match=r"not a valid \.npz model file"):
        load_model(path)


def test_pickled_object_array_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    arrays = random_arrays(rng)
    arrays["w1"] = np.array([object()] * 4, dtype=object)
    with open(tmp_path / "pickled.npz", "wb") as file:
        np.savez(file, **arrays)
    with pytest.raises(ModelFormatError, match=r"pickled\.npz"):
        load_model(tmp_path / "pickled.npz")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match="no such model file"):
        load_model(tmp_path / "absent.npz")
    with pytest.raises(ModelFormatError, match="is a directory"):
        load_model(tmp_path)
