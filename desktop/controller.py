"""The GUI's only door into the engine: slots to change things, signals for what happened.

Everything that is not Qt lives in ``engine.live.LiveSession`` (the same session the headless
`stylecast live` and the remote-control API drive): models, the one settings record
(``processor.settings``), the pipeline, recorder, virtual camera, the user's style library. The
controller turns the session's events into Qt signals, so a change made by a slot, by a restored
record or by a remote client (engine/control.py, marshalled onto the GUI thread by
desktop/remote.py) updates the widgets the same way. Slots report failures on ``error`` instead
of raising.

The widgets never see ONNX sessions or arrays other than finished RGB frames; everything heavy
runs on the engine's worker threads. Frames arrive through a one-slot handoff: the inference
thread stores the newest frame and emits ``frame_ready`` only when the GUI has taken the last
one, so a slow repaint can never queue frames (the display always paints the newest).
"""
from __future__ import annotations

import json
import threading

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from engine.errors import InputError, StyleCastError
from engine.frames import save_image
from engine.live import SAMPLE_CLIP, LiveSession
from engine.modelfile import ASSETS_DIR, discover_models
from engine.pipeline import Stats
from engine.processor import FrameProcessor, StyleSettings
from engine.segment import mask_preview
from engine.sources import Frame, list_cameras

STYLE_INFO = ASSETS_DIR / "styles" / "styles.json"
__all__ = ["EngineController", "SAMPLE_CLIP", "to_qimage"]


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
    note = Signal(str)  # something was passed over (an unreadable style image...); nothing stopped
    learning_changed = Signal(object)  # the learning job's status (LiveSession.learning()): progress and its end
    _event = Signal(str, object)  # session events, delivered on the GUI thread

    def __init__(self, parent: QObject | None = None, session: LiveSession | None = None) -> None:
        super().__init__(parent)
        self.session = session or LiveSession()
        self._latest: tuple[np.ndarray, np.ndarray] | None = None
        self._latest_lock = threading.Lock()
        self.show_mask = False  # the view shows where the person was found (region modes), not what is sent
        self._pending = False
        self._signals = {"settings": self.settings_changed, "styles": self.styles_changed,
                         "model": self.model_changed, "provider": self.provider_changed,
                         "running": self.running_changed, "vcam": self.vcam_changed,
                         "recording": self.recording_changed, "note": self.note,
                         "learning": self.learning_changed}
        self._event.connect(self._on_event)
        self.session.add_listener(self._event.emit)  # queued when it comes from another thread
        self.session.frame_listener = self._on_frame

    def _on_event(self, event: str, value: object) -> None:
        if event == "error":  # the pipeline stopped on a failure
            self.error.emit(str(value))
            self.stop()
        elif event in self._signals:
            self._signals[event].emit(value)

    def _try(self, fn, *args):
        """Run a session method; a StyleCastError becomes the ``error`` signal and None."""
        try:
            return fn(*args)
        except StyleCastError as exc:
            self.error.emit(str(exc))
            return None

    def _ok(self, fn, *args) -> bool:
        """Run a session method for its effect: True, or False after reporting the error."""
        try:
            fn(*args)
        except StyleCastError as exc:
            self.error.emit(str(exc))
            return False
        return True

    # -- the session's parts, read-only for the tabs ----------------------------------------------
    @property
    def processor(self) -> FrameProcessor:
        return self.session.processor

    @property
    def settings(self) -> StyleSettings:
        return self.session.settings

    @property
    def fast(self):
        return self.session.fast

    @property
    def adain(self):
        return self.session.adain

    @property
    def pipeline(self):
        return self.session.pipeline

    @property
    def source_spec(self) -> str:
        return self.session.source_spec

    @source_spec.setter
    def source_spec(self, spec: str) -> None:
        self.session.source_spec = spec

    @property
    def provider(self) -> str:
        return self.session.provider

    # -- settings -------------------------------------------------------------------------------
    def apply_settings(self, settings: StyleSettings) -> None:
        """Take over a whole settings record (restored at start); a mix naming styles the current
        models lack keeps the current styles instead."""
        self._try(self.session.apply_settings, settings)

    def settings_json(self) -> str:
        return json.dumps(self.settings.to_dict(), sort_keys=True)

    def restore_settings_json(self, text: str) -> None:
        try:
            data = json.loads(text)
            if isinstance(data, dict) and "auto_resolution" not in data:  # saved before Auto, the Live default, existed
                data["auto_resolution"] = True
            self.apply_settings(StyleSettings.from_dict(data))
        except (ValueError, TypeError, StyleCastError) as exc:
            self.error.emit(f"saved settings ignored: {exc}")

    # -- models and styles --------------------------------------------------------------------
    def load_default_models(self) -> None:
        self._try(self.session.load_default_models)

    @Slot(str)
    def set_model(self, path: str) -> bool:
        """Load a fast net (or an AdaIN model) from a StyleCast .onnx file."""
        return self._try(self.session.set_model, path) is not None

    def fast_models(self) -> list[tuple[str, str]]:
        """(name, path) of the installed fast nets: built-in ones, then the user's models folder."""
        return [(m.name, str(m.path)) for m in discover_models() if m.family == "fast"]

    @Slot(str)
    def set_adain_model(self, path: str) -> bool:
        return self._ok(self.session.set_adain_model, path)

    def style_names(self) -> list[str]:
        return self.session.style_names()

    def active_provider(self) -> str:
        return self.session.active_provider()

    def style_catalogue(self) -> dict[str, dict]:
        """Built-in style images and their titles (assets/styles/styles.json), by style name."""
        if not STYLE_INFO.is_file():
            return {}
        return {s["name"]: {**s, "path": str(STYLE_INFO.parent / s["file"])} for s in json.loads(STYLE_INFO.read_text())}

    def cameras(self) -> list[int]:
        return list_cameras()

    def model_choice(self):
        """Which model runs, where and why (engine.setup.ModelChoice: plain values), or None."""
        return self.session.model_choice()

    def fast_model_path(self) -> str | None:
        """The file of the fast net in use (the Model box's entry), or None."""
        return str(self.session.fast.info.path) if self.session.fast is not None else None

    def style_model_path(self) -> str | None:
        """The style-image model's file, or None when none is loaded."""
        return str(self.session.adain.info.path) if self.session.adain is not None else None

    def style_models(self) -> list[tuple[str, str, str]]:
        """(name, path, tooltip) of the installed style-image models."""
        tips = {"predicted": "Runs your style images at the fast nets' speed (style prediction)",
                "small": "Runs your style images at the camera's frame rate: a milder picture than AdaIN's",
                "": "Runs your style images with AdaIN: slow on a CPU"}
        return [(m.name, str(m.path), tips.get(m.metadata.get("variant", ""), tips[""]))
                for m in discover_models() if m.family == "adain"]

    def style_images_active(self) -> bool:
        """True while one of the user's style images (the AdaIN model) is running."""
        stylizer = self.session.processor.stylizer
        return stylizer is not None and stylizer is self.session.adain

    def processor_snapshot(self) -> FrameProcessor | None:
        """For a render: the current model with a frozen copy of the settings (None before a model loads)."""
        return self.processor.snapshot() if self.processor.stylizer is not None else None

    def builtin_styles(self) -> list[str]:
        return self.session.builtin_styles()

    def custom_styles(self) -> list[str]:
        return self.session.custom_styles()

    def custom_style_paths(self) -> dict[str, str]:
        """The user's style images by name (thumbnails for the gallery)."""
        return {n: str(p) for n, p in self.session.custom_style_paths().items()}

    @Slot(str)
    def add_style_image(self, path: str) -> str | None:
        """Any image as the style: kept in the user's style library, statistics computed once, selected."""
        return self._try(self.session.add_style_image, path)

    def capture_style(self, region: tuple[float, float, float, float] | None = None) -> str | None:
        """The centre (or a region, fractions of the frame) of the newest camera frame as a new style."""
        return self._try(self.session.capture_style, region)

    @Slot(str)
    def remove_style(self, name: str) -> None:
        self._try(self.session.remove_style, name)

    # -- learned styles: a painting learned as new rows of the fast net, in a background process ----
    def learnable_paintings(self) -> dict[str, str]:
        """The paintings a live style can be learned from: built-in ones by style name, then your style images."""
        return {n: str(p) for n, p in self.session.learnable_paintings().items()}

    def learn_style(self, source: str, name: str | None = None, minutes: float | None = None) -> str | None:
        """Start learning a painting (a file, or a key of learnable_paintings()) in the background: the
        name the style will get, or None after reporting why it cannot start (one job at a time)."""
        return self._try(lambda: self.session.learn_style(source, name=name or None, minutes=minutes))

    def learning(self) -> dict | None:
        """The learning job's status (name, painting, state, step, steps, elapsed_s, eta_s, message), or None."""
        return self.session.learning()

    @Slot()
    def cancel_learning(self) -> None:
        """Stop the learning job; its checkpoint stays, so learning the same painting again resumes it."""
        self._try(self.session.cancel_learning)

    def learned_styles(self) -> list[str]:
        return list(self.session.learned_styles())

    def learned_thumbnail(self, name: str) -> QImage | None:
        rgb = self.session.learned_thumbnail(name)
        return None if rgb is None else to_qimage(np.ascontiguousarray(rgb, dtype=np.uint8))

    @Slot(str)
    def remove_learned(self, name: str) -> None:
        self._try(self.session.remove_learned, name)

    @Slot(dict)
    def set_mix(self, mix: dict) -> None:
        """Weights over style names; names of custom images select the AdaIN model, built-in names the fast net."""
        if any(float(v) > 0 for v in mix.values()):
            self._try(self.session.set_mix, mix)

    @Slot(str)
    def set_style(self, name: str) -> None:
        self.set_mix({name: 1.0})

    def step_style(self, delta: int) -> str | None:
        """Next/previous built-in style (keyboard shortcuts)."""
        return self._try(self.session.step_style, delta)

    @Slot(float)
    def set_strength(self, value: float) -> None:
        self._try(lambda: self.session.update(strength=min(1.0, max(0.0, float(value)))))

    @Slot(float)
    def set_boldness(self, value: float) -> None:
        """0 = faithful (the photo's detail in the painting's colours) .. 1 = bold (the painting's strokes)."""
        self._try(lambda: self.session.update(boldness=min(1.0, max(0.0, float(value)))))

    def boldness_unavailable(self) -> str:
        """Why the Boldness control changes nothing in the running model ('' when it does)."""
        stylizer = self.session.processor.stylizer
        if stylizer is None:
            return "No model loaded yet"
        if stylizer is not self.session.fast and not getattr(stylizer, "bold", False):
            return (f"Your style images run on the style-image model {stylizer.info.name}, which has no bold "
                    "version of its styles: Boldness works with the fast net's styles (and a style-prediction model's)")
        if not getattr(stylizer, "bold", False):
            return (f"{stylizer.info.name} has no bold version of its styles (a model made before Boldness): "
                    "pick another model to use it")
        return ""

    def model_bold(self, model_path: str) -> bool:
        """Whether a model file has bold rows (Boldness changes its pictures); False when unreadable."""
        from engine.modelfile import inspect_model

        stylizer = self._loaded_stylizer(model_path)
        if stylizer is not None:
            return bool(getattr(stylizer, "bold", False))  # a style-image model has none
        try:
            info = inspect_model(model_path)
        except StyleCastError:
            return False
        return info.bold  # a fast net's bold rows, or a style-prediction model's bold codes

    @Slot(bool)
    def set_preserve_colors(self, on: bool) -> None:
        self._try(lambda: self.session.update(preserve_colors=bool(on)))

    @Slot(float)
    def set_smoothing(self, value: float) -> None:
        self._try(lambda: self.session.update(smoothing=min(1.0, max(0.0, float(value)))))

    @Slot(int)
    def set_process_height(self, height: int) -> None:
        """A fixed processing height (0: the source's own size)."""
        self._try(lambda: self.session.update(process_height=int(height) or None, auto_resolution=False))

    @Slot(bool)
    def set_show_mask(self, on: bool) -> None:
        """The preview shows the person mask (the rest dimmed blue); recordings and the virtual camera do not."""
        self.show_mask = bool(on)

    @Slot(str)
    def set_region(self, region: str) -> None:
        """Where the style goes: "all", "background" or "person" (loads the person-segmentation model)."""
        self._try(lambda: self.session.update(region=region))

    @Slot(str)
    def set_person_style(self, name: str) -> None:
        """What the region left out shows: a style of its own (name), or as filmed ("")."""
        self._try(lambda: self.session.update(person_mix={name: 1.0} if name else {}))

    @Slot(int)
    def set_resolution(self, value: int) -> None:
        """The Resolution box's value: a height, 0 for the source's size, a negative number for auto."""
        if int(value) < 0:
            self._try(lambda: self.session.update(auto_resolution=True))
        else:
            self.set_process_height(value)

    @Slot(str)
    def set_provider(self, provider: str) -> None:
        """Rebuild the loaded models on another provider; reports the provider actually active."""
        self._try(self.session.set_provider, provider)

    # -- source and pipeline ------------------------------------------------------------------
    @Slot(str)
    def set_source(self, spec: str) -> None:
        self._try(self.session.set_source, spec)

    @property
    def running(self) -> bool:
        return self.session.running

    @Slot()
    def start(self) -> bool:
        if self.running:
            return True
        return self._try(self.session.start) is not None or self.running

    @Slot()
    def stop(self) -> None:
        self.session.stop()

    def _on_frame(self, stylized: np.ndarray, frame: Frame) -> None:
        """Inference thread: keep only the newest pair; signal the GUI if it has taken the last."""
        mask = self.session.processor.last_mask  # this frame's: the finishing thread set it just before
        if self.show_mask and mask is not None:
            stylized = mask_preview(stylized, mask)
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

    def poll_stats(self) -> Stats | None:
        stats = self.session.stats()
        if stats is not None:
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
            save_image(path, rgb, self.session.input_files())  # never over the clip, a model or a style image
        except StyleCastError as exc:
            self.error.emit(str(exc))
            return False
        return True

    @Slot(str)
    def start_recording(self, path: str) -> bool:
        return self._ok(self.session.start_recording, path)

    @Slot()
    def stop_recording(self) -> None:
        self._try(self.session.stop_recording)

    @Slot(bool)
    def set_virtual_camera(self, on: bool) -> bool:
        return self._ok(self.session.set_virtual_camera, on)

    def shutdown(self) -> None:
        self.session.shutdown()

    # -- Render tab: a processor per queued clip (desktop/render_tab.py, desktop/render_queue.py) ---
    # The Render tab keeps its own settings per clip; these build its processors without touching
    # the Live settings or model. Imports are local to keep this section self-contained.
    def processor_for(self, settings: StyleSettings, model_path: str | None = None) -> FrameProcessor:
        """A render's own processor: ``settings`` (a frozen record of the render's own) with the model
        the Live tab runs now (``model_path`` None), with an already loaded model at ``model_path``, or
        with that file loaded on the current provider. Raises StyleCastError (the render reports it on
        its row); touches no widget, so the render thread may call it."""
        from engine.errors import ModelError
        from engine.setup import open_segmenter, open_stylizer

        stylizer = self._loaded_stylizer(model_path) if model_path else self.processor.stylizer
        if stylizer is None and model_path:
            stylizer = open_stylizer(model_path, "fast", self.provider)
        if stylizer is None:
            raise ModelError("no model loaded: open a model file first")
        # a render processes every frame at one size, however long it takes: never the live auto resolution;
        # a region mode brings its own segmenter (its own mask history, the clip's)
        segmenter = open_segmenter(None, self.provider) if settings.region != "all" else None
        return FrameProcessor(stylizer, settings.with_(auto_resolution=False), segmenter)

    def model_styles(self, model_path: str) -> list[str]:
        """Style names of a model file: a loaded model answers from memory (an AdaIN model lists the
        user's style images), another from the file's metadata; [] and ``error`` when unreadable."""
        from engine.modelfile import inspect_model

        stylizer = self._loaded_stylizer(model_path)
        if stylizer is not None:
            return stylizer.style_names()
        try:
            return list(inspect_model(model_path).style_names)
        except StyleCastError as exc:
            self.error.emit(str(exc))  # the message names the file
            return []

    def _loaded_stylizer(self, model_path: str):
        from pathlib import Path

        want = Path(model_path).resolve()
        for stylizer in (self.processor.stylizer, self.fast, self.adain):
            if stylizer is not None and Path(stylizer.info.path).resolve() == want:
                return stylizer
        return None
