"""Stylizers: the two model families behind one small protocol (engine/processor.py drives them).

FastStylizer   one ONNX graph, N built-in styles, mixing = weights over the N CIN rows;
               strength = a pixel blend with the original.
AdaINStylizer  two graphs; style statistics computed once per style image and cached;
               mixing = weighted mean of (mean, std); strength = the paper's alpha, inside the net.
"""
from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .errors import InputError
from .frames import blend, from_nchw, load_image, pad_to_min_side, pad_to_multiple, to_nchw
from .modelfile import ModelInfo, check_ports, check_statistics_match, inspect_model
from .sessions import SessionInfo, make_session, session_ports

STYLE_IMAGE_SIDE = 512  # AdaIN style statistics are computed at this longest side


class Stylizer(Protocol):
    info: ModelInfo
    session_info: SessionInfo

    def style_names(self) -> list[str]: ...

    def stylize(self, rgb: np.ndarray, mix: dict[str, float], strength: float) -> np.ndarray:
        """rgb: uint8 H x W x 3 with H, W multiples of info.pad_multiple -> same shape, stylized."""
        ...

    def apply_strength(self, stylized: np.ndarray, original: np.ndarray, strength: float) -> np.ndarray:
        """The family's own meaning of strength, after smoothing and colour preservation."""
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
        self.choice = None  # which file runs where, and why (engine.setup.ModelChoice), set by open_stylizer
        self.session, self.session_info = make_session(str(info.path), provider, threads)
        # the contract once more, as the session sees the graph (inspect_model read it from the file)
        check_ports(info.path.name, "fast", "stylize", *session_ports(self.session), n_styles=len(info.style_names))

    def style_names(self) -> list[str]:
        return list(self.info.style_names)

    def weights_vector(self, mix: dict[str, float]) -> np.ndarray:
        names = self.style_names()
        norm = normalize_mix(mix, names)
        return np.array([[norm.get(n, 0.0) for n in names]], dtype=np.float32)

    def stylize(self, rgb: np.ndarray, mix: dict[str, float], strength: float) -> np.ndarray:
        h, w = rgb.shape[:2]
        x = to_nchw(pad_to_min_side(rgb, self.info.min_side, self.info.pad_multiple))
        out = self.session.run(["output"], {"image": x, "style_weights": self.weights_vector(mix)})[0]
        return from_nchw(out)[:h, :w]

    def apply_strength(self, stylized: np.ndarray, original: np.ndarray, strength: float) -> np.ndarray:
        """A fast net has no strength input: blend its output with the original pixels."""
        return blend(stylized, original, strength)


class AdaINStylizer:
    family = "adain"

    def __init__(self, info: ModelInfo, provider: str = "auto", threads: int | None = None) -> None:
        self.info = info
        self.choice = None  # which file runs where, and why (engine.setup.ModelChoice), set by open_stylizer
        self.session, self.session_info = make_session(str(info.path), provider, threads)
        self.stats_session, _ = make_session(str(info.companion), provider, threads)
        inputs, outputs = session_ports(self.session)
        stats_inputs, stats_outputs = session_ports(self.stats_session)
        check_ports(info.path.name, "adain", "stylize", inputs, outputs)
        check_ports(info.companion.name, "adain", "style_stats", stats_inputs, stats_outputs)
        check_statistics_match(info.path.name, inputs, stats_outputs)
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
        padded = pad_to_min_side(pad_to_multiple(rgb, self.info.pad_multiple)[0], self.info.min_side, self.info.pad_multiple)
        mean, std = self.stats_session.run(["mean", "std"], {"style": to_nchw(padded)})
        if name not in self._stats:
            self._order.append(name)
        self._stats[name] = (mean, std)
        return name

    def add_style_file(self, path: str | Path) -> str:
        rgb = load_image(path)
        digest = hashlib.sha1(rgb.tobytes()).hexdigest()[:6]
        return self.add_style(f"{Path(path).stem}-{digest}", rgb)

    def frozen(self) -> "AdaINStylizer":
        """The same model (the session is shared) with its own copy of the style table: a render keeps
        the styles it started with while the live session adds or removes some."""
        clone = copy.copy(self)
        clone._stats, clone._order = dict(self._stats), list(self._order)
        return clone

    def copy_styles_from(self, other: "AdaINStylizer") -> None:
        """Take over another stylizer's cached style statistics (same model on another provider)."""
        for name in other.style_names():
            if name not in self._stats:
                self._order.append(name)
            self._stats[name] = other._stats[name]

    def style_stats(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Every style's cached (mean, std), in gallery order (shipped to render workers)."""
        return {n: self._stats[n] for n in self._order}

    def add_style_stats(self, name: str, mean: np.ndarray, std: np.ndarray) -> str:
        if name not in self._stats:
            self._order.append(name)
        self._stats[name] = (np.asarray(mean, np.float32), np.asarray(std, np.float32))
        return name

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
        h, w = rgb.shape[:2]
        x = to_nchw(pad_to_min_side(rgb, self.info.min_side, self.info.pad_multiple))
        out = self.session.run(["output"], {"content": x, "mean": mean, "std": std, "alpha": alpha})[0]
        return from_nchw(out)[:h, :w]

    def apply_strength(self, stylized: np.ndarray, original: np.ndarray, strength: float) -> np.ndarray:
        """Already applied inside the net as the paper's alpha (feature-space interpolation)."""
        return stylized


def load_stylizer(path: str | Path, provider: str = "auto", threads: int | None = None) -> FastStylizer | AdaINStylizer:
    """The one entry point that turns a model file into a stylizer (built-in and user models alike)."""
    info = inspect_model(path)
    if info.family == "fast":
        return FastStylizer(info, provider, threads)
    return AdaINStylizer(info, provider, threads)
