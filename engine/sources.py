"""Frame sources behind one protocol: camera, video file, still image, synthetic pattern.

``read()`` returns the next Frame, None at the end of the stream, or raises SourceError.
Live sources pace themselves (``realtime``); the pipeline's capture thread just calls read().
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import cv2
import numpy as np

from .errors import SourceError
from .frames import load_image
from .video import VideoDecoder, frame_rgb, open_container, probe


@dataclass
class Frame:
    image: np.ndarray  # uint8 H x W x 3 RGB
    index: int
    captured_at: float  # time.perf_counter() when the frame became available
    pts: int | None = None
    time_base: Fraction | None = None


class FrameSource(Protocol):
    name: str
    fps: float

    def open(self) -> None: ...

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


class _Pacer:
    """Sleeps so that frames come out at ``fps`` (used by file/synthetic sources in live mode)."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps if fps > 0 else 0.0
        self.next_at = None

    def wait(self) -> None:
        now = time.perf_counter()
        if self.next_at is None:
            self.next_at = now
        delay = self.next_at - now
        if delay > 0:
            time.sleep(delay)
        self.next_at = max(self.next_at + self.period, time.perf_counter() - self.period)


class SyntheticSource:
    """A moving test pattern (bars, a sliding disc, a frame counter): no camera needed."""

    def __init__(self, width: int = 640, height: int = 360, fps: float = 30.0, frames: int | None = None,
                 realtime: bool = True, loop_frames: int = 0) -> None:
        """``loop_frames`` > 0 pre-renders that many frames and cycles them, so reading costs what a
        camera driver's buffer hand-off costs (used by the benchmark to measure the pipeline, not the pattern)."""
        self.name, self.width, self.height, self.fps = "synthetic", width, height, fps
        self.frames, self.realtime = frames, realtime
        self.loop_frames = loop_frames
        self._ring: list[np.ndarray] = []
        self._i = 0
        self._pacer = _Pacer(fps)
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        self._base = np.stack([x / width * 255, y / height * 255, np.full_like(x, 128)], axis=2).astype(np.uint8)

    def open(self) -> None:
        self._i = 0

    def make(self, i: int) -> np.ndarray:
        img = np.roll(self._base, shift=3 * i, axis=1).copy()
        cx = int((0.5 + 0.35 * np.sin(i / 15)) * self.width)
        cv2.circle(img, (cx, self.height // 2), max(4, self.height // 6), (240, 200, 40), -1)
        cv2.putText(img, str(i), (8, max(16, self.height // 8)), cv2.FONT_HERSHEY_SIMPLEX, self.height / 360, (255, 255, 255), 2)
        return img

    def read(self) -> Frame | None:
        if self.frames is not None and self._i >= self.frames:
            return None
        if self.realtime:
            self._pacer.wait()
        if self.loop_frames:
            if not self._ring:
                self._ring = [self.make(i) for i in range(self.loop_frames)]
            image = self._ring[self._i % self.loop_frames]
        else:
            image = self.make(self._i)
        frame = Frame(image, self._i, time.perf_counter())
        self._i += 1
        return frame

    def close(self) -> None:
        pass


class ImageSource:
    """A still image, repeated ``repeat`` times (1 for stylize; many for a live preview)."""

    def __init__(self, path: str | Path, repeat: int | None = 1, fps: float = 30.0, realtime: bool = False) -> None:
        self.path, self.name, self.fps = Path(path), Path(path).name, fps
        self.repeat, self.realtime = repeat, realtime
        self._image: np.ndarray | None = None
        self._i = 0
        self._pacer = _Pacer(fps)

    def open(self) -> None:
        self._image = load_image(self.path)
        self._i = 0

    def read(self) -> Frame | None:
        if self._image is None:
            self.open()
        if self.repeat is not None and self._i >= self.repeat:
            return None
        if self.realtime:
            self._pacer.wait()
        frame = Frame(self._image, self._i, time.perf_counter())
        self._i += 1
        return frame

    def close(self) -> None:
        self._image = None


class VideoFileSource:
    """Decodes a video with PyAV, frames turned upright (a phone clip's rotation applied, as in a
    render). ``loop`` restarts at the end (live preview); ``realtime`` paces at the file's frame rate
    (live) or not at all (render: every frame, as fast as possible)."""

    def __init__(self, path: str | Path, loop: bool = False, realtime: bool = False) -> None:
        self.path, self.name = Path(path), Path(path).name
        self.loop, self.realtime = loop, realtime
        self.info = probe(self.path)
        self.fps = float(self.info.fps)
        self.container: av.container.InputContainer | None = None
        self._frames = None
        self._i = 0
        self._pacer = _Pacer(self.fps)

    def open(self) -> None:
        self.close()
        self.container = open_container(self.path)
        self._frames = VideoDecoder(self.container, self.name).read()  # damaged packets: see VideoDecoder

    def read(self) -> Frame | None:
        if self.container is None:
            self.open()
        frame = next(self._frames, None)
        if frame is None:
            if self.loop and self._i > 0:
                self.open()
                return self.read()
            return None
        if self.realtime:
            self._pacer.wait()
        out = Frame(frame_rgb(frame, self.info.orientation), self._i, time.perf_counter(), frame.pts, frame.time_base)
        self._i += 1
        return out

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


class CameraSource:
    """A webcam through OpenCV with a one-frame driver buffer (the newest frame, not a stale one)."""

    MAX_FAILED_READS = 15  # ~0.5 s of silence at 30 fps means the camera is gone

    def __init__(self, index: int = 0, width: int | None = None, height: int | None = None, fps: float | None = None) -> None:
        self.index, self.name = index, f"camera {index}"
        self.width, self.height, self.fps = width, height, fps or 30.0
        self.cap: cv2.VideoCapture | None = None
        self._i = 0

    def open(self) -> None:
        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"no camera found at index {self.index} (is one connected, and not used by another app?)")
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if self.width and self.height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.fps:
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        self.fps = cap.get(cv2.CAP_PROP_FPS) or self.fps
        self.cap = cap

    def read(self) -> Frame | None:
        if self.cap is None:
            self.open()
        for _ in range(self.MAX_FAILED_READS):
            ok, bgr = self.cap.read()
            if ok and bgr is not None:
                frame = Frame(np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), self._i, time.perf_counter())
                self._i += 1
                return frame
            time.sleep(0.03)
        raise SourceError(f"{self.name} stopped delivering frames (unplugged or taken by another app)")

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


def list_cameras(max_index: int = 4) -> list[int]:
    """Indices of cameras that open (Linux: /dev/video*; elsewhere a quick probe)."""
    dev = Path("/dev")
    if dev.is_dir():
        indices = sorted(int(p.name[5:]) for p in dev.glob("video*") if p.name[5:].isdigit())
        return [i for i in indices if i < 64]
    found = []
    for i in range(max_index):
        cap = cv2.VideoCapture(i)
        if cap.isOpened():
            found.append(i)
        cap.release()
    return found


def open_source(spec: str, *, live: bool, loop: bool = False, size: tuple[int, int] = (640, 360), fps: float = 30.0) -> FrameSource:
    """'synthetic', 'camera:N' (or a bare integer), an image path or a video path."""
    if spec == "synthetic":
        return SyntheticSource(size[0], size[1], fps, realtime=live)
    if spec.isdigit() or spec.startswith("camera:"):
        return CameraSource(int(spec.split(":")[-1]))
    path = Path(spec)
    from .frames import IMAGE_SUFFIXES

    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path, repeat=None if live else 1, fps=fps, realtime=live)
    return VideoFileSource(path, loop=loop, realtime=live)
