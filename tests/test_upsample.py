"""engine/upsample.py: guided upsampling of the stylized picture to the camera's size (fast guided filter)."""
from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from engine.upsample import guide_coefficients, guided_upsample

FULL = (1280, 720)
SMALL = (320, 180)
DARK, BRIGHT = 40, 200
EDGE = 641  # first bright column: odd, and inside a 4-pixel cell of the 320x180 grid (640..643)


def edge_guide() -> np.ndarray:
    guide = np.full((FULL[1], FULL[0], 3), DARK, np.uint8)
    guide[:, EDGE:] = BRIGHT
    return guide


def shrink(image: np.ndarray, size: tuple[int, int] = SMALL) -> np.ndarray:
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)  # as FrameProcessor makes its small frame


def natural(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A synthetic photo: smooth colour gradients, discs with hard edges, a little noise."""
    w, h = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([80 + 100 * x / w, 60 + 120 * y / h, 150 - 80 * (x + y) / (w + h)], axis=2)
    for _ in range(12):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.03, 0.15) * w
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 3, img.shape)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def step_fraction(row: np.ndarray, left: int, right: int) -> float:
    """How much of the dark -> bright step happens between columns left and right (1 = all of it)."""
    return (float(row[right]) - float(row[left])) / (BRIGHT - DARK)


def test_output_has_the_guides_size_and_dtype():
    for small, full in [((320, 180), (1280, 720)), ((480, 270), (1280, 720)), ((240, 180), (768, 576))]:
        guide = natural(full)
        low_guide = shrink(guide, small)
        low = cv2.GaussianBlur(low_guide, (0, 0), 1.5)
        out = guided_upsample(low, low_guide, guide)
        assert out.shape == guide.shape and out.dtype == np.uint8
        assert out.flags.c_contiguous


def test_edge_of_the_guide_comes_through_sharp():
    guide = edge_guide()
    low_guide = shrink(guide)
    low = low_guide.copy()  # identity stylization
    out = guided_upsample(low, low_guide, guide)
    plain = cv2.resize(low, FULL, interpolation=cv2.INTER_LINEAR)
    assert (out == out[:1]).all() and (out == out[..., :1]).all()  # every row, every channel alike
    row, plain_row = out[0, :, 0], plain[0, :, 0]
    # one pixel across the edge: guided takes most of the step (0.82 measured), plain resize a fifth (0.19)
    assert step_fraction(row, EDGE - 1, EDGE) >= 0.75
    assert step_fraction(plain_row, EDGE - 1, EDGE) <= 0.25
    # three pixels across the edge: guided nearly all of it (0.91), plain resize half (0.50)
    assert step_fraction(row, EDGE - 2, EDGE + 1) >= 0.85
    assert step_fraction(plain_row, EDGE - 2, EDGE + 1) <= 0.55
    # at the edge's position, not shifted; flat away from it, and no overshoot (halo) on either side
    assert row[EDGE - 1] <= DARK + 25 and row[EDGE] >= BRIGHT - 25
    assert (np.abs(row[:EDGE - 8].astype(int) - DARK) <= 1).all()
    assert (np.abs(row[EDGE + 8:].astype(int) - BRIGHT) <= 1).all()
    assert out.min() >= DARK - 1 and out.max() <= BRIGHT + 1


def test_edge_follows_the_stylization_not_the_photos_colours():
    """Inverted, recoloured "stylization": the edge is sharp, in the stylization's own colours."""
    guide = edge_guide()
    low_guide = shrink(guide)
    low = low_guide.copy()
    low[..., 0] = 255 - low_guide[..., 0]  # red inverted: a negative gain
    low[..., 1] = low_guide[..., 1] // 2 + 100  # green at half contrast
    out = guided_upsample(low, low_guide, guide).astype(int)
    far_left, far_right = out[0, EDGE - 20], out[0, EDGE + 20]
    assert np.abs(far_left - [255 - DARK, DARK // 2 + 100, DARK]).max() <= 1
    assert np.abs(far_right - [255 - BRIGHT, BRIGHT // 2 + 100, BRIGHT]).max() <= 1
    across = (out[0, EDGE + 1] - out[0, EDGE - 2]) / (far_right - far_left)
    assert (across >= 0.85).all()


def test_flat_guide_gives_the_bilinear_resize():
    guide = np.full((FULL[1], FULL[0], 3), 128, np.uint8)
    low_guide = shrink(guide)
    low = np.random.default_rng(1).integers(0, 256, (SMALL[1], SMALL[0], 3), dtype=np.uint8)
    out = guided_upsample(low, low_guide, guide)
    plain = cv2.resize(low, FULL, interpolation=cv2.INTER_LINEAR)
    diff = np.abs(out.astype(int) - plain)
    assert diff.max() <= 1 and diff.mean() < 0.3  # rounding of two fixed-point paths only


def test_matches_the_float_formula():
    """The int16 fixed point at full size is the float computation A * I + B to a grey level."""
    guide = natural(FULL, seed=2)
    low_guide = shrink(guide)
    low = cv2.applyColorMap(cv2.GaussianBlur(low_guide, (0, 0), 2)[..., 1], cv2.COLORMAP_JET)
    out = guided_upsample(low, low_guide, guide, radius=2, eps=1e-3)
    a, b = guide_coefficients(low, low_guide, radius=2, eps=1e-3)
    a, b = (cv2.resize(c, FULL, interpolation=cv2.INTER_LINEAR).astype(np.float64) for c in (a, b))
    grey = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY).astype(np.float64)[..., None]
    ref = np.clip(np.rint(a * grey + b), 0, 255)
    diff = np.abs(out - ref)
    assert diff.max() <= 2 and diff.mean() < 0.1


def test_larger_eps_moves_towards_the_plain_resize():
    guide = natural(FULL, seed=3)
    low_guide = shrink(guide)
    low = cv2.GaussianBlur(low_guide, (0, 0), 1.0)
    plain = cv2.resize(low, FULL, interpolation=cv2.INTER_LINEAR).astype(int)
    distances = [np.abs(guided_upsample(low, low_guide, guide, eps=eps).astype(int) - plain).mean()
                 for eps in (1e-3, 1e-2, 1e-1, 10.0)]
    assert distances == sorted(distances, reverse=True)
    assert distances[-1] < 0.1


def test_equal_sizes_return_the_input_unchanged():
    guide = natural(SMALL)
    low = cv2.GaussianBlur(guide, (0, 0), 1.0)
    assert guided_upsample(low, guide, guide) is low


def test_inputs_are_not_modified_and_threads_do_not_share_work_arrays():
    jobs = [(natural(size, seed), small) for seed, (size, small) in
            enumerate([((1280, 720), (320, 180)), ((768, 576), (240, 180))] * 2)]
    inputs = [(cv2.GaussianBlur(shrink(g, s), (0, 0), 1.0), shrink(g, s), g) for g, s in jobs]
    copies = [tuple(x.copy() for x in job) for job in inputs]
    serial = [guided_upsample(*job) for job in inputs]
    threaded: list = [None] * len(inputs)

    def run(i: int) -> None:
        for _ in range(3):
            threaded[i] = guided_upsample(*inputs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s, t in zip(serial, threaded):
        assert np.array_equal(s, t)
    for job, copy in zip(inputs, copies):
        assert all(np.array_equal(x, y) for x, y in zip(job, copy))


@pytest.mark.parametrize("low, low_guide, guide, kwargs, message", [
    (np.zeros((18, 32), np.uint8), np.zeros((18, 32, 3), np.uint8), np.zeros((72, 128, 3), np.uint8), {}, "low"),
    (np.zeros((18, 32, 3), np.float32), np.zeros((18, 32, 3), np.uint8), np.zeros((72, 128, 3), np.uint8), {},
     "uint8"),
    (np.zeros((18, 32, 3), np.uint8), np.zeros((18, 32, 4), np.uint8), np.zeros((72, 128, 3), np.uint8), {},
     "low_guide"),
    (np.zeros((18, 32, 3), np.uint8), np.zeros((18, 32, 3), np.uint8), np.zeros((72, 128, 3), np.uint16), {},
     "guide"),
    (np.zeros((18, 32, 3), np.uint8), np.zeros((36, 64, 3), np.uint8), np.zeros((72, 128, 3), np.uint8), {},
     "same size"),
    (np.zeros((0, 32, 3), np.uint8), np.zeros((0, 32, 3), np.uint8), np.zeros((72, 128, 3), np.uint8), {}, "empty"),
    ([[0]], np.zeros((18, 32, 3), np.uint8), np.zeros((72, 128, 3), np.uint8), {}, "numpy array"),
    (np.zeros((18, 32, 3), np.uint8), np.zeros((18, 32, 3), np.uint8), np.zeros((72, 128, 3), np.uint8),
     {"radius": -1}, "radius"),
    (np.zeros((18, 32, 3), np.uint8), np.zeros((18, 32, 3), np.uint8), np.zeros((72, 128, 3), np.uint8),
     {"radius": 1.5}, "radius"),
    (np.zeros((18, 32, 3), np.uint8), np.zeros((18, 32, 3), np.uint8), np.zeros((72, 128, 3), np.uint8),
     {"eps": 0.0}, "eps"),
])
def test_bad_inputs_raise_value_error(low, low_guide, guide, kwargs, message):
    with pytest.raises(ValueError, match=message):
        guided_upsample(low, low_guide, guide, **kwargs)
