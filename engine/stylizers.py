"""Stylizers: the two model families behind one small protocol (engine/processor.py drives them).

FastStylizer   one ONNX graph, N built-in styles, mixing = weights over the N CIN rows; boldness = each style's
               faithful row mixed with its bold row; learned styles (engine/learned.py) = rows fed as the
               graph's style_code; strength = a pixel blend with the original.
AdaINStylizer  a style-image model: two graphs; the statistics graph runs once per style image (cached);
               mixing = the weighted mean of its outputs. AdaIN: (mean, std), strength = the paper's
               alpha, inside the net. The "predicted" variant: the statistics graph predicts a fast net's
               style code from the style image (a faithful and a bold half, weighted by boldness, when the
               net has bold rows), the stylize graph is that fast net; strength = a pixel blend.
"""
from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .errors import InputError
from .learned import LearnedStyle
from .frames import blend, from_nchw, load_image, pad_to_min_side, pad_to_multiple, to_nchw
from .modelfile import STYLE_VECTORS, ModelInfo, check_ports, check_statistics_match, contract, inspect_model
from .sessions import SessionInfo, make_session, session_ports

STYLE_IMAGE_SIDE = 512  # AdaIN style statistics are computed at this longest side (a file may say, style_side)


class Stylizer(Protocol):
    info: ModelInfo
    session_info: SessionInfo

    def style_names(self) -> list[str]: ...

    def stylize(self, rgb: np.ndarray, mix: dict[str, float], strength: float, boldness: float = 0.0) -> np.ndarray:
        """rgb: uint8 H x W x 3 with H, W multiples of info.pad_multiple -> same shape, stylized. boldness:
        0 (faithful) .. 1 (bold), for a net with bold rows."""
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
        check_ports(info.path.name, "fast", "stylize", *session_ports(self.session), n_styles=len(info.style_names),
                    bold=info.bold)
        self._learned: dict[str, LearnedStyle] = {}  # learned styles (engine/learned.py), by name, in order

    def style_names(self) -> list[str]:
        return list(self.info.style_names) + list(self._learned)

    @property
    def bold(self) -> bool:
        """Whether boldness changes this net's pictures (it has bold rows)."""
        return self.info.bold

    def can_learn(self) -> str:
        """Why this net cannot run learned styles ('' when it can)."""
        if not self.info.code_size or not self.info.code_id:
            return f"{self.info.name} takes no learned styles (re-export it with `python -m export fast`)"
        return ""

    def add_learned(self, style: LearnedStyle) -> str:
        """Run a learned style on this net (InputError unless it was learned for this net's weights)."""
        why = self.can_learn()
        if why:
            raise InputError(why)
        if style.code_id != self.info.code_id or style.faithful.size != self.info.code_size:
            raise InputError(f"the learned style {style.name!r} was learned for other weights than "
                             f"{self.info.name}'s (the net has been retrained since): learn its painting again")
        if style.name in self.info.style_names:
            raise InputError(f"a learned style may not take the built-in name {style.name!r}")
        self._learned[style.name] = style
        return style.name

    def remove_learned(self, name: str) -> None:
        self._learned.pop(name, None)

    def learned_styles(self) -> list[LearnedStyle]:
        return list(self._learned.values())

    def frozen(self) -> "FastStylizer":
        """The same net (the session is shared) with its own copy of the learned styles (see AdaINStylizer)."""
        clone = copy.copy(self)
        clone._learned = dict(self._learned)
        return clone

    def weights_vector(self, mix: dict[str, float], boldness: float = 0.0) -> np.ndarray:
        """The built-in rows' weights: each style's faithful row, and with bold rows (1 - b) faithful + b bold."""
        return self._weights(normalize_mix(mix, self.style_names()), boldness)

    def _weights(self, norm: dict[str, float], boldness: float) -> np.ndarray:
        w = np.array([[norm.get(n, 0.0) for n in self.info.style_names]], dtype=np.float32)
        if not self.info.bold:
            return w
        b = min(1.0, max(0.0, float(boldness)))
        return np.concatenate([(1.0 - b) * w, b * w], axis=1)

    def style_code(self, mix: dict[str, float], boldness: float = 0.0) -> np.ndarray:
        """The learned styles' part of the mix: their rows at this boldness, weighted (zeros without any)."""
        return self._code(normalize_mix(mix, self.style_names()), boldness)

    def _code(self, norm: dict[str, float], boldness: float) -> np.ndarray:
        code = np.zeros((1, self.info.code_size), np.float32)
        for name, weight in norm.items():
            if name in self._learned and weight > 0:
                code[0] += weight * self._learned[name].code(boldness)
        return code

    def stylize(self, rgb: np.ndarray, mix: dict[str, float], strength: float, boldness: float = 0.0) -> np.ndarray:
        h, w = rgb.shape[:2]
        x = to_nchw(pad_to_min_side(rgb, self.info.min_side, self.info.pad_multiple))
        norm = normalize_mix(mix, self.style_names())  # once a frame, for both inputs
        feeds = {"image": x, "style_weights": self._weights(norm, boldness)}
        if self.info.code_size:
            feeds["style_code"] = self._code(norm, boldness)
        out = self.session.run(["output"], feeds)[0]
        return from_nchw(out)[:h, :w]

    def apply_strength(self, stylized: np.ndarray, original: np.ndarray, strength: float) -> np.ndarray:
        """A fast net has no strength input: blend its output with the original pixels."""
        return blend(stylized, original, strength)


class AdaINStylizer:
    family = "adain"

    def __init__(self, info: ModelInfo, provider: str = "auto", threads: int | None = None) -> None:
        self.info = info
        self.choice = None  # which file runs where, and why (engine.setup.ModelChoice), set by open_stylizer
        self.kind = contract(info.family, info.metadata)  # "adain" or "predicted"
        self.vectors = STYLE_VECTORS[self.kind]  # the statistics graph's outputs, fed to the stylize graph
        # a prediction for a net with bold rows: each style's codes are a faithful and a bold half
        self.bold = self.kind == "predicted" and info.bold
        self.style_side = int(info.metadata.get("style_side", STYLE_IMAGE_SIDE))
        self.session, self.session_info = make_session(str(info.path), provider, threads)
        self.stats_session, _ = make_session(str(info.companion), provider, threads)
        inputs, outputs = session_ports(self.session)
        stats_inputs, stats_outputs = session_ports(self.stats_session)
        check_ports(info.path.name, self.kind, "stylize", inputs, outputs)
        check_ports(info.companion.name, self.kind, "style_stats", stats_inputs, stats_outputs)
        check_statistics_match(info.path.name, inputs, stats_outputs, self.vectors)
        self._stats: dict[str, tuple[np.ndarray, ...]] = {}
        self._order: list[str] = []

    def style_names(self) -> list[str]:
        return list(self._order)

    def add_style(self, name: str, rgb: np.ndarray) -> str:
        """Compute and cache the style statistics of one image (run once per style)."""
        h, w = rgb.shape[:2]
        scale = min(1.0, self.style_side / max(h, w))
        if scale < 1.0:
            rgb = cv2.resize(rgb, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
        padded = pad_to_min_side(pad_to_multiple(rgb, self.info.pad_multiple)[0], self.info.min_side, self.info.pad_multiple)
        vectors = self.stats_session.run(list(self.vectors), {"style": to_nchw(padded)})
        if name not in self._stats:
            self._order.append(name)
        self._stats[name] = tuple(vectors)
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

    def style_stats(self) -> dict[str, tuple[np.ndarray, ...]]:
        """Every style's cached vectors ((mean, std) for AdaIN), in gallery order (shipped to render workers)."""
        return {n: self._stats[n] for n in self._order}

    def add_style_stats(self, name: str, *vectors: np.ndarray) -> str:
        if len(vectors) != len(self.vectors):
            raise InputError(f"a style of {self.info.name} is {len(self.vectors)} vectors, got {len(vectors)}")
        if name not in self._stats:
            self._order.append(name)
        self._stats[name] = tuple(np.asarray(v, np.float32) for v in vectors)
        return name

    def remove_style(self, name: str) -> None:
        self._stats.pop(name, None)
        if name in self._order:
            self._order.remove(name)

    def mixed_stats(self, mix: dict[str, float]) -> tuple[np.ndarray, ...]:
        norm = normalize_mix(mix, self._order)
        return tuple(np.ascontiguousarray(sum(w * self._stats[n][i] for n, w in norm.items()), np.float32)
                     for i in range(len(self.vectors)))

    def stylize(self, rgb: np.ndarray, mix: dict[str, float], strength: float, boldness: float = 0.0) -> np.ndarray:
        """boldness: weights the faithful and bold halves of a prediction for a net with bold rows (``bold``);
        no meaning for AdaIN."""
        h, w = rgb.shape[:2]
        x = to_nchw(pad_to_min_side(rgb, self.info.min_side, self.info.pad_multiple))
        feeds = dict(zip(self.vectors, self.mixed_stats(mix)))
        if self.kind == "predicted":
            feeds["image"] = x
            if self.bold:
                b, codes = min(1.0, max(0.0, float(boldness))), feeds["style_weights"]
                half = codes.shape[1] // 2
                feeds["style_weights"] = np.concatenate([(1.0 - b) * codes[:, :half], b * codes[:, half:]], axis=1)
        else:
            feeds.update(content=x, alpha=np.array([min(1.0, max(0.0, strength))], dtype=np.float32))
        out = self.session.run(["output"], feeds)[0]
        return from_nchw(out)[:h, :w]

    def apply_strength(self, stylized: np.ndarray, original: np.ndarray, strength: float) -> np.ndarray:
        """AdaIN: already applied inside the net as the paper's alpha (feature-space interpolation); the
        predicted variant is a fast net: a pixel blend with the original."""
        return blend(stylized, original, strength) if self.kind == "predicted" else stylized


def load_stylizer(path: str | Path, provider: str = "auto", threads: int | None = None) -> FastStylizer | AdaINStylizer:
    """The one entry point that turns a model file into a stylizer (built-in and user models alike)."""
    info = inspect_model(path)
    if info.family == "segmentation":
        raise InputError(f"{info.path.name} is a person-segmentation model, not a style model")
    if info.family == "fast":
        return FastStylizer(info, provider, threads)
    return AdaINStylizer(info, provider, threads)
