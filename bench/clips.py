"""Test clips shared by the benchmark scripts: a real clip at a given height, and a synthetic camera pan."""
from __future__ import annotations

import cv2
import numpy as np

from engine.sources import VideoFileSource


def read_clip(path: str, height: int, frames: int) -> list[np.ndarray]:
    source = VideoFileSource(path)
    out = []
    while len(out) < frames:
        f = source.read()
        if f is None:
            break
        h, w = f.image.shape[:2]
        out.append(cv2.resize(f.image, (round(w * height / h) // 2 * 2, height), interpolation=cv2.INTER_AREA))
    source.close()
    return out


def panning_clip(photo: np.ndarray, width: int, height: int, frames: int, step: int = 3) -> list[np.ndarray]:
    """A camera pan: a window sliding ``step`` px per frame across a photo (real texture, known motion)."""
    big = cv2.resize(photo, (width + step * frames, int(round(photo.shape[0] * (width + step * frames) / photo.shape[1]))),
                     interpolation=cv2.INTER_AREA)
    if big.shape[0] < height:
        big = cv2.resize(big, (big.shape[1], height))
    return [np.ascontiguousarray(big[:height, i * step:i * step + width]) for i in range(frames)]
