"""Temporal smoothing against flicker, used at run time (FrameProcessor, ``--smooth``).

Smoother: optical flow (OpenCV DIS) from the current input frame back to the previous one warps
the previous *output* onto the current frame, and the output is blended towards it by a per-pixel
confidence that this history is right. The warped history is trusted as far as the lowest of three
checks allows:

- the previous *input*, warped the same way, matches the current input in colour (softly: a small
  mismatch lowers the weight, a large one removes it); occluded or newly visible pixels fail it;
- the forward and backward flows agree (where the flow is guessed, e.g. an object that jumped
  further than the flow can follow, they do not);
- the warp samples inside the previous frame (what enters at an edge has no history).

The previous output where it was (no warp) is the other candidate, trusted as far as the previous
input at that place matches the current one: a still background keeps its smoothing where the coarse
flow smears a moving object's motion over it. Confidences are eroded, so motion boundaries take the
fresh stylization. When the caller gives the time between frames (``dt``), the blend also weakens as
that gap grows (at a low frame rate the previous output is older, and everything in it has moved
further) and a gap of MAX_GAP_S or more starts afresh. A scene cut (large input change) resets; a
style change crossfades over a few frames instead of jumping (also only where the history is
trusted). Flow runs at a reduced size, so it costs a few milliseconds at 480x270 on a CPU.

The warping-error metric that measures flicker lives with the benchmarks, in bench/flicker.py
(it uses its own full-resolution Farneback flow, not the smoother's).
"""
from __future__ import annotations

import cv2
import numpy as np

FLOW_WIDTH = 240  # flow is computed at this width (speed), then upsampled
OCCLUSION_THRESHOLD = 20.0  # grey levels: warped previous input vs current input (consistency_mask)
SCENE_CUT = 40.0  # mean absolute grey difference between consecutive inputs
CROSSFADE_FRAMES = 8
MATCH_FULL = 8.0  # colour error (grey levels, lightly blurred) up to which the warped history is fully trusted
MATCH_NONE = 24.0  # ... and from which it is not used at all
FB_TOLERANCE = 0.5  # px² at flow size: forward-backward mismatch still taken as agreement (+1 % of the motion²)
FULL_GAP_S = 0.25  # time between frames up to which smoothing has its full strength
MIN_FLOW_SIDE = 16  # frames whose longer side is shorter are not smoothed (the flow needs 12 px)
MAX_GAP_S = 2.0  # from this gap on the previous frame is too old to blend: start afresh


def _gray_small(rgb: np.ndarray, width: int = FLOW_WIDTH) -> tuple[np.ndarray, float]:
    h, w = rgb.shape[:2]
    scale = min(1.0, width / w)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        gray = cv2.resize(gray, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    return gray, scale


def _grid(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


class FlowWarper:
    """Backward flow current -> previous at a reduced size, and warping of full-size images with it."""

    def __init__(self) -> None:
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._grid: tuple[int, int, np.ndarray, np.ndarray] | None = None  # the last size's pixel grid, reused

    def grid(self, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        if self._grid is None or self._grid[:2] != (w, h):
            self._grid = (w, h, *_grid(w, h))
        return self._grid[2], self._grid[3]

    def flow(self, from_gray: np.ndarray, to_gray: np.ndarray) -> np.ndarray:
        """For each pixel of ``from_gray``: where it is in ``to_gray`` (h x w x 2, at the flow size)."""
        return self.dis.calc(from_gray, to_gray, None)

    def upsample(self, flow: np.ndarray, scale: float, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Remap grids at the full ``size`` (w, h) from a flow computed at ``scale``."""
        w, h = size
        if scale < 1.0:
            flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) / scale
        grid_x, grid_y = self.grid(w, h)
        return grid_x + flow[..., 0], grid_y + flow[..., 1]

    @staticmethod
    def warp(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
        return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def consistency_mask(cur_rgb: np.ndarray, warped_prev_rgb: np.ndarray, threshold: float = OCCLUSION_THRESHOLD) -> np.ndarray:
    """1 where the previous input, warped, matches the current input (not occluded), else 0; H x W float32.
    (The flicker metric's occlusion mask, bench/flicker.py.)"""
    diff = np.abs(cv2.cvtColor(cur_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
                  - cv2.cvtColor(warped_prev_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32))
    mask = (diff < threshold).astype(np.float32)
    return cv2.erode(mask, np.ones((3, 3), np.uint8))  # distrust motion boundaries


def blur(rgb: np.ndarray) -> np.ndarray:
    """The light blur the colour check works on (sensor noise and single-pixel detail averaged out)."""
    return cv2.GaussianBlur(rgb, (5, 5), 0)


def mismatch(cur_blurred: np.ndarray, prev_blurred: np.ndarray) -> np.ndarray:
    """Largest colour-channel difference of two blurred frames, H x W uint8 grey levels."""
    d = cv2.absdiff(cur_blurred, prev_blurred)
    return cv2.max(cv2.max(d[..., 0], d[..., 1]), d[..., 2])


_MATCH_LUT = np.clip((MATCH_NONE - np.arange(256, dtype=np.float32)) / (MATCH_NONE - MATCH_FULL), 0, 1).astype(
    np.float32)


def match_confidence(error: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """A mismatch (uint8) as confidence, 1 (same) .. 0 (different), H x W float32. The error is dilated
    first (a confidence eroded): near a mismatch, at motion boundaries, the fresh stylization wins."""
    return cv2.LUT(cv2.dilate(error, kernel), _MATCH_LUT)


def flow_confidence(back: np.ndarray, fwd: np.ndarray) -> np.ndarray:
    """Forward-backward check at the flow size (Sundaram et al. 2010), 1 (agree) .. 0, h x w float32.
    ``back``: current -> previous, ``fwd``: previous -> current. Following a pixel back and then forward
    must bring it home; a flow the estimator had to guess (large or ambiguous motion) does not. Pixels whose
    backward flow leaves the previous frame have no history: 0."""
    h, w = back.shape[:2]
    grid_x, grid_y = _grid(w, h)
    px, py = grid_x + back[..., 0], grid_y + back[..., 1]
    fwd_there = cv2.remap(fwd, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err = ((back + fwd_there) ** 2).sum(axis=2)
    tolerance = 0.01 * ((back ** 2).sum(axis=2) + (fwd_there ** 2).sum(axis=2)) + FB_TOLERANCE
    conf = np.clip(2.0 - err / tolerance, 0, 1)
    inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
    return (conf * inside).astype(np.float32)


def gap_factor(dt: float | None) -> float:
    """Smoothing strength left after a time gap of ``dt`` seconds between frames: 1 up to FULL_GAP_S,
    falling linearly to 0 at MAX_GAP_S. None (unknown) counts as a short gap."""
    if dt is None or dt <= FULL_GAP_S:
        return 1.0
    return float(max(0.0, (MAX_GAP_S - dt) / (MAX_GAP_S - FULL_GAP_S)))


class TemporalSmoother:
    def __init__(self) -> None:
        self.warper = FlowWarper()
        self.reset()

    def reset(self) -> None:
        self.prev_out: np.ndarray | None = None
        self.prev_gray: np.ndarray | None = None
        self.prev_blur: np.ndarray | None = None
        self.fade = 0  # frames of crossfade left after a style change

    def style_changed(self) -> None:
        if self.prev_out is not None:
            self.fade = CROSSFADE_FRAMES

    def history(self, content: np.ndarray, cur_blur: np.ndarray, gray: np.ndarray,
                scale: float) -> tuple[np.ndarray, np.ndarray]:
        """(previous output moved onto the current frame, confidence H x W float32 in 0..1 of each pixel).
        Each pixel takes the more trusted of the two candidates (module docstring); a tie goes to the flow."""
        h, w = content.shape[:2]
        back = self.warper.flow(gray, self.prev_gray)
        fwd = self.warper.flow(self.prev_gray, gray)
        flow_ok = cv2.erode(flow_confidence(back, fwd), np.ones((3, 3), np.uint8))  # and one flow pixel around
        if flow_ok.shape != (h, w):
            flow_ok = cv2.resize(flow_ok, (w, h), interpolation=cv2.INTER_LINEAR)
        map_x, map_y = cv2.convertMaps(*self.warper.upsample(back, scale, (w, h)), cv2.CV_16SC2)
        radius = max(1, round(0.5 / scale))  # about one flow pixel, at least one pixel
        kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
        warped_in = cv2.remap(self.prev_blur, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        moved = np.minimum(match_confidence(mismatch(cur_blur, warped_in), kernel), flow_ok)
        still = match_confidence(mismatch(cur_blur, self.prev_blur), kernel)
        warped_out = cv2.remap(self.prev_out, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        history = cv2.copyTo(self.prev_out, (still > moved).view(np.uint8), warped_out)
        return history, cv2.blur(np.maximum(moved, still), (3, 3))

    def apply(self, content: np.ndarray, stylized: np.ndarray, strength: float, dt: float | None = None) -> np.ndarray:
        """content, stylized: uint8 H x W x 3 of the same size. strength 0..1 (0 = off). ``dt``: seconds since
        the previous frame, when known (a large gap weakens the blend, MAX_GAP_S or more starts afresh)."""
        if strength > 0 and max(content.shape[:2]) < MIN_FLOW_SIDE:
            strength = 0.0  # too small for optical flow (OpenCV's DIS needs a side of 12 px): no smoothing
        if strength <= 0:
            # Off: no flow. A style change still crossfades, as a plain blend with the last output.
            out = stylized
            if self.fade and self.prev_out is not None and self.prev_out.shape == stylized.shape:
                alpha = self.fade / (CROSSFADE_FRAMES + 1)
                out = cv2.addWeighted(self.prev_out, alpha, stylized, 1.0 - alpha, 0.0)
                self.fade -= 1
            else:
                self.fade = 0
            self.prev_out, self.prev_gray, self.prev_blur = out, None, None
            return out
        gray, scale = _gray_small(content)
        prev_ok = (self.prev_out is not None and self.prev_out.shape == stylized.shape and self.prev_gray is not None
                   and self.prev_gray.shape == gray.shape and self.prev_blur is not None
                   and self.prev_blur.shape == content.shape)
        gap = gap_factor(dt)
        if prev_ok and (gap <= 0 or float(np.mean(cv2.absdiff(gray, self.prev_gray))) > SCENE_CUT):
            prev_ok = False  # scene cut, or the previous frame is too old: start afresh
            self.fade = 0
        out, cur_blur = stylized, blur(content)
        if prev_ok:
            history, conf = self.history(content, cur_blur, gray, scale)
            if self.fade:
                weight = self.fade / (CROSSFADE_FRAMES + 1)  # style change: fade the old look out
                self.fade -= 1
            else:
                weight = strength * gap
            a = conf * np.float32(weight)
            out = cv2.blendLinear(history, stylized, a, 1 - a)
        self.prev_out, self.prev_gray, self.prev_blur = out, gray, cur_blur
        return out
