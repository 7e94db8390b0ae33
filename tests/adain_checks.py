"""A check the style-image model tests share: an exported model runs through the engine as the app runs it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.processor import FrameProcessor, StyleSettings
from engine.stylizers import load_stylizer


def mixes_and_tells_styles_apart(model: Path) -> tuple[int, float]:
    """Two style images added to the model at ``model``, mixed half and half, and each run on one frame: (the
    channels of the mixed statistics, the mean absolute difference of the two pictures, 0-255)."""
    stylizer = load_stylizer(model, "cpu")
    rng = np.random.default_rng(1)
    a = stylizer.add_style("a", (rng.random((50, 70, 3)) * 255).astype(np.uint8))
    b = stylizer.add_style("b", np.full((40, 40, 3), 30, np.uint8))
    mean, std = stylizer.mixed_stats({a: 0.5, b: 0.5})
    assert mean.shape == std.shape and mean.shape[0] == 1 and mean.shape[2:] == (1, 1)
    frame = (rng.random((45, 61, 3)) * 255).astype(np.uint8)
    out_a, _ = FrameProcessor(stylizer, StyleSettings(mix={a: 1.0})).process(frame)
    out_b, _ = FrameProcessor(stylizer, StyleSettings(mix={b: 1.0})).process(frame)
    assert out_a.shape == out_b.shape == frame.shape
    return mean.shape[1], float(np.abs(out_a.astype(int) - out_b.astype(int)).mean())
