"""Sinks behind one protocol: display callback, video file, image files, virtual camera.

``write(image, frame)`` takes the stylized uint8 RGB image and the source Frame it came from;
``close(ok)`` finishes (ok=True) or discards partial output (ok=False).
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from .errors import OutputError
from .frames import check_output_path, save_image
from .sources import Frame
from .video import VideoWriter


class Sink(Protocol):
    def write(self, image: np.ndarray, frame: Frame) -> None: ...

    def close(self, ok: bool = True) -> None: ...


class CallbackSink:
    """Hands each output to a function (the GUI's signal emitter, a test's list.append...)."""

    def __init__(self, fn: Callable[[np.ndarray, Frame], None]) -> None:
        self.fn = fn

    def write(self, image: np.ndarray, frame: Frame) -> None:
        self.fn(image, frame)

    def close(self, ok: bool = True) -> None:
        pass


class VideoFileSink:
    """Records the live output to H.264 (no audio: live sources have none). Opens on the first
    frame, when the size is known; the file appears under its name only when closed with ok=True."""

    def __init__(self, path: str | Path, fps: float, inputs: list[str | Path] = ()) -> None:
        self.path = check_output_path(path, inputs)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.writer: VideoWriter | None = None

    def write(self, image: np.ndarray, frame: Frame) -> None:
        if self.writer is None:
            h, w = image.shape[:2]
            self.writer = VideoWriter(self.path, w, h, self.fps)
        self.writer.write(image)

    def close(self, ok: bool = True) -> None:
        if self.writer is None:
            return
        if ok and self.writer.frames:
            self.writer.commit()
        else:
            self.writer.abort()
        self.writer = None


class ImageSequenceSink:
    """Writes frame_000000.png, ... into a folder (which must exist)."""

    def __init__(self, folder: str | Path, pattern: str = "frame_{:06d}.png", inputs: list[str | Path] = ()) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise OutputError(f"output folder does not exist: {self.folder}")
        self.pattern = pattern
        self.inputs = list(inputs)
        self.count = 0

    def write(self, image: np.ndarray, frame: Frame) -> None:
        save_image(self.folder / self.pattern.format(self.count), image, self.inputs)
        self.count += 1

    def close(self, ok: bool = True) -> None:
        pass


class VirtualCameraSink:
    """Sends frames to a virtual camera (OBS Virtual Camera, v4l2loopback, ...) via pyvirtualcam."""

    def __init__(self, fps: float, device: str | None = None) -> None:
        try:
            import pyvirtualcam  # optional extra: pip install "stylecast[vcam]"
        except ImportError:
            raise OutputError('virtual camera needs pyvirtualcam: pip install "stylecast[vcam]"') from None
        self._module = pyvirtualcam
        self.fps, self.device = fps, device
        self.cam = None

    def write(self, image: np.ndarray, frame: Frame) -> None:
        if self.cam is None:
            h, w = image.shape[:2]
            try:
                self.cam = self._module.Camera(width=w, height=h, fps=self.fps, device=self.device)
            except RuntimeError as exc:  # pyvirtualcam raises RuntimeError when no backend is installed
                raise OutputError(
                    "no virtual camera device: install OBS (Windows/macOS) or load v4l2loopback "
                    f"(Linux: sudo modprobe v4l2loopback exclusive_caps=1) [{exc}]"
                ) from None
        self.cam.send(image)

    def close(self, ok: bool = True) -> None:
        if self.cam is not None:
            self.cam.close()
            self.cam = None
