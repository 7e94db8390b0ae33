"""A live session: what the desktop controller and the headless `stylecast live` share.

It owns the loaded models (a fast net with built-in styles and an AdaIN model for style images),
the one FrameProcessor whose ``settings`` record every front end replaces, the source, the
pipeline while it runs, the recorder and the virtual camera, the newest frames, and the user's
style library. The Qt controller wraps it with signals; the control server (engine/control.py)
drives it over HTTP/WebSocket. Methods raise StyleCastError subclasses with one sentence for the
user; changes are announced to listeners as (event, value):

    settings  StyleSettings     styles   list of style names    model   path of the fast net
    provider  str               running  bool                   vcam    bool
    recording bool              error    str (the pipeline stopped on it)
    note      str (something was passed over, e.g. an unreadable style image; nothing stopped)
    learning  dict (a painting being learned as a live style: engine/learnjob.py's status)

Every public method takes one lock, so a remote client and the GUI may call them from different
threads; the inference thread never waits for it (it reads ``processor.settings`` once per frame).
"""
from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import InputError, ModelError, OutputError, StyleCastError
from .formats import IMAGE_SUFFIXES, safe_name
from .learned import learned_dir, load_learned, scan_learned
from .learnjob import DEFAULT_MINUTES, LearnJob
from .modelfile import ASSETS_DIR, discover_models
from .pipeline import LivePipeline, Stats
from .processor import FrameProcessor, StyleSettings
from .setup import ModelChoice, open_segmenter, open_stylizer, reason_on
from .sinks import CallbackSink, Sink, VideoFileSink, VirtualCameraSink
from .sources import Frame, FrameSource, list_cameras, open_source
from .stylizers import AdaINStylizer, normalize_mix
from .userstyles import StyleLibrary, crop_region

SAMPLE_CLIP = ASSETS_DIR / "samples" / "pedestrians.mp4"
# The Live defaults: the processing size that holds the camera's frame rate, brought back sharp
# (bench/live.py measures them; docs/benchmarks.md)
LIVE_SETTINGS = StyleSettings(auto_resolution=True)

Listener = Callable[[str, object], None]


def default_source() -> str:
    return "camera:0" if list_cameras() else str(SAMPLE_CLIP)


class LiveSession:
    def __init__(self, source_spec: str | None = None, provider: str = "auto",
                 library: StyleLibrary | None = None, learned_folder: Path | None = None) -> None:
        self.source_spec = source_spec or default_source()
        self.learned_folder = Path(learned_folder) if learned_folder is not None else learned_dir()
        self._learn: LearnJob | None = None
        self.learn_args: list[str] = []  # more flags for `stylecast learn-style` (e.g. --photos DIR)
        self.provider = provider
        self.library = library if library is not None else StyleLibrary()
        self.fast = None  # FastStylizer
        self.adain: AdaINStylizer | None = None
        self.processor = FrameProcessor(None, LIVE_SETTINGS)
        self.pipeline: LivePipeline | None = None
        self.outputs: list[Sink] = []  # extra sinks for every run (headless: a file, a folder)
        self.max_frames: int | None = None
        self.frame_listener: Callable[[np.ndarray, Frame], None] | None = None
        self._listeners: list[Listener] = []
        self._lock = threading.RLock()
        self._newest: tuple[np.ndarray, np.ndarray] | None = None  # (source, stylized), never consumed
        self._newest_lock = threading.Lock()
        self._recorder: VideoFileSink | None = None
        self._vcam: VirtualCameraSink | None = None

    # -- events ---------------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _emit(self, event: str, value: object) -> None:
        for fn in list(self._listeners):
            fn(event, value)

    # -- settings -------------------------------------------------------------------------------
    @property
    def settings(self) -> StyleSettings:
        return self.processor.settings

    def update(self, **changes) -> StyleSettings:
        """Replace the settings record with some values changed (InputError if one is out of range)."""
        with self._lock:
            settings = self.processor.settings.with_(**changes)
            self._need_segmenter(settings)
            self.processor.settings = settings
            self._emit("settings", self.processor.settings)
            return self.processor.settings

    def _need_segmenter(self, settings: StyleSettings) -> None:
        """A region mode loads the person-segmentation model first (ModelError, settings unchanged, without one)."""
        if settings.region != "all" and self.processor.segmenter is None:
            self.processor.segmenter = open_segmenter(None, self.provider)

    def apply_settings(self, settings: StyleSettings) -> StyleSettings:
        """Take over a whole record (restored at start); a mix the current models cannot show
        keeps the current styles."""
        with self._lock:
            mix = settings.mix
            if mix and set(mix) <= set(self.custom_styles()) and self.adain is not None:
                self._switch_to(self.adain)
            elif not (mix and set(mix) <= set(self.style_names())):
                mix = self.settings.mix
            settings = settings.with_(mix=mix)
            try:
                self._need_segmenter(settings)
            except StyleCastError as exc:  # saved with a region mode, and the model is gone: the whole frame
                settings = settings.with_(region="all", person_mix={})
                self._emit("note", str(exc))
            self.processor.settings = settings
            self._emit("settings", self.processor.settings)
            self._emit("styles", self.style_names())
            return self.processor.settings

    # -- models and styles ----------------------------------------------------------------------
    def load_default_models(self) -> None:
        """The built-in fast net and AdaIN model for this provider, and the user's saved styles.
        ModelError when neither is installed."""
        with self._lock:
            loaded = {}
            for family in ("fast", "adain"):
                try:
                    loaded[family] = open_stylizer(None, family, self.provider)
                except StyleCastError:
                    continue
            if not loaded:
                raise ModelError("no built-in model is installed: open a model file (File > Open model, or --model)")
            if "adain" in loaded:
                self._use_adain(loaded["adain"])
            if "fast" in loaded:
                self._use_fast(loaded["fast"])

    def adopt(self, processor: FrameProcessor) -> None:
        """Run an already built processor (the CLI's, from its flags) as this session's."""
        with self._lock:
            stylizer = processor.stylizer
            if isinstance(stylizer, AdaINStylizer):
                self._use_adain(stylizer)
            else:
                self.fast = stylizer
            self.processor = processor

    def set_model(self, path: str | Path) -> str:
        """Load a StyleCast .onnx file (fast net or AdaIN); returns its family."""
        with self._lock:
            stylizer = open_stylizer(path, provider=self.provider)
            if isinstance(stylizer, AdaINStylizer):
                self._use_adain(stylizer)
                self._activate(stylizer, {n: 1.0 for n in stylizer.style_names()[:1]})
            else:
                self._use_fast(stylizer)
            return stylizer.family

    def set_adain_model(self, path: str | Path) -> None:
        with self._lock:
            stylizer = open_stylizer(path, provider=self.provider)
            if not isinstance(stylizer, AdaINStylizer):
                raise ModelError(f"{Path(path).name} is not a style-image model")
            running_styles = self.adain is not None and self.processor.stylizer is self.adain
            self._use_adain(stylizer)
            if self.processor.stylizer is None:
                self._activate(stylizer, {})
            elif running_styles:  # your style images go on, through the model picked
                mix = {n: w for n, w in self.settings.mix.items() if n in stylizer.style_names()}
                self._activate(stylizer, mix or {n: 1.0 for n in stylizer.style_names()[:1]})
                self._emit("model", str(stylizer.info.path))

    def models(self) -> list[dict]:
        """The installed style models, fast nets and style-image models (built-in, then the user's folder)."""
        active = str(self.fast.info.path) if self.fast else None
        return [{"name": m.name, "family": m.family, "path": str(m.path), "styles": list(m.style_names),
                 "active": str(m.path) == active or (self.adain is not None and m.path == self.adain.info.path)}
                for m in discover_models() if m.family in ("fast", "adain")]

    def set_model_by_name(self, name: str) -> str:
        """A model from models() by name or path (what a remote client sends)."""
        styles = [m for m in discover_models() if m.family in ("fast", "adain")]
        for m in styles:
            if name in (m.name, str(m.path)):
                return self.set_model(m.path)
        raise InputError(f"unknown model {name!r}; available: {', '.join(m.name for m in styles)}")

    def _use_fast(self, stylizer) -> None:
        self.fast = stylizer
        self._load_learned(stylizer)
        mix = self.settings.mix  # another net with the same styles (mid8.int8 -> full8) keeps the look chosen
        if not (mix and set(mix) <= set(stylizer.style_names())):
            mix = {stylizer.style_names()[0]: 1.0}
        self._unshadow_builtins()
        self._activate(stylizer, mix)
        self._emit("model", str(stylizer.info.path))

    def _use_adain(self, stylizer: AdaINStylizer) -> None:
        if self.adain is not None and self.adain.info.path == stylizer.info.path:  # the same model elsewhere (device)
            stylizer.copy_styles_from(self.adain)
        self.adain = stylizer
        # a damaged, huge or foreign file in the folder is passed over with a note: it never stops the app
        for name, rgb in self.library.images(skip=stylizer.style_names()):
            stylizer.add_style(name, rgb)
        for note in self.library.skipped.values():
            self._emit("note", note)
        self._unshadow_builtins()

    def _unshadow_builtins(self) -> None:
        """A style image stored under a built-in style's name (a file saved before such names were
        refused) would take that name from the built-in style: it becomes ``my-NAME``, with a note."""
        if self.fast is None or self.adain is None:
            return
        builtin = self.fast.style_names()
        taken = {b.lower() for b in builtin}
        stored = self.library.entries()
        for name in [n for n in self.adain.style_names() if n.lower() in taken]:
            if name not in stored:
                continue
            try:
                new = self.library.rename(name, reserved=builtin)
            except StyleCastError as exc:
                self._emit("note", str(exc))
                continue
            vectors = self.adain.style_stats()[name]
            self.adain.remove_style(name)
            self.adain.add_style_stats(new, *vectors)
            self._emit("note", f"your style image {name!r} is now {new!r}, so {name!r} stays the built-in style")

    def _activate(self, stylizer, mix: dict[str, float]) -> None:
        self._switch_to(stylizer)
        self.processor.settings = self.processor.settings.with_(mix=mix)
        self._emit("settings", self.processor.settings)
        self._emit("styles", self.style_names())

    def _switch_to(self, stylizer) -> None:
        if self.processor.stylizer is not stylizer:
            self.processor.stylizer = stylizer  # picked up on the next frame
            self._emit("provider", stylizer.session_info.active)

    def style_names(self) -> list[str]:
        return self.processor.stylizer.style_names() if self.processor.stylizer else []

    def builtin_styles(self) -> list[str]:
        return self.fast.style_names() if self.fast else []

    def custom_styles(self) -> list[str]:
        return self.adain.style_names() if self.adain else []

    def custom_style_paths(self) -> dict[str, Path]:
        """Stored style images by name (the gallery's thumbnails)."""
        entries = self.library.entries()
        return {n: entries[n] for n in self.custom_styles() if n in entries}

    def model_choice(self) -> ModelChoice | None:
        """Which model runs now, where, and why (None before a model is loaded)."""
        stylizer = self.processor.stylizer
        choice = getattr(stylizer, "choice", None)
        if choice is None:
            return None
        if stylizer is self.adain and self.fast is not None:
            return replace(choice, reason=f"your style images run on it ({choice.reason})")
        return choice

    def active_provider(self) -> str:
        return self.processor.stylizer.session_info.active if self.processor.stylizer else ""

    def set_mix(self, mix: dict[str, float]) -> StyleSettings:
        """Weights over style names: custom names select the AdaIN model, built-in names the fast net."""
        with self._lock:
            try:
                mix = {str(k): float(v) for k, v in dict(mix).items()}
            except (TypeError, ValueError, AttributeError):
                raise InputError("a mix is a map of style names to numeric weights") from None
            mix = {k: v for k, v in mix.items() if v > 0}
            if not mix:
                raise InputError("choose at least one style with a weight above 0")
            custom, builtin = set(self.custom_styles()), set(self.builtin_styles())
            target = self.adain if custom and set(mix) <= custom else self.fast
            if target is None or not set(mix) <= set(target.style_names()):
                unknown = sorted(set(mix) - custom - builtin)
                if unknown:
                    raise InputError(f"unknown style {unknown[0]!r}; available: {', '.join(self.builtin_styles() + self.custom_styles())}")
                raise InputError("built-in styles and custom style images cannot be mixed with each other")
            normalize_mix(mix, target.style_names())  # refuses a bad mix; the record keeps the sliders' own weights
            self._switch_to(target)
            return self.update(mix=mix)

    def step_style(self, delta: int) -> str | None:
        """Next/previous built-in style."""
        with self._lock:
            names = self.builtin_styles()
            if not names:
                return None
            mix = self.settings.mix
            current = max(mix, key=mix.get) if mix else names[0]
            i = names.index(current) if current in names else -1
            name = names[(i + delta) % len(names)]
            self.set_mix({name: 1.0})
            return name

    def _need_adain(self) -> AdaINStylizer:
        if self.adain is None:
            try:
                self._use_adain(open_stylizer(None, "adain", self.provider))
                return self.adain
            except StyleCastError:
                pass
            raise ModelError("custom style images need an AdaIN model: open one with File > Open model "
                             "(or --model); see docs/models/")
        return self.adain

    def _use_new_style(self, name: str) -> None:
        """Select a just-added style image; on a CPU at a fixed size, switch to auto resolution (the
        style-image model is slower than the fast net: the size that held the rate before may not now)."""
        self.set_mix({name: 1.0})
        if self.active_provider() == "cpu" and not self.settings.auto_resolution:
            self.update(auto_resolution=True)

    def add_style_image(self, path: str | Path) -> str:
        """Any image as the style: copied into the user's library, its statistics computed once, selected."""
        with self._lock:
            adain = self._need_adain()
            name, stored, rgb = self.library.add_file(path, reserved=self.builtin_styles())
            adain.add_style(name, rgb)
            self._use_new_style(name)
            return name

    def capture_style(self, region: tuple[float, float, float, float] | None = None,
                      name: str | None = None) -> str:
        """The centre (or ``region``, fractions x, y, w, h) of the newest camera frame as a new
        style: stored in the library, added to the gallery, selected for the next frame. Returns
        the name it got: ``name`` made safe, never one of the built-in styles' (``my-NAME`` then)."""
        with self._lock:
            adain = self._need_adain()
            newest = self.newest()
            if newest is None:
                raise InputError("no camera frame yet: start the preview first")
            crop = crop_region(newest[0], region)
            name, _ = self.library.add_capture(crop, name, reserved=self.builtin_styles())
            adain.add_style(name, crop)
            self._use_new_style(name)
            return name

    def remove_style(self, name: str) -> None:
        with self._lock:
            if name not in self.custom_styles():
                raise InputError(f"{name!r} is not one of your style images")
            self.library.remove(name)
            self.adain.remove_style(name)
            if name in self.settings.mix:
                rest = {k: v for k, v in self.settings.mix.items() if k != name}
                if rest:
                    self.set_mix(rest)
                elif self.fast is not None:
                    self._activate(self.fast, {self.fast.style_names()[0]: 1.0})
            self._emit("styles", self.style_names())

    # -- learned styles: a painting learned as new norm rows of the fast net (engine/learned.py) ----
    def _load_learned(self, stylizer) -> None:
        """The user's learned styles onto a fast net that takes them; others are named in a note."""
        if stylizer.can_learn():
            return
        styles, broken = scan_learned(self.learned_folder)
        for path, why in broken:
            self._emit("note", f"passed over {path.name}: {why}")
        for style in styles:
            if style.name in stylizer.style_names():
                continue
            try:
                stylizer.add_learned(style)
            except StyleCastError as exc:
                self._emit("note", str(exc))

    def learned_styles(self) -> list[str]:
        return [st.name for st in self.fast.learned_styles()] if self.fast is not None else []

    def learned_thumbnail(self, name: str) -> np.ndarray | None:
        found = [st for st in (self.fast.learned_styles() if self.fast else []) if st.name == name]
        return found[0].thumbnail if found else None

    def learnable_paintings(self) -> dict[str, Path]:
        """Paintings that can be learned as live styles: the built-in styles' paintings, your style images."""
        found = {}
        catalogue = ASSETS_DIR / "styles" / "styles.json"
        try:
            entries = json.loads(catalogue.read_text())
        except (OSError, ValueError):
            entries = []
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and (ASSETS_DIR / "styles" / str(entry.get("file", ""))).is_file():
                found[str(entry.get("name"))] = ASSETS_DIR / "styles" / str(entry["file"])
        found.update(self.custom_style_paths())
        return found

    def learning(self) -> dict | None:
        """The newest learn job's status (None before any)."""
        return self._learn.status() if self._learn is not None else None

    def _learn_name(self, painting: Path, name: str | None) -> str:
        safe = safe_name(name or painting.stem, "-", 60, "learned")
        if name is None and (safe in self.builtin_styles() or safe in self.custom_styles()):
            safe = f"{safe}-live"  # a built-in painting or a style image, learned: a name beside its own
        if safe in self.builtin_styles() or safe in self.custom_styles():
            raise InputError(f"there is already a style named {safe!r}: give the learned style another name")
        return safe

    def learn_style(self, source: str | Path, name: str | None = None, minutes: float | None = None) -> str:
        """Learn a painting (a file, or a name from learnable_paintings()) as a live style in a background
        process; progress comes as "learning" events; the style joins the gallery when it is done."""
        with self._lock:
            if self._learn is not None and self._learn.active:
                raise InputError(f"already learning {self._learn.name!r}: wait for it or cancel it first")
            if self.fast is None or self.fast.can_learn():
                raise ModelError(self.fast.can_learn() if self.fast else "no fast net is loaded to learn a style for")
            paintings = self.learnable_paintings()
            painting = paintings.get(str(source)) or Path(source)
            if not painting.is_file() or painting.suffix.lower() not in IMAGE_SUFFIXES:
                raise InputError(f"{source}: not a painting to learn (an image file, or one of "
                                 f"{', '.join(paintings) or 'your styles'})")
            style = self._learn_name(painting, name if name is None else str(name))
            out, run_dir = self.learned_folder / f"{style}.npz", self.learned_folder / ".runs" / style
            args = ["--out", str(out), "--run-dir", str(run_dir), *self.learn_args]
            self._learn = LearnJob(painting, style, DEFAULT_MINUTES if minutes is None else minutes,
                                   self._on_learning, args).start()
            self._emit("learning", self._learn.status())
            return style

    def cancel_learning(self) -> None:
        with self._lock:
            if self._learn is None or not self._learn.active:
                raise InputError("no style is being learned")
            self._learn.cancel()

    def _on_learning(self, status: dict) -> None:
        """From the job's reader thread: a finished style joins the fast net's gallery."""
        if status["state"] == "done" and status.get("path"):
            with self._lock:
                try:
                    style = load_learned(status["path"])
                    if self.fast is not None:
                        self.fast.remove_learned(style.name)
                        self.fast.add_learned(style)
                except StyleCastError as exc:
                    status = {**status, "state": "failed", "message": str(exc)}
                self._emit("styles", self.style_names())
        self._emit("learning", status)

    def remove_learned(self, name: str) -> None:
        """Delete a learned style (its file) and take it out of the gallery and of the mix."""
        with self._lock:
            found = [st for st in (self.fast.learned_styles() if self.fast else []) if st.name == name]
            if not found:
                raise InputError(f"{name!r} is not one of your learned styles")
            if found[0].path is not None:
                found[0].path.unlink(missing_ok=True)
            self.fast.remove_learned(name)
            if name in self.settings.mix:
                rest = {k: v for k, v in self.settings.mix.items() if k != name}
                self._activate(self.fast, rest or {self.fast.style_names()[0]: 1.0})
            self._emit("styles", self.style_names())

    def set_provider(self, provider: str) -> str:
        """Rebuild the loaded models on another provider; returns the provider actually active."""
        with self._lock:
            fast = adain = None
            if self.fast is not None:  # the same files, and the same reason they were chosen
                fast = open_stylizer(self.fast.info.path, provider=provider, reason=reason_on(self.fast, provider))
                for style in self.fast.learned_styles():
                    fast.add_learned(style)
            if self.adain is not None:
                adain = open_stylizer(self.adain.info.path, provider=provider, reason=reason_on(self.adain, provider))
                adain.copy_styles_from(self.adain)
            on_fast = self.processor.stylizer is not None and self.processor.stylizer is self.fast
            self.provider, self.fast, self.adain = provider, fast, adain
            current = fast if on_fast or adain is None else adain
            if current is not None:
                self.processor.stylizer = current
                self._emit("provider", current.session_info.active)
            return self.active_provider()

    # -- source and pipeline --------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.pipeline is not None and self.pipeline.running

    def set_source(self, spec: str) -> None:
        with self._lock:
            was_running = self.running
            self.stop()
            self.source_spec = spec
            if was_running:
                self.start()

    def start(self, loop: bool = True, source: FrameSource | None = None) -> None:
        """Run the pipeline; ``source``: one already opened for ``source_spec`` (the CLI needs its fps first)."""
        with self._lock:
            if self.running:
                return
            if self.processor.stylizer is None:
                raise ModelError("no model loaded: open a model file first")
            source = source or open_source(self.source_spec, live=True, loop=loop)
            sinks = [CallbackSink(self._on_frame), *self.outputs,
                     *(s for s in (self._recorder, self._vcam) if s is not None)]
            self.pipeline = LivePipeline(source, self.processor, sinks, on_error=self._on_pipeline_error,
                                         max_frames=self.max_frames)
            try:
                self.pipeline.start()
            except BaseException:
                self.pipeline = None
                raise
            self._emit("running", True)

    def stop(self) -> None:
        with self._lock:
            if self.pipeline is None:
                return
            self.pipeline.stop()
            self.pipeline = None
            if self._recorder is not None:
                self._recorder = None  # the pipeline closed (finished) it
                self._emit("recording", False)
            self._emit("running", False)

    def _on_pipeline_error(self, exc: BaseException) -> None:
        self._emit("error", str(exc))

    def _on_frame(self, stylized: np.ndarray, frame: Frame) -> None:
        with self._newest_lock:
            self._newest = (frame.image, stylized)
        listener = self.frame_listener
        if listener is not None:
            listener(stylized, frame)

    def newest(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The newest (source, stylized) pair, or None before the first frame."""
        with self._newest_lock:
            return self._newest

    def stats(self) -> Stats | None:
        pipeline = self.pipeline
        return pipeline.stats if pipeline is not None else None

    # -- outputs --------------------------------------------------------------------------------
    def input_files(self) -> list[Path]:
        """Files this session reads (a file source, the models, the saved style images): no
        snapshot or recording may be written over one of them."""
        files = [Path(self.source_spec)] if Path(self.source_spec).is_file() else []
        for stylizer in (self.fast, self.adain):
            if stylizer is not None:
                files.append(stylizer.info.path)
        return files + list(self.custom_style_paths().values())

    def start_recording(self, path: str | Path) -> None:
        with self._lock:
            if not self.running:
                raise InputError("start the preview before recording")
            self._recorder = VideoFileSink(path, self.pipeline.source.fps, self.input_files())
            self.pipeline.add_sink(self._recorder)
            self._emit("recording", True)

    def stop_recording(self) -> None:
        with self._lock:
            recorder, self._recorder = self._recorder, None
            try:  # finishing the file may fail (a full disk): the recording has ended either way
                if recorder is not None and self.pipeline is not None:
                    self.pipeline.remove_sink(recorder, ok=True)
            finally:
                self._emit("recording", False)

    @property
    def vcam_on(self) -> bool:
        return self._vcam is not None

    def set_virtual_camera(self, on: bool) -> None:
        with self._lock:
            if on and self._vcam is None:
                try:
                    vcam = VirtualCameraSink(self.pipeline.source.fps if self.pipeline else 30.0)
                except StyleCastError:
                    self._emit("vcam", False)
                    raise
                self._vcam = vcam
                if self.pipeline is not None:
                    self.pipeline.add_sink(vcam)
            elif not on and self._vcam is not None:
                vcam, self._vcam = self._vcam, None
                if self.pipeline is not None:
                    self.pipeline.remove_sink(vcam)
                else:
                    vcam.close()
            self._emit("vcam", self._vcam is not None)

    def shutdown(self) -> None:
        if self._learn is not None:  # it checkpoints and ends: learning the painting again resumes it
            self._learn.cancel()
        try:
            self.set_virtual_camera(False)
        except OutputError:
            pass
        self.stop()

    # -- one picture of the whole state (the control API's answer) ------------------------------
    def state(self) -> dict:
        s, active = self.settings, self.processor.stylizer
        return {
            "settings": s.to_dict(),
            "running": self.running,
            "source": self.source_spec,
            "family": getattr(active, "family", None),
            # the file that stylizes now (the style-image model while style images are in the mix)
            "model": active.info.path.name if active is not None else None,
            "fast_model": str(self.fast.info.path.name) if self.fast else None,
            "provider": self.active_provider(),
            "why": (lambda c: c.describe() if c else None)(self.model_choice()),
            "styles": {"builtin": self.builtin_styles(), "custom": self.custom_styles(),
                       "learned": self.learned_styles()},
            "learning": self.learning(),
            "vcam": self.vcam_on,
            "recording": self._recorder is not None,
        }
