"""The int8 model file: load, validate, save.

File format (numpy ``.npz``, never pickled): ``w1`` int8 [128, 784],
``w2`` int8 [10, 128], ``shift_l1`` and ``shift_l2`` 0-d integers in 0..31,
and optionally ``metadata``, a 0-d string holding a JSON object, and
``input_transform``, a 0-d string naming a transform the pixels go through
before the network (``"deskew"``, see ``pynq_mnist.deskew``); absent means none.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .deskew import check_transform
from .errors import ModelFormatError

N_IN = 784
N_HID = 128
N_OUT = 10
MAX_SHIFT = 31
INT8_MIN, INT8_MAX = -128, 127

REQUIRED_KEYS = ("w1", "w2", "shift_l1", "shift_l2")
METADATA_KEY = "metadata"
TRANSFORM_KEY = "input_transform"
DEFAULT_MODEL = "default.npz"


@dataclass(frozen=True, eq=False)
class Model:
    """A validated shift-only int8 MLP (784-128-10, no bias)."""

    w1: np.ndarray
    w2: np.ndarray
    shift_l1: int
    shift_l2: int
    metadata: dict[str, Any] = field(default_factory=dict)
    input_transform: str | None = None  # applied to the uint8 pixels first (pynq_mnist.deskew)

    @classmethod
    def from_arrays(
        cls,
        w1: Any,
        w2: Any,
        shift_l1: Any,
        shift_l2: Any,
        metadata: dict[str, Any] | None = None,
        source: str = "model",
        input_transform: Any = None,
    ) -> Model:
        """Validate raw arrays and build a Model (read-only int8 copies).

        Raises
        ------
        ModelFormatError
            Wrong shape, dtype, value range, shift or transform; ``source`` names the file.
        """
        weights = {
            "w1": _int8_matrix(w1, "w1", (N_HID, N_IN), source),
            "w2": _int8_matrix(w2, "w2", (N_OUT, N_HID), source),
        }
        shifts = {
            "shift_l1": _shift(shift_l1, "shift_l1", source),
            "shift_l2": _shift(shift_l2, "shift_l2", source),
        }
        transform = check_transform(input_transform, source)
        return cls(**weights, **shifts, metadata=dict(metadata or {}), input_transform=transform)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Model):
            return NotImplemented
        return (
            np.array_equal(self.w1, other.w1)
            and np.array_equal(self.w2, other.w2)
            and self.shift_l1 == other.shift_l1
            and self.shift_l2 == other.shift_l2
            and self.input_transform == other.input_transform
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def logit_scale(self) -> float:
        """Float value of one integer logit unit, for softmax confidences.

        Taken from metadata when the exporter recorded it; otherwise the seed
        recipe's convention (``logits >> s2`` is in units of 10/127).
        """
        scale = self.metadata.get("logit_scale")
        if isinstance(scale, (int, float)) and scale > 0:
            return float(scale)
        return 10.0 / 127.0 / 2.0**self.shift_l2


def _int8_matrix(value: Any, key: str, shape: tuple[int, int], source: str) -> np.ndarray:
    array = np.asarray(value)
    if array.shape != shape:
        raise ModelFormatError(f"{source}: '{key}' has shape {array.shape}, expected {shape}")
    if array.dtype != np.int8:
        if array.dtype.kind not in "iu":
            raise ModelFormatError(
                f"{source}: '{key}' has dtype {array.dtype}, expected int8 (integers)"
            )
        low, high = int(array.min()), int(array.max())
        if low < INT8_MIN or high > INT8_MAX:
            raise ModelFormatError(
                f"{source}: '{key}' values span {low}..{high}, outside int8 {INT8_MIN}..{INT8_MAX}"
            )
    result = np.array(array, dtype=np.int8, order="C")
    result.setflags(write=False)
    return result


def _shift(value: Any, key: str, source: str) -> int:
    array = np.asarray(value)
    if array.shape not in ((), (1,)) or array.dtype.kind not in "iu":
        raise ModelFormatError(
            f"{source}: '{key}' must be one integer, got dtype {array.dtype} shape {array.shape}"
        )
    shift = int(array.reshape(()))
    if not 0 <= shift <= MAX_SHIFT:
        raise ModelFormatError(f"{source}: '{key}' is {shift}, outside 0..{MAX_SHIFT}")
    return shift


def default_model_path() -> Path:
    """Path of the model shipped inside the package."""
    return Path(str(resources.files("pynq_mnist") / "models" / DEFAULT_MODEL))


def load_model(path: str | Path | None = None) -> Model:
    """Load and validate a model file; ``None`` loads the bundled default.

    Raises
    ------
    ModelFormatError
        The file is missing, not an npz, or breaks the format.
    """
    file = Path(path) if path is not None else default_model_path()
    try:
        with np.load(file, allow_pickle=False) as npz:
            missing = [key for key in REQUIRED_KEYS if key not in npz.files]
            if missing:
                raise ModelFormatError(f"{file}: missing key(s) {', '.join(missing)}")
            arrays = {key: npz[key] for key in REQUIRED_KEYS}
            metadata = _read_metadata(npz[METADATA_KEY], file) if METADATA_KEY in npz.files else {}
            transform = (
                _read_transform(npz[TRANSFORM_KEY], file) if TRANSFORM_KEY in npz.files else None
            )
    except FileNotFoundError:
        raise ModelFormatError(f"{file}: no such model file") from None
    except IsADirectoryError:
        raise ModelFormatError(f"{file}: is a directory, expected an .npz model file") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, ModelFormatError):
            raise
        raise ModelFormatError(f"{file}: not a valid .npz model file ({exc})") from None
    return Model.from_arrays(
        **arrays, metadata=metadata, source=str(file), input_transform=transform
    )


def _read_transform(value: np.ndarray, file: Path) -> str:
    if value.shape != () or value.dtype.kind != "U":
        raise ModelFormatError(f"{file}: 'input_transform' must be a string")
    return str(value)


def _read_metadata(value: np.ndarray, file: Path) -> dict[str, Any]:
    if value.shape != () or value.dtype.kind != "U":
        raise ModelFormatError(f"{file}: 'metadata' must be a JSON string")
    try:
        metadata = json.loads(str(value))
    except json.JSONDecodeError as exc:
        raise ModelFormatError(f"{file}: 'metadata' is not valid JSON ({exc.msg})") from None
    if not isinstance(metadata, dict):
        raise ModelFormatError(f"{file}: 'metadata' must be a JSON object")
    return metadata


def save_model(model: Model, path: str | Path) -> None:
    """Write ``model`` in the seed's npz format (plus JSON metadata and any input transform)."""
    arrays = {
        "w1": model.w1,
        "w2": model.w2,
        "shift_l1": np.array(model.shift_l1, dtype=np.int64),
        "shift_l2": np.array(model.shift_l2, dtype=np.int64),
        METADATA_KEY: np.array(json.dumps(model.metadata, sort_keys=True)),
    }
    if model.input_transform is not None:  # absent key: files without a transform stay as before
        arrays[TRANSFORM_KEY] = np.array(model.input_transform)
    with open(path, "wb") as file:  # a file object stops numpy appending ".npz"
        np.savez(file, **arrays)
