"""The per-frame processor and the one settings record it reads.

StyleSettings  everything that changes how a frame looks; immutable, replaced whole by other
               threads (CLI, GUI controller, saved settings), read once per frame.
FrameProcessor resize to the processing size -> pad (a mirrored margin on every side) -> stylize -> crop
               -> temporal smoothing -> colour preservation -> the stylizer's own strength -> resize back,
               timed per stage.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields, replace

import cv2
import numpy as np

from .errors import InputError
from .frames import fit_size, pad_with_margin, preserve_colors
from .stylizers import Stylizer
from .temporal import TemporalSmoother

# Mirrored margin added on every side before the net and cropped after, in multiples of the net's pad
# multiple (its coarsest feature map's cell): a net answers differently within a few cells of its input's
# edges, which showed as thin coloured lines along the frame at every size. Two cells (8 px for the fast
# nets, 16 px for AdaIN) take the lines out of the picture for ~11 % more pixels at 480x270
# (measured with bench/edges.py, docs/benchmarks.md).
EDGE_MARGIN_CELLS = 2


@dataclass(frozen=True)
class StyleSettings:
    """What the user chose. The engine reads it, the GUI edits it through its controller, the app
    saves it as it is (to_dict/from_dict), the CLI builds it from flags."""

    mix: dict[str, float] = field(default_factory=dict)  # style name -> weight; empty = first style
    strength: float = 1.0  # 0 = original, 1 = fully stylized
    preserve_colors: bool = False
    process_height: int | None = None  # processing resolution; None = the source's
    smoothing: float = 0.0  # temporal smoothing strength, 0 = off (engine/temporal.py)

    def with_(self, **changes) -> "StyleSettings":
        return replace(self, **changes).validated()

    def validated(self) -> "StyleSettings":
        """The same settings, or an InputError naming the first value out of range."""
        if not 0.0 <= self.strength <= 1.0:
            raise InputError(f"strength must be between 0 and 1, got {self.strength}")
        if not 0.0 <= self.smoothing <= 1.0:
            raise InputError(f"smoothing must be between 0 and 1, got {self.smoothing}")
        if self.process_height is not None and self.process_height < 16:
            raise InputError(f"processing height must be at least 16 pixels, got {self.process_height}")
        if any(w < 0 for w in self.mix.values()):
            raise InputError("style weights must not be negative")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "StyleSettings":
        """From to_dict()'s output (saved settings); unknown keys are ignored, bad values refused."""
        known = {f.name for f in fields(cls)}
        try:
            values = {k: v for k, v in dict(data).items() if k in known}
            values["mix"] = {str(k): float(w) for k, w in dict(values.get("mix") or {}).items()}
            for key, conv in (("strength", float), ("smoothing", float), ("preserve_colors", bool)):
                if key in values:
                    values[key] = conv(values[key])
            if values.get("process_height") is not None:
                values["process_height"] = int(values["process_height"]) or None
        except (TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"malformed style settings: {exc}") from None
        return cls(**values).validated()


@dataclass
class StageTimes:
    preprocess_ms: float = 0.0
    inference_ms: float = 0.0
    postprocess_ms: float = 0.0  # includes temporal smoothing


class FrameProcessor:
    """Applies a stylizer and the current settings to one frame. Thread-safe for one caller.

    ``stylizer`` and ``settings`` are each replaced whole by other threads; a change applies on the
    next frame. A processor may exist before its first model is loaded (the GUI builds one at start).
    """

    def __init__(self, stylizer: Stylizer | None, settings: StyleSettings | None = None) -> None:
        self.stylizer = stylizer
        self.settings = (settings or StyleSettings()).validated()
        self.smoother = TemporalSmoother()
        self._last_look: tuple | None = None
        self._last_time: float | None = None

    def snapshot(self) -> "FrameProcessor":
        """An independent processor with the same model and a frozen copy of the current settings
        (a render keeps its look while the live settings change)."""
        stylizer = self.stylizer
        if hasattr(stylizer, "frozen"):  # AdaIN: its own copy of the style table (a removed style stays here)
            stylizer = stylizer.frozen()
        return FrameProcessor(stylizer, self.settings)

    def reset(self) -> None:
        """Forget the previous frame (a new clip or a new live session starts)."""
        self.smoother.reset()
        self._last_look = None
        self._last_time = None

    def process(self, frame: np.ndarray, time_s: float | None = None) -> tuple[np.ndarray, StageTimes]:
        """``time_s``: the frame's time in seconds (capture time or presentation time), when known. Temporal
        smoothing weakens as the gap to the previous frame grows (a slow live preview sees frames far apart)."""
        s, stylizer = self.settings, self.stylizer  # one snapshot of each per frame
        if stylizer is None:
            raise InputError("no model loaded: open a model file first")
        if not set(s.mix) <= set(stylizer.style_names()):
            # another thread is switching model and styles (two replacements, not one): the settings
            # that go with this model follow at once; until then this one frame takes the model's first style
            s = self.settings
            if not set(s.mix) <= set(stylizer.style_names()):
                s = s.with_(mix={})
        t0 = time.perf_counter()
        h, w = frame.shape[:2]
        pw, ph = fit_size(w, h, s.process_height)
        small = cv2.resize(frame, (pw, ph), interpolation=cv2.INTER_AREA) if (pw, ph) != (w, h) else frame
        padded, (top, left, sh, sw) = pad_with_margin(small, stylizer.info.pad_multiple,
                                                    EDGE_MARGIN_CELLS * stylizer.info.pad_multiple)
        t1 = time.perf_counter()
        stylized = stylizer.stylize(padded, s.mix, s.strength)[top:top + sh, left:left + sw]
        t2 = time.perf_counter()
        look = (id(stylizer), tuple(sorted(s.mix.items())))
        if self._last_look is not None and look != self._last_look:
            self.smoother.style_changed()  # crossfade instead of a jump
        self._last_look = look
        dt = None
        if time_s is not None and self._last_time is not None and time_s > self._last_time:
            dt = time_s - self._last_time
        self._last_time = time_s
        stylized = self.smoother.apply(small, np.ascontiguousarray(stylized), s.smoothing, dt)
        if s.preserve_colors:
            stylized = preserve_colors(stylized, small)
        stylized = stylizer.apply_strength(stylized, small, s.strength)
        if (pw, ph) != (w, h):
            stylized = cv2.resize(stylized, (w, h), interpolation=cv2.INTER_LINEAR)
        out = np.ascontiguousarray(stylized)
        t3 = time.perf_counter()
        return out, StageTimes((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
