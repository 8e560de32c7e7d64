"""pynq-mnist: an int8 MNIST MLP on a PYNQ board, with a bit-exact CPU fallback."""

from .backends import Backend, get_backend
from .classifier import Classifier, ClassifyResult, seed_digits
from .model import Model, load_model, save_model

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "Classifier",
    "ClassifyResult",
    "Model",
    "__version__",
    "get_backend",
    "load_model",
    "save_model",
    "seed_digits",
]
