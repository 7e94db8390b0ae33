"""The per-frame processor and the one settings record it reads.

StyleSettings  everything that changes how a frame looks; immutable, replaced whole by other
               threads (CLI, GUI controller, saved settings), read once per frame.
FrameProcessor resize to the processing size (fixed, or picked to hold the frame rate) -> pad (a mirrored
               margin on every side) -> stylize -> crop | temporal smoothing -> colour preservation -> the
               stylizer's own strength -> back to the frame's size guided by the frame; timed per stage. The
               two halves (split at |) run on two threads live.
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace

import cv2
import numpy as np

from .autores import AutoResolution, clamp_target_fps
from .errors import InputError
from .segment import REGIONS, PersonSegmenter, blend_regions
from .modelfile import default_model
from .frames import downscale, fit_size, pad_with_margin, preserve_colors
from .stylizers import Stylizer
from .temporal import TemporalSmoother
from .upsample import guided_upsample

# Mirrored margin added on every side before the net and cropped after, in multiples of the net's pad
# multiple (its coarsest feature map's cell): a net answers differently within a few cells of its input's
# edges, which showed as thin coloured lines along the frame at every size. Two cells (8 px for the fast
# nets, 16 px for AdaIN) take the lines out of the picture for ~11 % more pixels at 480x270
# (measured with bench/edges.py, docs/benchmarks.md).
EDGE_MARGIN_CELLS = 2
# above this many output pixels the upscale is bilinear: the guided filter's work arrays take ~21 bytes a pixel
SHARP_UPSCALE_MAX_PIXELS = 36_000_000


@dataclass(frozen=True)
class StyleSettings:
    """What the user chose. The engine reads it, the GUI edits it through its controller, the app
    saves it as it is (to_dict/from_dict), the CLI builds it from flags."""

    mix: dict[str, float] = field(default_factory=dict)  # style name -> weight; empty = first style
    strength: float = 1.0  # 0 = original, 1 = fully stylized
    # 0 = faithful (the photo's detail under the painting's colours and fine texture) .. 1 = bold (the
    # painting's strokes, large); a fast net with bold rows mixes each style's two rows (engine/stylizers.py)
    boldness: float = 0.0
    preserve_colors: bool = False
    process_height: int | None = None  # processing resolution; None = the source's
    # live: the processing height that holds the source's frame rate (engine/autores.py); process_height is
    # then ignored. Off for renders, which process every frame at their own size however long it takes
    auto_resolution: bool = False
    # a processing size below the frame's is brought back guided by the frame (engine/upsample.py: the
    # photo's edges at full resolution, the painting's strokes at the processing scale); off: bilinear
    sharp_upscale: bool = True
    smoothing: float = 0.0  # temporal smoothing strength, 0 = off (engine/temporal.py)
    # where the style goes (engine/segment.py): "all", "background" (the person is kept) or "person" (the
    # background is kept); what is kept shows the original, or person_mix's styles (two styles in one frame)
    region: str = "all"
    person_mix: dict[str, float] = field(default_factory=dict)

    def with_(self, **changes) -> "StyleSettings":
        return replace(self, **changes).validated()

    def validated(self) -> "StyleSettings":
        """The same settings, or an InputError naming the first value out of range."""
        if not 0.0 <= self.strength <= 1.0:
            raise InputError(f"strength must be between 0 and 1, got {self.strength}")
        if not 0.0 <= self.boldness <= 1.0:
            raise InputError(f"boldness must be between 0 and 1, got {self.boldness}")
        if not 0.0 <= self.smoothing <= 1.0:
            raise InputError(f"smoothing must be between 0 and 1, got {self.smoothing}")
        if self.process_height is not None and self.process_height < 16:
            raise InputError(f"processing height must be at least 16 pixels, got {self.process_height}")
        if any(w < 0 for w in [*self.mix.values(), *self.person_mix.values()]):
            raise InputError("style weights must not be negative")
        if self.region not in REGIONS:
            raise InputError(f"region must be one of {', '.join(REGIONS)}, got {self.region!r}")
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
            values["person_mix"] = {str(k): float(w) for k, w in dict(values.get("person_mix") or {}).items()}
            if "region" in values:
                values["region"] = str(values["region"])
            for key, conv in (("strength", float), ("boldness", float), ("smoothing", float), ("preserve_colors", bool),
                              ("auto_resolution", bool), ("sharp_upscale", bool)):
                if key in values:
                    values[key] = conv(values[key])
            if values.get("process_height") is not None:
                values["process_height"] = int(values["process_height"]) or None
        except (TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"malformed style settings: {exc}") from None
        return cls(**values).validated()


@dataclass
class StageTimes:
    preprocess_ms: float = 0.0  # resize to the processing size, mirrored margin
    inference_ms: float = 0.0
    postprocess_ms: float = 0.0  # everything after the model: the three below and the crop
    smoothing_ms: float = 0.0
    colour_ms: float = 0.0  # colour preservation and strength
    upscale_ms: float = 0.0  # back to the frame's size
    process_size: tuple[int, int] = (0, 0)  # (width, height) the model ran at


@dataclass
class Stylized:
    """A frame between the two halves of the processor: the model's output at the processing size, with the
    frame, its downsized copy and the settings and stylizer it was made with (the finishing half uses those,
    not newer ones, so a change mid-frame never mixes two looks)."""

    frame: np.ndarray
    small: np.ndarray
    stylized: np.ndarray
    settings: StyleSettings
    stylizer: Stylizer
    time_s: float | None
    times: StageTimes
    mask: np.ndarray | None = None  # where the person is (region modes), at the processing size
    kept: np.ndarray | None = None  # what the region that is not styled shows: person_mix's styles, or None (the original)


class FrameProcessor:
    """Applies a stylizer and the current settings to one frame, in two halves that may run on two threads
    (the live pipeline overlaps frame N's finishing with frame N+1's model run): ``stylize_small`` (resize,
    margin, the model) and ``finish`` (smoothing, colour, strength, upscaling). ``process`` runs both.

    ``stylizer`` and ``settings`` are each replaced whole by other threads; a change applies on the
    next frame. A processor may exist before its first model is loaded (the GUI builds one at start).
    With ``settings.auto_resolution`` the processing height is ``self.auto``'s pick, fed with the measured
    time per frame (``record_busy``).
    """

    def __init__(self, stylizer: Stylizer | None, settings: StyleSettings | None = None,
                 segmenter: PersonSegmenter | None = None) -> None:
        self.stylizer = stylizer
        self.settings = (settings or StyleSettings()).validated()
        self.segmenter = segmenter  # the person-segmentation model, for region modes
        self.last_mask: np.ndarray | None = None  # the mask of the frame finished last (a preview shows it)
        self.smoother = TemporalSmoother()
        self.kept_smoother = TemporalSmoother()  # the other region's own style (region modes), smoothed alike
        # one auto resolution per model file: switching between the fast net and a style-image model (about 12x
        # its cost) goes back to the size each held, instead of starting from the other's size
        self._autos: dict[str, AutoResolution] = {}
        self._target_fps: float | None = None
        self._auto_lock = threading.Lock()  # the pick is read by the model thread, fed by the finishing one
        self.clock = time.perf_counter  # stage times (a test may give a clock of its own)
        self._last_look: tuple | None = None
        self._last_time: float | None = None

    def snapshot(self) -> "FrameProcessor":
        """An independent processor with the same model and a frozen copy of the current settings
        (a render keeps its look while the live settings change)."""
        copy = self.derive(self.settings)
        if hasattr(copy.stylizer, "frozen"):  # AdaIN: its own copy of the style table (a removed style stays here)
            copy.stylizer = copy.stylizer.frozen()
        return copy

    def derive(self, settings: StyleSettings) -> "FrameProcessor":
        """Another processor with this one's model for ``settings`` (a render row's): with a segmenter of its own
        (its own mask history) when ``settings`` has a region mode: this one's segmentation model, or the built-in."""
        segmenter = None
        if settings.region != "all":
            info = self.segmenter.info if self.segmenter is not None else default_model("segmentation", "cpu")
            segmenter = PersonSegmenter(info) if info is not None else None  # none installed: the first frame says so
        return FrameProcessor(self.stylizer, settings, segmenter)

    def reset(self) -> None:
        """Forget the previous frame (a new clip or a new live session starts)."""
        self.smoother.reset()
        self.kept_smoother.reset()
        if self.segmenter is not None:
            self.segmenter.reset()
        with self._auto_lock:
            self._autos.clear()
        self._last_look = None
        self._last_time = None

    def _auto_for(self, stylizer: Stylizer | None) -> AutoResolution:
        """The auto resolution of ``stylizer``'s model file (made at its first frame). Call under _auto_lock."""
        key = str(stylizer.info.path) if stylizer is not None else ""
        auto = self._autos.get(key)
        if auto is None:
            auto = self._autos[key] = AutoResolution()
            if self._target_fps is not None:
                auto.target_fps = self._target_fps
        return auto

    @property
    def auto(self) -> AutoResolution:
        """The running model's auto resolution: its pick, its measurements (the display shows them)."""
        with self._auto_lock:
            return self._auto_for(self.stylizer)

    def set_target_fps(self, fps: float | None) -> None:
        """The frame rate every model's auto resolution holds (the source's)."""
        with self._auto_lock:
            self._target_fps = clamp_target_fps(fps)
            for auto in self._autos.values():
                auto.target_fps = self._target_fps

    def processing_size(self, width: int, height: int, s: StyleSettings,
                        stylizer: Stylizer | None = None) -> tuple[int, int]:
        if s.auto_resolution:
            with self._auto_lock:
                return fit_size(width, height, self._auto_for(stylizer or self.stylizer).height_for(height))
        return fit_size(width, height, s.process_height)

    def _current(self) -> tuple[StyleSettings, Stylizer]:
        s, stylizer = self.settings, self.stylizer  # one snapshot of each per frame
        if stylizer is None:
            raise InputError("no model loaded: open a model file first")
        if not set(s.mix) <= set(stylizer.style_names()):
            # another thread is switching model and styles (two replacements, not one): the settings
            # that go with this model follow at once; until then this one frame takes the model's first style
            s = self.settings
            if not set(s.mix) <= set(stylizer.style_names()):
                s = s.with_(mix={})
        if not set(s.person_mix) <= set(stylizer.style_names()):  # likewise for the kept region's styles
            s = s.with_(person_mix={})
        return s, stylizer

    def stylize_small(self, frame: np.ndarray, time_s: float | None = None) -> Stylized:
        """The first half: the frame at the processing size through the model."""
        s, stylizer = self._current()
        t0 = self.clock()
        h, w = frame.shape[:2]
        pw, ph = self.processing_size(w, h, s, stylizer)
        small = downscale(frame, (pw, ph)) if (pw, ph) != (w, h) else frame
        padded, (top, left, sh, sw) = pad_with_margin(small, stylizer.info.pad_multiple,
                                                    EDGE_MARGIN_CELLS * stylizer.info.pad_multiple)
        t1 = self.clock()
        stylized = stylizer.stylize(padded, s.mix, s.strength, s.boldness)[top:top + sh, left:left + sw]
        mask = kept = None
        if s.region != "all":
            if self.segmenter is None:
                raise InputError("styling only the person or the background needs a person-segmentation model "
                                 "(assets/models/selfie_segmentation.onnx)")
            mask = self.segmenter.mask(small)
            if s.person_mix:
                kept = stylizer.stylize(padded, s.person_mix, s.strength, s.boldness)[top:top + sh, left:left + sw]
        t2 = self.clock()
        times = StageTimes((t1 - t0) * 1e3, (t2 - t1) * 1e3, process_size=(pw, ph))
        return Stylized(frame, small, stylized, s, stylizer, time_s, times, mask, kept)

    def finish(self, item: Stylized) -> tuple[np.ndarray, StageTimes]:
        """The second half: temporal smoothing, colour preservation, strength, back to the frame's size."""
        s, stylizer, small = item.settings, item.stylizer, item.small
        t0 = self.clock()
        look = (id(stylizer), tuple(sorted(s.mix.items())))
        if self._last_look is not None and look != self._last_look:
            self.smoother.style_changed()  # crossfade instead of a jump
            self.kept_smoother.style_changed()
        self._last_look = look
        dt = None
        if item.time_s is not None and self._last_time is not None and item.time_s > self._last_time:
            dt = item.time_s - self._last_time
        self._last_time = item.time_s
        stylized = self.smoother.apply(small, np.ascontiguousarray(item.stylized), s.smoothing, dt)
        kept_styled = None
        if item.kept is not None:
            kept_styled = self.kept_smoother.apply(small, np.ascontiguousarray(item.kept), s.smoothing, dt)
        t1 = self.clock()
        if s.preserve_colors:
            stylized = preserve_colors(stylized, small)
        stylized = stylizer.apply_strength(stylized, small, s.strength)
        self.last_mask = item.mask
        if item.mask is not None:
            kept = small if kept_styled is None else stylizer.apply_strength(
                preserve_colors(kept_styled, small) if s.preserve_colors else kept_styled, small, s.strength)
            person, background = (kept, stylized) if s.region == "background" else (stylized, kept)
            stylized = blend_regions(person, background, item.mask)
        t2 = self.clock()
        h, w = item.frame.shape[:2]
        if small.shape[:2] != (h, w):
            if s.sharp_upscale and h * w <= SHARP_UPSCALE_MAX_PIXELS:
                stylized = guided_upsample(stylized, small, item.frame)
            else:
                stylized = cv2.resize(stylized, (w, h), interpolation=cv2.INTER_LINEAR)
        out = np.ascontiguousarray(stylized)
        t3 = self.clock()
        times = replace(item.times, postprocess_ms=(t3 - t0) * 1e3, smoothing_ms=(t1 - t0) * 1e3,
                        colour_ms=(t2 - t1) * 1e3, upscale_ms=(t3 - t2) * 1e3)
        return out, times

    def record_busy(self, times: StageTimes, settings: StyleSettings, stylizer: Stylizer | None = None) -> None:
        """Tell the auto resolution of the model that made the frame (``stylizer``, default the running one)
        what the frame cost at its size: the model stage (resize and the net). The finishing half overlaps it
        live and works mostly at the frame's size, which no processing size changes: counting it would walk a
        large source down to the lowest size for nothing."""
        if settings.auto_resolution:
            with self._auto_lock:
                self._auto_for(stylizer or self.stylizer).record(times.process_size[1],
                                                                 times.preprocess_ms + times.inference_ms)

    def process(self, frame: np.ndarray, time_s: float | None = None) -> tuple[np.ndarray, StageTimes]:
        """Both halves on the caller's thread. ``time_s``: the frame's time in seconds (capture time or
        presentation time), when known. Temporal smoothing weakens as the gap to the previous frame grows
        (a slow live preview sees frames far apart)."""
        item = self.stylize_small(frame, time_s)
        out, times = self.finish(item)
        self.record_busy(times, item.settings, item.stylizer)
        return out, times
