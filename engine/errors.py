"""User-facing errors. Each carries one sentence a person can act on.

The CLI prints ``str(exc)`` and exits with code 2; the GUI shows it in the status bar.
"""


class StyleCastError(Exception):
    """Base class: an expected failure with a message meant for the user."""


class InputError(StyleCastError):
    """An input file (image, video, model) is missing, unreadable or unusable."""


class ModelError(InputError):
    """A model file is not a StyleCast ONNX model or does not fit this version."""


class SourceError(StyleCastError):
    """A live source failed: no camera, a camera that disappeared, a stream that stopped."""


class OutputError(StyleCastError):
    """An output cannot be written: missing folder, same as the input, disk full."""


class ProviderError(StyleCastError):
    """The requested execution provider (e.g. CUDA) is not available."""


class Cancelled(StyleCastError):
    """A long job was cancelled by the user."""
