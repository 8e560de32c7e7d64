"""The ``cpu`` backend: the contract's exact numpy kernel; runs anywhere numpy does."""

from __future__ import annotations

import numpy as np

from .. import contract
from ..errors import PynqMnistError
from ..model import Model
from .base import Backend


class CpuBackend(Backend):
    """The numpy fallback (:class:`pynq_mnist.contract.ExactKernel`)."""

    name = "cpu"

    def __init__(self) -> None:
        self._kernel: contract.ExactKernel | None = None

    def load(self, model: Model) -> None:
        self._kernel = contract.ExactKernel(model)

    def infer(self, images: np.ndarray) -> np.ndarray:
        if self._kernel is None:
            raise PynqMnistError("cpu backend: call load(model) before infer()")
        return self._kernel(contract.as_image_batch(images))
