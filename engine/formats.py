"""File kinds and the NAME=W syntax, shared by the engine, the CLI and training/.

Standard library only (training/ imports it on machines without OpenCV or ONNX Runtime).
"""
from __future__ import annotations

import re

from .errors import InputError

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})


def safe_name(text: str, sep: str = "_", limit: int = 48, empty: str = "style") -> str:
    """A file-system and URL friendly style name (letters, digits, ``_.-``; other runs become ``sep``; at most
    ``limit`` characters, not starting or ending with ``_.-``), never empty; a safe name is returned as is."""
    name = _UNSAFE.sub(sep, text).strip("._-")[:limit].rstrip("._-")
    return name or empty


def parse_weighted(items: list[str] | None) -> dict[str, float]:
    """['starry', 'wave=0.3'] -> {'starry': 1.0, 'wave': 0.3}; the weight follows the last '='."""
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, weight = item.rpartition("=")
        if not sep:
            name, weight = item, "1"
        try:
            out[name] = float(weight)
        except ValueError:
            raise InputError(f"bad weight in {item!r}: expected NAME=NUMBER") from None
        if out[name] < 0:
            raise InputError(f"weight of {name!r} must not be negative")
    return out
