"""Face crop and paste-back for the face-translation methods (U-GAT-IT selfie2anime-style models).

The detector is OpenCV's bundled frontal-face Haar cascade (ships inside opencv-python; no download).
The crop is a square around the largest face, enlarged so hair and chin are inside (the selfie datasets
are framed that way); the translated crop is pasted back through a feathered mask so no seam shows.
Only ``python -m training translate --face`` uses it: OpenCV is imported inside the two functions that
need it, so the rest of training/ stays torch + numpy + Pillow. Bad input raises ValueError (the CLI's
``error: ...``, exit code 2).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class FaceBox:
    x: int
    y: int
    w: int
    h: int


def _cascade():
    import cv2

    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise ValueError(f"OpenCV's face detector could not be loaded from {path}")
    return cascade


def detect_faces(rgb: np.ndarray, min_size: int = 40) -> list[FaceBox]:
    """Faces, most confident first (the cascade's final-stage weight). Haar cascades do fire on
    face-like texture now and then, which is why the CLI and the Studio also take a box by hand."""
    import cv2

    gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    found, _, weights = _cascade().detectMultiScale3(gray, scaleFactor=1.1, minNeighbors=6, minSize=(min_size, min_size),
                                                     outputRejectLevels=True)
    if not len(found):
        return []
    order = np.argsort(-np.ravel(weights))
    return [FaceBox(*(int(v) for v in found[i])) for i in order]


def parse_box(text: str) -> FaceBox:
    """'X,Y,W,H' in pixels -> FaceBox (a face chosen by hand)."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"a face box is X,Y,W,H in pixels, got {text!r}") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise ValueError(f"a face box needs a positive size inside the image, got {text!r}")
    return FaceBox(x, y, w, h)


def crop_square(shape: tuple[int, ...], face: FaceBox, margin: float = 1.8) -> FaceBox:
    """A square ``margin`` times the face's size around it, shifted (and if need be shrunk) into the image."""
    height, width = shape[:2]
    side = min(int(round(max(face.w, face.h) * margin)), width, height)
    cx, cy = face.x + face.w / 2, face.y + face.h / 2 - 0.1 * face.h  # a little up: hair matters more than neck
    x = int(round(min(max(cx - side / 2, 0), width - side)))
    y = int(round(min(max(cy - side / 2, 0), height - side)))
    return FaceBox(x, y, side, side)


def feather_mask(side: int, feather: float = 0.12) -> np.ndarray:
    """side x side float32 mask: 1 inside, falling smoothly to 0 over ``feather`` of the side at the border."""
    ramp = max(1, int(side * feather))
    edge = np.minimum(np.arange(side), np.arange(side)[::-1]).astype(np.float32)
    line = np.clip(edge / ramp, 0.0, 1.0)
    line = line * line * (3 - 2 * line)  # smoothstep
    return np.outer(line, line)


def paste_back(frame: np.ndarray, patch: np.ndarray, box: FaceBox, feather: float = 0.12) -> np.ndarray:
    """A copy of ``frame`` with ``patch`` (any size; resized to the box) blended in at ``box``."""
    import cv2

    out = frame.copy()
    patch = cv2.resize(patch, (box.w, box.h), interpolation=cv2.INTER_AREA if patch.shape[0] > box.h else cv2.INTER_CUBIC)
    mask = feather_mask(box.w, feather)[..., None]
    region = out[box.y:box.y + box.h, box.x:box.x + box.w].astype(np.float32)
    blended = mask * patch.astype(np.float32) + (1 - mask) * region
    out[box.y:box.y + box.h, box.x:box.x + box.w] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out
