"""Where the person is: a person-segmentation model (family ``segmentation``) run on each frame, its mask
feathered and steadied over time, and the blend that styles only the background, only the person, or each in
its own style.

PersonSegmenter  the frame stretched to the model's ``input_size`` -> person probability -> back to the frame's
                 (processing) size, bilinear -> a short feather (a Gaussian a few pixels wide at the processing
                 size, so the seam is soft, not a halo) -> a running mix with the previous mask (the edge does not
                 shimmer from frame to frame; a large change, a cut or a new person, is taken at once).
blend_regions    mask * person + (1 - mask) * background, in uint8 RGB.
REGIONS          "all" (the whole frame, no model run), "background" (the person keeps the original or
                 ``person_mix``'s style), "person" (the background keeps the original or ``person_mix``'s style).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import InputError, ModelError
from .frames import to_nchw
from .modelfile import ModelInfo, inspect_model
from .sessions import make_session

REGIONS = ("all", "background", "person")
FEATHER_PX = 2.0  # Gaussian sigma at the processing size: a soft seam without a visible halo
STEADY = 0.5  # weight of the previous mask where the two agree
CUT = 0.35  # mean change beyond which the new mask is taken as it is (a cut, a new person)


class PersonSegmenter:
    """A segmentation model file, run on frames. ``mask(rgb)`` -> float32 H x W in [0, 1] at ``rgb``'s size."""

    def __init__(self, info: ModelInfo | str | Path, provider: str = "auto", threads: int | None = 1) -> None:
        info = info if isinstance(info, ModelInfo) else inspect_model(info)
        if info.family != "segmentation":
            raise ModelError(f"{info.path.name} is a {info.family} model, not a person-segmentation model")
        self.info = info
        h, w = (int(v) for v in info.metadata["input_size"].lower().split("x"))
        self.input_size = (w, h)
        # one thread: it runs beside the style model, whose threads take the cores
        self.session, self.session_info = make_session(str(info.path), provider, threads)
        self._previous: np.ndarray | None = None

    def reset(self) -> None:
        self._previous = None

    def mask(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        x = to_nchw(cv2.resize(rgb, self.input_size, interpolation=cv2.INTER_AREA))
        raw = self.session.run(["mask"], {"image": x})[0][0, 0]
        mask = cv2.resize(raw, (w, h), interpolation=cv2.INTER_LINEAR)
        mask = cv2.GaussianBlur(mask, (0, 0), FEATHER_PX)
        previous = self._previous
        if previous is not None and previous.shape == mask.shape and float(np.abs(mask - previous).mean()) < CUT:
            mask = STEADY * previous + (1 - STEADY) * mask
        self._previous = mask
        return np.clip(mask, 0.0, 1.0, out=mask)


def mask_preview(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A picture for the eye: ``rgb`` where the mask says person, dimmed and tinted blue elsewhere (``mask``
    at any size, brought to ``rgb``'s bilinearly)."""
    h, w = rgb.shape[:2]
    m = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    tint = rgb.astype(np.float32) * 0.35 + np.array([0, 20, 90], np.float32)
    return np.clip(tint + m * (rgb.astype(np.float32) - tint) + 0.5, 0, 255).astype(np.uint8)


def blend_regions(person: np.ndarray, background: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """uint8 RGB: ``person`` where the mask is 1, ``background`` where it is 0, mixed in between."""
    if person.shape != background.shape or mask.shape != person.shape[:2]:
        raise InputError("the two pictures and the mask must have one size")
    m = mask[..., None].astype(np.float32)
    out = background.astype(np.float32)
    out += m * (person.astype(np.float32) - out)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
