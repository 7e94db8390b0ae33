"""Stylizers: the two model families behind one small protocol, and the per-frame processor.

FastStylizer   one ONNX graph, N built-in styles, mixing = weights over the N CIN rows.
AdaINStylizer  two graphs; style statistics computed once per style image and cached;
               mixing = weighted mean of (mean, std); strength = the paper's alpha.
FrameProcessor resize to the processing size -> pad -> stylize -> crop -> colour / strength
               -> resize back, with per-stage timings. Settings are an immutable dataclass
               swapped atomically, so a change applies on the next frame without a restart.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .errors import InputError, ModelError
from .frames import blend, fit_size, from_nchw, load_image, pad_to_multiple, preserve_colors, to_nchw
from .modelfile import ModelInfo, inspect_model
from .sessions import SessionInfo, make_session
from .temporal import TemporalSmoother

STYLE_IMAGE_SIDE = 512  # AdaIN style statistics are computed at this longest side


@dataclass(frozen=True)
class StyleSettings:
    """Everything that changes how a frame is stylized. Shared by CLI, GUI and saved settings."""

    mix: dict[str, float] = field(default_factory=dict)  # style name -> weight; empty = first style
    strength: float = 1.0  # 0 = original, 1 = fully stylized
    preserve_colors: bool = False
    process_height: int | None = None  # processing resolution; None = the source's
    smoothing: float = 0.0  # temporal smoothing strength, 0 = off (engine/temporal.py)

    def with_(self, **changes) -> "StyleSettings":
        return replace(self, **changes)


class Stylizer(Protocol):
    info: ModelInfo
    session_info: SessionInfo

    def style_names(self) -> list[str]: ...

    def stylize(self, rgb: np.ndarray, mix: dict[str, float], strength: float) -> np.ndarray:
        """rgb: uint8 H x W x 3 with H, W multiples of info.pad_multiple -> same shape, stylized."""
        ...


def normalize_mix(mix: dict[str, float], names: list[str]) -> dict[str, float]:
    if not names:
        raise InputError("this model has no styles yet: add a style image first")
    if not mix:
        return {names[0]: 1.0}
    unknown = [n for n in mix if n not in names]
    if unknown:
        raise InputError(f"unknown style {unknown[0]!r}; available: {', '.join(names)}")
    total = sum(max(0.0, float(w)) for w in mix.values())
    if total <= 0:
        raise InputError("style weights must not all be zero")
    return {n: max(0.0, float(w)) / total for n, w in mix.items()}


class FastStylizer:
    family = "fast"

    def __init__(self, info: ModelInfo, provider: str = "auto", threads: int | None = None) -> None:
        self.info = info
        self.session, self.session_info = make_session(str(info.path), provider, threads)
        inputs = {i.name for i in self.session.get_inputs()}
        if inputs != {"image", "style_weights"}:
            raise ModelError(f"{info.path.name}: fast-net graph has inputs {sorted(inputs)}, expected image and style_weights")

    def style_names(self) -> list[str]:
        return list(self.info.style_names)

    def weights_vector(self, mix: dict[str, float]) -> np.ndarray:
        names = self.style_names()
        norm = normalize_mix(mix, names)
        return np.array([[norm.get(n, 0.0) for n in names]], dtype=np.float32)

    def stylize(self, rgb: np.ndarray, mix: dict[str, float], strength: float) -> np.ndarray:
        out = self.session.run(["output"], {"image": to_nchw(rgb), "style_weights": self.weights_vector(mix)})[0]
        return from_nchw(out)


class AdaINStylizer:
    family = "adain"

    def __init__(self, info: ModelInfo, provider: str = "auto", threads: int | None = None) -> None:
        self.info = info
        self.session, self.session_info = make_session(str(info.path), provider, threads)
        self.stats_session, _ = make_session(str(info.companion), provider, threads)
        self._stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._order: list[str] = []

    def style_names(self) -> list[str]:
        return list(self._order)

    def add_style(self, name: str, rgb: np.ndarray) -> str:
        """Compute and cache the style statistics of one image (run once per style)."""
        h, w = rgb.shape[:2]
        scale = min(1.0, STYLE_IMAGE_SIDE / max(h, w))
        if scale < 1.0:
            rgb = cv2.resize(rgb, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
        padded, _ = pad_to_multiple(rgb, self.info.pad_multiple)
        mean, std = self.stats_session.run(["mean", "std"], {"style": to_nchw(padded)})
        if name not in self._stats:
            self._order.append(name)
        self._stats[name] = (mean, std)
        return name

    def add_style_file(self, path: str | Path) -> str:
        rgb = load_image(path)
        digest = hashlib.sha1(rgb.tobytes()).hexdigest()[:6]
        return self.add_style(f"{Path(path).stem}-{digest}", rgb)

    def copy_styles_from(self, other: "AdaINStylizer") -> None:
        """Take over another stylizer's cached style statistics (same model on another provider)."""
        for name in other.style_names():
            if name not in self._stats:
                self._order.append(name)
            self._stats[name] = other._stats[name]

    def remove_style(self, name: str) -> None:
        self._stats.pop(name, None)
        if name in self._order:
            self._order.remove(name)

    def mixed_stats(self, mix: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        norm = normalize_mix(mix, self._order)
        mean = sum(w * self._stats[n][0] for n, w in norm.items())
        std = sum(w * self._stats[n][1] for n, w in norm.items())
        return np.ascontiguousarray(mean, np.float32), np.ascontiguousarray(std, np.float32)

    def stylize(self, rgb: np.ndarray, mix: dict[str, float], strength: float) -> np.ndarray:
        mean, std = self.mixed_stats(mix)
        alpha = np.array([min(1.0, max(0.0, strength))], dtype=np.float32)
        out = self.session.run(["output"], {"content": to_nchw(rgb), "mean": mean, "std": std, "alpha": alpha})[0]
        return from_nchw(out)


def load_stylizer(path: str | Path, provider: str = "auto", threads: int | None = None) -> FastStylizer | AdaINStylizer:
    """The one entry point that turns a model file into a stylizer (built-in and user models alike)."""
    info = inspect_model(path)
    if info.family == "fast":
        return FastStylizer(info, provider, threads)
    return AdaINStylizer(info, provider, threads)


@dataclass
class StageTimes:
    preprocess_ms: float = 0.0
    inference_ms: float = 0.0
    postprocess_ms: float = 0.0  # includes temporal smoothing


class FrameProcessor:
    """Applies a stylizer and the current settings to one frame. Thread-safe for one caller."""

    def __init__(self, stylizer: Stylizer, settings: StyleSettings | None = None) -> None:
        self.stylizer = stylizer
        self.settings = settings or StyleSettings()  # replaced wholesale (atomic) by other threads
        self.smoother = TemporalSmoother()
        self._last_look: tuple | None = None

    def reset(self) -> None:
        """Forget the previous frame (a new clip or a new live session starts)."""
        self.smoother.reset()
        self._last_look = None

    def process(self, frame: np.ndarray) -> tuple[np.ndarray, StageTimes]:
        s = self.settings  # one snapshot per frame
        times = StageTimes()
        t0 = time.perf_counter()
        h, w = frame.shape[:2]
        pw, ph = fit_size(w, h, s.process_height)
        small = cv2.resize(frame, (pw, ph), interpolation=cv2.INTER_AREA) if (pw, ph) != (w, h) else frame
        padded, (sh, sw) = pad_to_multiple(small, self.stylizer.info.pad_multiple)
        t1 = time.perf_counter()
        # AdaIN's strength is alpha inside the net; the fast net blends pixels afterwards.
        stylized = self.stylizer.stylize(padded, s.mix, s.strength)[:sh, :sw]
        t2 = time.perf_counter()
        look = (id(self.stylizer), tuple(sorted(s.mix.items())))
        if self._last_look is not None and look != self._last_look:
            self.smoother.style_changed()  # crossfade instead of a jump
        self._last_look = look
        stylized = self.smoother.apply(small, np.ascontiguousarray(stylized), s.smoothing)
        if s.preserve_colors:
            stylized = preserve_colors(stylized, small)
        if self.stylizer.info.family == "fast":
            stylized = blend(stylized, small, s.strength)
        if (pw, ph) != (w, h):
            stylized = cv2.resize(stylized, (w, h), interpolation=cv2.INTER_LINEAR)
        out = np.ascontiguousarray(stylized)
        t3 = time.perf_counter()
        times.preprocess_ms, times.inference_ms, times.postprocess_ms = (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3
        return out, times
