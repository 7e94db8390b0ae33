"""The warping-error metric that measures flicker (Lai et al., ECCV 2018), for the benchmark scripts and tests.

Flow on the *input* frames, warp the previous output, mean squared error over non-occluded pixels,
averaged over the clip. Flicker makes it large; a perfectly consistent output gives ~0. The metric's
flow is Farneback at full resolution, a different algorithm from the run-time smoother's reduced-size
DIS (engine/temporal.py): measured with the smoother's own flow, copying the warped previous output
would score ~0 whether or not that flow is right.
"""
from __future__ import annotations

import cv2
import numpy as np

from engine.temporal import FlowWarper, consistency_mask


def metric_flow_maps(cur_rgb: np.ndarray, prev_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backward remap grids from full-resolution Farneback flow (current -> previous), for the metric only."""
    cur = cv2.cvtColor(cur_rgb, cv2.COLOR_RGB2GRAY)
    prev = cv2.cvtColor(prev_rgb, cv2.COLOR_RGB2GRAY)
    flow = cv2.calcOpticalFlowFarneback(cur, prev, None, pyr_scale=0.5, levels=4, winsize=15, iterations=3, poly_n=5,
                                        poly_sigma=1.2, flags=0)
    h, w = cur.shape
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return grid_x + flow[..., 0], grid_y + flow[..., 1]


def warping_error(inputs: list[np.ndarray], outputs: list[np.ndarray]) -> float:
    """Mean over consecutive pairs of the squared error (0..1 scale) between output t and output t-1
    warped by the input frames' flow, over non-occluded pixels (Lai et al. 2018)."""
    if len(inputs) != len(outputs) or len(inputs) < 2:
        raise ValueError("need two or more input/output frames of equal count")
    errors = []
    for t in range(1, len(inputs)):
        map_x, map_y = metric_flow_maps(inputs[t], inputs[t - 1])
        mask = consistency_mask(inputs[t], FlowWarper.warp(inputs[t - 1], map_x, map_y))
        warped = FlowWarper.warp(outputs[t - 1], map_x, map_y).astype(np.float32) / 255
        diff = ((outputs[t].astype(np.float32) / 255 - warped) ** 2).mean(axis=2)
        errors.append(float((diff * mask).sum() / max(1.0, mask.sum())))
    return float(np.mean(errors))


def deviation_from_per_frame(smoothed: list[np.ndarray], per_frame: list[np.ndarray]) -> float:
    """Mean absolute difference (0..1) between smoothed and per-frame outputs: how much smoothing
    moved away from the stylization itself (so washing the style out is not rewarded)."""
    return float(np.mean([np.abs(a.astype(np.float32) - b.astype(np.float32)).mean() / 255 for a, b in zip(smoothed, per_frame)]))
