"""torch -> ONNX export. Imports model classes from training/ and the metadata contract from engine/."""
from engine import __version__ as PROJECT_VERSION
from engine.modelfile import METADATA_FORMAT

__all__ = ["METADATA_FORMAT", "PROJECT_VERSION"]
