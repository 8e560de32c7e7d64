"""Exception hierarchy: every error the library raises on purpose is a PynqMnistError."""


class PynqMnistError(Exception):
    """Base class for all pynq-mnist errors."""


class ModelFormatError(PynqMnistError, ValueError):
    """A model file or model arrays break the format contract."""


class ConfigError(PynqMnistError):
    """Hardware and software disagree (ID, sizes, parameters)."""


class DataError(PynqMnistError):
    """A data set file is missing or malformed."""


class ImageError(PynqMnistError, ValueError):
    """An input image cannot be read or turned into a digit."""


class BackendUnavailable(PynqMnistError):
    """The requested backend cannot run on this machine."""


class AcceleratorError(PynqMnistError):
    """The accelerator or its DMA reported an error."""


class AcceleratorTimeout(AcceleratorError):
    """A wait on the accelerator or its DMA passed its deadline."""


class AcceleratorOwnershipLost(AcceleratorError):
    """Another process or backend reloaded the weights since this driver loaded its own."""


class BufferAllocationError(PynqMnistError):
    """A DMA buffer could not be allocated (contiguous memory exhausted)."""
