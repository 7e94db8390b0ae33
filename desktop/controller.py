"""The GUI's only door into the engine: slots to change things, signals for what happened.

The style settings live in one place, ``processor.settings`` (the record the inference thread
reads); ``settings`` reads it, the slots replace it whole and emit ``settings_changed``, and the
app saves and restores it as it is (``StyleSettings.to_dict``/``from_dict``). Models are loaded
through ``engine.setup.open_stylizer``, the same builder the CLI uses.

The widgets never see ONNX sessions or arrays other than finished RGB frames; everything heavy
runs on the engine's worker threads. Frames arrive through a one-slot handoff: the inference
thread stores the newest frame and emits ``frame_ready`` only when the GUI has taken the last
one, so a slow repaint can never queue frames (the display always paints the newest).
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from engine.errors import InputError, StyleCastError
from engine.frames import save_image
from engine.modelfile import ASSETS_DIR, discover_models
from engine.pipeline import LivePipeline, Stats
from engine.sinks import CallbackSink, VideoFileSink, VirtualCameraSink
from engine.sources import Frame, list_cameras, open_source
from engine.processor import FrameProcessor, StyleSettings
from engine.setup import open_stylizer
from engine.stylizers import AdaINStylizer, normalize_mix

SAMPLE_CLIP = ASSETS_DIR / "samples" / "pedestrians.mp4"
STYLE_INFO = ASSETS_DIR / "styles" / "styles.json"


def to_qimage(rgb: np.ndarray) -> QImage:
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()  # copy: the array may be reused


class EngineController(QObject):
    frame_ready = Signal()  # call take_frame() for the newest (original, stylized) pair
    stats_changed = Signal(object)  # engine.pipeline.Stats
    error = Signal(str)
    running_changed = Signal(bool)
    styles_changed = Signal(list)  # style names of the active model
    provider_changed = Signal(str)  # the provider actually running
    model_changed = Signal(str)  # path of the fast net now in use
    recording_changed = Signal(bool)
    vcam_changed = Signal(bool)
    settings_changed = Signal(object)  # engine.processor.StyleSettings now in use
    _pipeline_failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.source_spec = "camera:0" if list_cameras() else str(SAMPLE_CLIP)
        self.provider = "auto"
        self.fast = None  # FastStylizer
        self.adain: AdaINStylizer | None = None
        self.processor = FrameProcessor(None, StyleSettings())  # exists from the start; the model comes later
        self.pipeline: LivePipeline | None = None
        self._latest: tuple[np.ndarray, np.ndarray] | None = None
        self._latest_lock = threading.Lock()
        self._pending = False
        self._recorder: VideoFileSink | None = None
        self._vcam: VirtualCameraSink | None = None
        self._pipeline_failed.connect(self._on_pipeline_failed)

    # -- settings -------------------------------------------------------------------------------
    @property
    def settings(self) -> StyleSettings:
        return self.processor.settings

    def _update(self, **changes) -> None:
        self.processor.settings = self.processor.settings.with_(**changes)
        self.settings_changed.emit(self.processor.settings)

    def apply_settings(self, settings: StyleSettings) -> None:
        """Take over a whole settings record (restored at start); a mix naming styles the current
        model lacks keeps the current styles instead."""
        mix = settings.mix
        try:
            names = self.style_names()
            mix = normalize_mix(mix, names) if mix and set(mix) <= set(names) else self.settings.mix
        except StyleCastError:
            mix = self.settings.mix
        self.processor.settings = settings.with_(mix=mix)
        self.settings_changed.emit(self.processor.settings)
        self.styles_changed.emit(self.style_names())

    def settings_json(self) -> str:
        return json.dumps(self.settings.to_dict(), sort_keys=True)

    def restore_settings_json(self, text: str) -> None:
        try:
            self.apply_settings(StyleSettings.from_dict(json.loads(text)))
        except (ValueError, TypeError, StyleCastError) as exc:
            self.error.emit(f"saved settings ignored: {exc}")

    # -- models and styles --------------------------------------------------------------------
    def load_default_models(self) -> None:
        loaded = {}
        for family in ("fast", "adain"):
            try:
                loaded[family] = open_stylizer(None, family, self.provider)
            except StyleCastError:
                continue
        if not loaded:
            self.error.emit("no built-in model is installed: open a model file (File > Open model)")
            return
        if "fast" in loaded:
            self._use_fast(loaded["fast"])
        if "adain" in loaded:
            self.adain = loaded["adain"]
            if self.processor.stylizer is None:
                self._activate(self.adain, {})

    def _load(self, path: str):
        try:
            return open_stylizer(path, provider=self.provider)
        except StyleCastError as exc:
            self.error.emit(str(exc))
            return None

    def _use_fast(self, stylizer) -> None:
        self.fast = stylizer
        self._activate(stylizer, {stylizer.style_names()[0]: 1.0})
        self.model_changed.emit(str(stylizer.info.path))

    @Slot(str)
    def set_model(self, path: str) -> bool:
        """Load a fast net (or an AdaIN model) from a StyleCast .onnx file."""
        stylizer = self._load(path)
        if stylizer is None:
            return False
        if isinstance(stylizer, AdaINStylizer):
            self.adain = stylizer
            self._activate(stylizer, {})
        else:
            self._use_fast(stylizer)
        return True

    def fast_models(self) -> list[tuple[str, str]]:
        """(name, path) of the installed fast nets: built-in ones, then the user's models folder."""
        return [(m.name, str(m.path)) for m in discover_models() if m.family == "fast"]

    @Slot(str)
    def set_adain_model(self, path: str) -> bool:
        stylizer = self._load(path)
        if stylizer is None:
            return False
        if not isinstance(stylizer, AdaINStylizer):
            self.error.emit(f"{Path(path).name} is not an AdaIN model")
            return False
        self.adain = stylizer
        if self.processor.stylizer is None:
            self._activate(stylizer, {})
        return True

    def _activate(self, stylizer, mix: dict[str, float]) -> None:
        self.processor.stylizer = stylizer  # picked up on the next frame
        self._update(mix=mix)
        self.styles_changed.emit(self.style_names())
        self.provider_changed.emit(stylizer.session_info.active)

    def style_names(self) -> list[str]:
        return self.processor.stylizer.style_names() if self.processor.stylizer else []

    def active_provider(self) -> str:
        return self.processor.stylizer.session_info.active if self.processor.stylizer else ""

    def style_catalogue(self) -> dict[str, dict]:
        """Built-in style images and their titles (assets/styles/styles.json), by style name."""
        if not STYLE_INFO.is_file():
            return {}
        return {s["name"]: {**s, "path": str(STYLE_INFO.parent / s["file"])} for s in json.loads(STYLE_INFO.read_text())}

    def cameras(self) -> list[int]:
        return list_cameras()

    def processor_snapshot(self) -> FrameProcessor | None:
        """For a render: the current model with a frozen copy of the settings (None before a model loads)."""
        return self.processor.snapshot() if self.processor.stylizer is not None else None

    def builtin_styles(self) -> list[str]:
        return self.fast.style_names() if self.fast else []

    def custom_styles(self) -> list[str]:
        return self.adain.style_names() if self.adain else []

    @Slot(str)
    def add_style_image(self, path: str) -> str | None:
        """Any image as the style: computes its AdaIN statistics once and switches to it."""
        if self.adain is None:
            self.error.emit("custom style images need an AdaIN model: open one with File > Open model "
                            "(none is built in yet; see docs/models/)")
            return None
        try:
            name = self.adain.add_style_file(path)
        except StyleCastError as exc:
            self.error.emit(str(exc))
            return None
        self.set_mix({name: 1.0})
        return name

    @Slot(dict)
    def set_mix(self, mix: dict) -> None:
        """Weights over style names; names of custom images select the AdaIN model, built-in names the fast net."""
        mix = {k: float(v) for k, v in mix.items() if float(v) > 0}
        if not mix:
            return
        custom = set(self.custom_styles())
        target = self.adain if set(mix) <= custom and custom else self.fast
        if target is None or not set(mix) <= set(target.style_names()):
            self.error.emit("built-in styles and custom style images cannot be mixed with each other")
            return
        if self.processor.stylizer is not target:
            self.processor.stylizer = target
            self.provider_changed.emit(target.session_info.active)
        self._update(mix=mix)

    @Slot(str)
    def set_style(self, name: str) -> None:
        self.set_mix({name: 1.0})

    def step_style(self, delta: int) -> str | None:
        """Next/previous built-in style (keyboard shortcuts)."""
        names = self.builtin_styles()
        if not names:
            return None
        current = max(self.settings.mix, key=self.settings.mix.get) if self.settings.mix else names[0]
        i = names.index(current) if current in names else -1
        name = names[(i + delta) % len(names)]
        self.set_style(name)
        return name

    @Slot(float)
    def set_strength(self, value: float) -> None:
        self._update(strength=min(1.0, max(0.0, float(value))))

    @Slot(bool)
    def set_preserve_colors(self, on: bool) -> None:
        self._update(preserve_colors=bool(on))

    @Slot(float)
    def set_smoothing(self, value: float) -> None:
        self._update(smoothing=min(1.0, max(0.0, float(value))))

    @Slot(int)
    def set_process_height(self, height: int) -> None:
        self._update(process_height=int(height) or None)

    @Slot(str)
    def set_provider(self, provider: str) -> None:
        """Rebuild the loaded models on another provider; reports the provider actually active."""
        old = self.provider
        self.provider = provider
        try:
            if self.fast is not None:
                self.fast = open_stylizer(self.fast.info.path, provider=provider)
            if self.adain is not None:
                moved = open_stylizer(self.adain.info.path, provider=provider)
                moved.copy_styles_from(self.adain)
                self.adain = moved
        except StyleCastError as exc:
            self.provider = old
            self.error.emit(str(exc))
            return
        current = self.fast if getattr(self.processor.stylizer, "family", "fast") == "fast" else self.adain
        if current is not None:
            self.processor.stylizer = current
            self.provider_changed.emit(current.session_info.active)

    # -- source and pipeline ------------------------------------------------------------------
    @Slot(str)
    def set_source(self, spec: str) -> None:
        was_running = self.running
        self.stop()
        self.source_spec = spec
        if was_running:
            self.start()

    @property
    def running(self) -> bool:
        return self.pipeline is not None and self.pipeline.running

    @Slot()
    def start(self) -> bool:
        if self.running:
            return True
        if self.processor.stylizer is None:
            self.error.emit("no model loaded: open a model file first")
            return False
        try:
            source = open_source(self.source_spec, live=True, loop=True)
            sinks = [CallbackSink(self._on_frame)] + [s for s in (self._recorder, self._vcam) if s]
            self.pipeline = LivePipeline(source, self.processor, sinks,
                                         on_error=lambda exc: self._pipeline_failed.emit(str(exc)))
            self.pipeline.start()
        except StyleCastError as exc:
            self.pipeline = None
            self.error.emit(str(exc))
            return False
        self.running_changed.emit(True)
        return True

    @Slot()
    def stop(self) -> None:
        if self.pipeline is not None:
            self.pipeline.stop()
            self.pipeline = None
            self._recorder = None  # the pipeline closed (finished) it
            self.recording_changed.emit(False)
            self.running_changed.emit(False)

    def _on_pipeline_failed(self, message: str) -> None:
        self.error.emit(message)
        self.stop()

    def _on_frame(self, stylized: np.ndarray, frame: Frame) -> None:
        """Inference thread: keep only the newest pair; signal the GUI if it has taken the last."""
        with self._latest_lock:
            self._latest = (frame.image, stylized)
            notify = not self._pending
            self._pending = True
        if notify:
            self.frame_ready.emit()

    def take_frame(self) -> tuple[QImage, QImage] | None:
        """GUI thread: the newest (original, stylized) pair as QImages, or None."""
        with self._latest_lock:
            latest, self._latest, self._pending = self._latest, None, False
        if latest is None:
            return None
        return to_qimage(latest[0]), to_qimage(latest[1])

    def last_stylized(self) -> np.ndarray | None:
        with self._latest_lock:
            return None if self._latest is None else self._latest[1]

    def poll_stats(self) -> Stats | None:
        if self.pipeline is None:
            return None
        stats = self.pipeline.stats
        self.stats_changed.emit(stats)
        return stats

    # -- outputs ------------------------------------------------------------------------------
    def snapshot(self, path: str, image: QImage | None = None) -> bool:
        """Save the newest stylized frame (or ``image``) to a file."""
        try:
            if image is None:
                raise InputError("no frame to save yet: start the preview first")
            ptr = image.convertToFormat(QImage.Format_RGB888)
            arr = np.frombuffer(ptr.constBits(), np.uint8).reshape(ptr.height(), ptr.bytesPerLine())
            rgb = np.ascontiguousarray(arr[:, : ptr.width() * 3].reshape(ptr.height(), ptr.width(), 3))
            save_image(path, rgb)
        except StyleCastError as exc:
            self.error.emit(str(exc))
            return False
        return True

    @Slot(str)
    def start_recording(self, path: str) -> bool:
        if not self.running:
            self.error.emit("start the preview before recording")
            return False
        try:
            self._recorder = VideoFileSink(path, self.pipeline.source.fps)
        except StyleCastError as exc:
            self.error.emit(str(exc))
            return False
        self.pipeline.add_sink(self._recorder)
        self.recording_changed.emit(True)
        return True

    @Slot()
    def stop_recording(self) -> None:
        if self._recorder is not None and self.pipeline is not None:
            try:
                self.pipeline.remove_sink(self._recorder, ok=True)
            except StyleCastError as exc:
                self.error.emit(str(exc))
        self._recorder = None
        self.recording_changed.emit(False)

    @Slot(bool)
    def set_virtual_camera(self, on: bool) -> bool:
        if on:
            try:
                self._vcam = VirtualCameraSink(self.pipeline.source.fps if self.pipeline else 30.0)
            except StyleCastError as exc:
                self.error.emit(str(exc))
                self.vcam_changed.emit(False)
                return False
            if self.pipeline is not None:
                self.pipeline.add_sink(self._vcam)
        elif self._vcam is not None:
            if self.pipeline is not None:
                self.pipeline.remove_sink(self._vcam)
            else:
                self._vcam.close()
            self._vcam = None
        self.vcam_changed.emit(on)
        return True

    def shutdown(self) -> None:
        self.set_virtual_camera(False) if self._vcam else None
        self.stop()
