"""Edge-aware upsampling: stylize small, show sharp.

The live pipeline stylizes a small copy of the camera frame (e.g. 320x180) and shows the result at the
camera's size (e.g. 1280x720). A plain bilinear resize spreads every edge over four or more pixels.
``guided_upsample`` brings the camera frame's own fine edges back, with the fast guided filter.

Papers
------
K. He, J. Sun, X. Tang, "Guided Image Filtering", ECCV 2010 (extended in IEEE TPAMI 35(6), 2013).
K. He, J. Sun, "Fast Guided Filter", arXiv:1505.00996, 2015.

Algorithm
---------
In every window of (2 * radius + 1) x (2 * radius + 1) pixels of the processing size, each colour
channel of the stylized picture ``p`` is fitted as a linear function of the grey guide ``I`` (the camera
frame at the processing size)::

    a = cov(I, p) / (var(I) + eps)       per window and output channel, from box filters
    A = box(a)                            the mean over all windows that cover a pixel, as in the paper

As in the fast guided filter, the coefficients are computed at the small size, upsampled bilinearly, and
the output is ``A * I_full + B`` with ``I_full`` the full-size grey camera frame. One change from the
paper: its offset ``box(mean(p) - a * mean(I))`` is built from window means of ``p``, so whatever in the
painting does not follow the photo (the brush strokes, most of the painting) would come out box-blurred.
Here ``B = p - A * I`` at the small size: the paper's output plus what its linear model leaves out. At
the small pixels' centres the output is the stylized picture itself; in between it is (exactly where
``A`` is locally constant)::

    output = bilinear(p) + A * (I_full - bilinear(I))

the plain resize plus the camera frame's fine detail (what the small copy of the frame lost), in the
measure the painting follows the photo there. Strokes that are uncorrelated with the photo get ``A``
near 0 and keep their own, small-size scale; where the painting traces the photo's edges (outlines, eyes,
whiskers, posts) ``A`` is near 1 and the edge comes through at full resolution. A flat camera frame gives
exactly the bilinear resize; a larger ``eps`` moves the output towards it.

Why a grey guide: the paper's colour guide needs a 3x3 covariance inverse per pixel (several times the
work), and would pull the photo's hues into the painting. Luma carries the edges; the painting keeps its
own colours, each output channel with its own ``A``.

Parameters, in pixels of the processing size (the small picture)
-----------------------------------------------------------------
- ``radius``: the windows are 2 * radius + 1 small pixels wide; with the box filter of ``a`` an edge
  reaches ``A`` up to 2 * radius small pixels away (8 camera pixels per unit of radius at 320x180 ->
  1280x720). 1, the default, keeps ``A`` local: a stroke beside an edge is not sharpened with it, and the
  photo's fine texture near edges stays out.
- ``eps``: the regularisation, a variance on the 0..1 scale. Where the painting follows the photo,
  ``A`` = gain * var / (var + eps): half strength where the guide's standard deviation in the window is
  sqrt(eps). The default 4e-3 puts that at 0.063 (16 grey levels): real edges (tens of levels) pass,
  camera noise and faint texture (a few levels) stay out. 1e-3 is crisper and lets the photo's fur,
  gravel and noise through; 1e-2 is half way back to the plain resize; 3e-2 is nearly the plain resize.

Speed: the box filters run at the small size (planar float32); at full size there are two 3-channel
bilinear resizes and a few int16 operations into reused work arrays (about 20 MB per thread at 720p,
kept for the last size only). See bench/upsample.py for the measured times.
"""
from __future__ import annotations

import threading

import cv2
import numpy as np

DEFAULT_RADIUS = 1
DEFAULT_EPS = 4e-3  # half strength at a guide standard deviation of 16 grey levels in a window
# |A| at most: a painting may boost the photo's contrast (|A| stays under 3 on real pictures), never its
# noise tenfold; the bound also keeps the int16 fixed point below in range
GAIN_LIMIT = 4.0

# Fixed point at full size (int16 halves the memory traffic of float32, which is what costs at 720p):
# A * 2048, B * 16, and A * grey (0..255) * 16 from one cv2.multiply; the sum / 16 is the output.
_GAIN_ONE = 2048
_OUT_ONE = 16
_buffers = threading.local()  # the full-size work arrays of the last size, one set per thread


def _check_rgb8(name: str, image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, not {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be uint8 H x W x 3 (RGB), got {image.dtype} with shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{name} is empty (shape {image.shape})")


def _check_inputs(low: np.ndarray, low_guide: np.ndarray, guide: np.ndarray, radius: int, eps: float) -> None:
    _check_rgb8("low", low)
    _check_rgb8("low_guide", low_guide)
    _check_rgb8("guide", guide)
    if low.shape != low_guide.shape:
        raise ValueError(f"low ({low.shape[1]}x{low.shape[0]}) and low_guide "
                         f"({low_guide.shape[1]}x{low_guide.shape[0]}) must have the same size")
    if isinstance(radius, bool) or int(radius) != radius or radius < 0:
        raise ValueError(f"radius must be a whole number >= 0, got {radius!r}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")


def guide_coefficients(low: np.ndarray, low_guide: np.ndarray, radius: int = DEFAULT_RADIUS,
                       eps: float = DEFAULT_EPS) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) at the processing size, float32 h x w x 3 each: the output is A * grey + B, with grey and B
    in grey levels (0..255). Per channel, planar: contiguous arrays keep numpy and OpenCV fast."""
    k = (2 * int(radius) + 1,) * 2
    grey = cv2.cvtColor(np.ascontiguousarray(low_guide), cv2.COLOR_RGB2GRAY).astype(np.float32)
    mean_i = cv2.boxFilter(grey, -1, k)
    inv_var = cv2.boxFilter(grey * grey, -1, k)
    inv_var -= mean_i * mean_i
    inv_var += np.float32(eps * 255.0 * 255.0)
    np.reciprocal(inv_var, out=inv_var)
    gains, offsets = [], []
    for channel in cv2.split(np.ascontiguousarray(low)):
        p = channel.astype(np.float32)
        a = cv2.boxFilter(grey * p, -1, k)
        a -= mean_i * cv2.boxFilter(p, -1, k)  # cov(I, p)
        a *= inv_var
        a = cv2.boxFilter(a, -1, k)  # the mean over every window that covers the pixel, as in the paper
        np.clip(a, -GAIN_LIMIT, GAIN_LIMIT, out=a)
        gains.append(a)
        offsets.append(p - a * grey)  # not the paper's box(b): the strokes the linear model leaves out stay
    return cv2.merge(gains), cv2.merge(offsets)


def _full_size_buffers(height: int, width: int) -> tuple[np.ndarray, ...]:
    """Reused work arrays: fresh 5 MB arrays every frame cost more in page faults than the arithmetic."""
    cached = getattr(_buffers, "arrays", None)
    if cached is None or cached[0].shape[:2] != (height, width):
        cached = (np.empty((height, width, 3), np.int16), np.empty((height, width, 3), np.int16),
                  np.empty((height, width), np.uint8), np.empty((height, width), np.uint16),
                  np.empty((height, width, 3), np.uint16))
        _buffers.arrays = cached
    return cached


def guided_upsample(low: np.ndarray, low_guide: np.ndarray, guide: np.ndarray, radius: int = DEFAULT_RADIUS,
                    eps: float = DEFAULT_EPS) -> np.ndarray:
    """Upsample the stylized ``low`` to the size of the camera frame ``guide``, edges from ``guide``.

    low        uint8 h x w x 3 RGB, the stylized picture at the processing size
    low_guide  uint8 h x w x 3 RGB, the camera frame at the processing size (what was stylized)
    guide      uint8 H x W x 3 RGB, the camera frame at full size
    radius     window radius in pixels of the processing size (see the module docstring)
    eps        regularisation, a variance on the 0..1 scale: larger = closer to a plain bilinear resize

    Returns a new uint8 H x W x 3 RGB array; ``low`` itself when it already has the guide's size.
    Raises ValueError for anything but uint8 RGB images, or ``low`` and ``low_guide`` of different sizes.
    """
    _check_inputs(low, low_guide, guide, radius, eps)
    if low.shape == guide.shape:
        return low
    a, b = guide_coefficients(low, low_guide, radius, eps)
    a16 = np.rint(a * np.float32(_GAIN_ONE)).astype(np.int16)
    b16 = np.rint(b * np.float32(_OUT_ONE)).astype(np.int16)
    height, width = guide.shape[:2]
    gain, offset, grey8, grey16, grey3 = _full_size_buffers(height, width)
    cv2.resize(a16, (width, height), dst=gain, interpolation=cv2.INTER_LINEAR)
    cv2.resize(b16, (width, height), dst=offset, interpolation=cv2.INTER_LINEAR)
    cv2.cvtColor(np.ascontiguousarray(guide), cv2.COLOR_RGB2GRAY, dst=grey8)
    np.copyto(grey16, grey8)  # 16 bit: OpenCV multiplies two int16 arrays twice as fast as int16 by uint8
    cv2.cvtColor(grey16, cv2.COLOR_GRAY2RGB, dst=grey3)  # the same grey for each channel's gain
    cv2.multiply(gain, grey3.view(np.int16), dst=gain, scale=_OUT_ONE / _GAIN_ONE)  # A * grey * 16
    cv2.add(gain, offset, dst=gain)  # 16 * output (saturating: beyond 0..255 either way clips the same)
    cv2.max(gain, 0, dst=gain)
    return cv2.convertScaleAbs(gain, alpha=1 / _OUT_ONE)  # rounded, at most 255
