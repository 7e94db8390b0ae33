"""Renders a list of clips one after another on a worker thread, with progress, ETA and cancel.

Each job takes a snapshot of the style settings when the queue starts, so changing the live
style while a render runs does not change the render.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.errors import Cancelled, StyleCastError
from engine.render import RenderProgress, render_video
from engine.processor import FrameProcessor
from engine.video import stylized_name


@dataclass
class RenderJob:
    source: Path
    output: Path
    state: str = "waiting"  # waiting | running | done | failed | cancelled
    message: str = ""


def output_for(source: Path, folder: Path) -> Path:
    return stylized_name(source, folder)  # the same name `stylecast render clip... -o folder/` gives


class RenderQueue(QObject):
    progress = Signal(int, int, int, float)  # job index, frames done, frames total, ETA seconds (-1 unknown)
    job_finished = Signal(int, str)  # job index, output path
    job_failed = Signal(int, str)  # job index, message
    all_done = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs: list[RenderJob] = []
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, jobs: list[RenderJob], processor: FrameProcessor, farm: str | None = None) -> None:
        """``processor`` is the queue's own (EngineController.processor_snapshot()): live changes
        to the controller's settings after this call do not reach the render. ``farm``: render on
        Ray ("local" or a cluster address, engine/farm.py) instead of in this process."""
        if self.busy:
            return
        self.jobs = jobs
        self._cancel.clear()
        self._thread = threading.Thread(target=self._run, args=(processor, farm), name="stylecast-render", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.busy

    def _render(self, job: RenderJob, processor: FrameProcessor, farm: str | None, report):
        if farm is None:
            return render_video(job.source, job.output, processor, progress=report, cancel=self._cancel)
        from engine.farm import render_on_ray

        return render_on_ray(job.source, job.output, processor, address=farm, progress=report, cancel=self._cancel)

    def _run(self, processor: FrameProcessor, farm: str | None = None) -> None:
        for i, job in enumerate(self.jobs):
            if self._cancel.is_set():
                job.state, job.message = "cancelled", "cancelled"
                self.job_failed.emit(i, "cancelled")
                continue
            job.state = "running"

            def report(p: RenderProgress, i=i) -> None:
                self.progress.emit(i, p.frames_done, p.frames_total, -1.0 if p.eta_s is None else p.eta_s)

            try:
                result = self._render(job, processor, farm, report)
            except Cancelled as exc:
                job.state, job.message = "cancelled", str(exc)
                self.job_failed.emit(i, str(exc))
            except StyleCastError as exc:
                job.state, job.message = "failed", str(exc)
                self.job_failed.emit(i, str(exc))
            except OSError as exc:
                job.state, job.message = "failed", f"{job.output}: {exc.strerror or exc}"
                self.job_failed.emit(i, job.message)
            else:
                job.state, job.message = "done", f"{result.frames} frames, audio {result.audio}"
                self.job_finished.emit(i, str(result.output))
        self.all_done.emit()
