"""Temporal smoothing against flicker, used at run time (FrameProcessor, ``--smooth``).

Smoother: optical flow (OpenCV DIS) from the current input frame back to the previous one warps
the previous *output* onto the current frame; where the warp is trustworthy (the previous input,
warped the same way, matches the current input) the output is blended towards it. Occluded or
newly visible pixels take the fresh stylization. A scene cut (large input change) resets; a style
change crossfades over a few frames instead of jumping. Flow runs at a reduced size, so it costs
a few milliseconds at 480x270 on a CPU.

The warping-error metric that measures flicker lives with the benchmarks, in bench/flicker.py
(it uses its own full-resolution Farneback flow, not the smoother's).
"""
from __future__ import annotations

import cv2
import numpy as np

FLOW_WIDTH = 240  # flow is computed at this width (speed), then upsampled
OCCLUSION_THRESHOLD = 20.0  # grey levels: warped previous input vs current input
SCENE_CUT = 40.0  # mean absolute grey difference between consecutive inputs
CROSSFADE_FRAMES = 8


def _gray_small(rgb: np.ndarray, width: int = FLOW_WIDTH) -> tuple[np.ndarray, float]:
    h, w = rgb.shape[:2]
    scale = min(1.0, width / w)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        gray = cv2.resize(gray, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    return gray, scale


class FlowWarper:
    """Backward flow current -> previous at a reduced size, and warping of full-size images with it."""

    def __init__(self) -> None:
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)

    def maps(self, cur_gray: np.ndarray, prev_gray: np.ndarray, scale: float, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        flow = self.dis.calc(cur_gray, prev_gray, None)  # for each current pixel: where it was before
        w, h = size
        if scale < 1.0:
            flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) / scale
        grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        return grid_x + flow[..., 0], grid_y + flow[..., 1]

    @staticmethod
    def warp(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
        return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def consistency_mask(cur_rgb: np.ndarray, warped_prev_rgb: np.ndarray, threshold: float = OCCLUSION_THRESHOLD) -> np.ndarray:
    """1 where the previous input, warped, matches the current input (not occluded), else 0; H x W float32."""
    diff = np.abs(cv2.cvtColor(cur_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
                  - cv2.cvtColor(warped_prev_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32))
    mask = (diff < threshold).astype(np.float32)
    return cv2.erode(mask, np.ones((3, 3), np.uint8))  # distrust motion boundaries


class TemporalSmoother:
    def __init__(self) -> None:
        self.warper = FlowWarper()
        self.reset()

    def reset(self) -> None:
        self.prev_in: np.ndarray | None = None
        self.prev_out: np.ndarray | None = None
        self.prev_gray: np.ndarray | None = None
        self.fade = 0  # frames of crossfade left after a style change

    def style_changed(self) -> None:
        if self.prev_out is not None:
            self.fade = CROSSFADE_FRAMES

    def apply(self, content: np.ndarray, stylized: np.ndarray, strength: float) -> np.ndarray:
        """content, stylized: uint8 H x W x 3 of the same size. strength 0..1 (0 = off)."""
        if strength <= 0:
            # Off: no flow. A style change still crossfades, as a plain blend with the last output.
            out = stylized
            if self.fade and self.prev_out is not None and self.prev_out.shape == stylized.shape:
                alpha = self.fade / (CROSSFADE_FRAMES + 1)
                out = cv2.addWeighted(self.prev_out, alpha, stylized, 1.0 - alpha, 0.0)
                self.fade -= 1
            else:
                self.fade = 0
            self.prev_in, self.prev_out, self.prev_gray = content, out, None
            return out
        gray, scale = _gray_small(content)
        prev_ok = (self.prev_out is not None and self.prev_out.shape == stylized.shape and self.prev_gray is not None
                   and self.prev_gray.shape == gray.shape)
        if prev_ok and float(np.mean(cv2.absdiff(gray, self.prev_gray))) > SCENE_CUT:
            prev_ok = False  # scene cut: start afresh
            self.fade = 0
        out = stylized
        if prev_ok:
            h, w = content.shape[:2]
            map_x, map_y = self.warper.maps(gray, self.prev_gray, scale, (w, h))
            warped_out = self.warper.warp(self.prev_out, map_x, map_y)
            if self.fade:
                alpha = np.float32(self.fade / (CROSSFADE_FRAMES + 1))  # style change: fade the old look out
                self.fade -= 1
                alpha = np.full(content.shape[:2], alpha, np.float32)
            else:
                mask = consistency_mask(content, self.warper.warp(self.prev_in, map_x, map_y))
                alpha = mask * np.float32(strength)
            a = alpha[..., None]
            out = (warped_out.astype(np.float32) * a + stylized.astype(np.float32) * (1 - a) + 0.5).astype(np.uint8)
        self.prev_in, self.prev_out, self.prev_gray = content, out, gray
        return out
