"""Renders queued clips one after another on a worker thread, with progress, ETA and cancel.

Each clip is a ``RenderJob`` carrying its own frozen ``StyleSettings`` and model: the Live tab's
look at the moment the clip was added (at the clip's own size unless the user chose a processing
size), editable while the clip waits. Changing the live style while a render runs changes nothing
here. The queue takes clips added while it runs, cancels one clip without touching the others, and
goes on after a clip fails or is cancelled.
"""
from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal

from engine.errors import Cancelled, StyleCastError
from engine.processor import FrameProcessor, StyleSettings
from engine.frames import check_output_path
from engine.render import RenderProgress, render_video
from engine.video import stylized_name

# Where a clip stands. "skipped": taken out of a run before it started (Cancel all, or cancelled while waiting).
WAITING, RUNNING, DONE, FAILED, CANCELLED, SKIPPED = "waiting", "running", "done", "failed", "cancelled", "skipped"

_ids = itertools.count(1)


def model_path_of(processor: FrameProcessor) -> str:
    """The model file a processor runs (what a row shows and compares against)."""
    return str(processor.stylizer.info.path)


@dataclass(eq=False)
class RenderJob:
    """One queued clip. ``base``: the processor snapshot taken when the clip was added (its model is
    used as it was then); ``model``: the model file the row asks for, ``base``'s unless changed.
    ``settings`` is replaced whole (never mutated) and only while the job waits."""

    source: Path
    settings: StyleSettings
    base: FrameProcessor
    model: str = ""
    output: Path | None = None
    state: str = WAITING
    message: str = ""
    id: int = field(default_factory=lambda: next(_ids))
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.model = self.model or model_path_of(self.base)

    @property
    def model_name(self) -> str:
        return Path(self.model).stem


def output_for(source: Path, folder: Path, taken: set[Path] = frozenset()) -> Path:
    """The name `stylecast render clip... -o folder/` gives; ``_2``, ``_3``... when another queued
    clip already writes there (the same clip queued twice, at two sizes)."""
    path = stylized_name(source, folder)
    n = 2
    while path in taken:
        path = path.with_name(f"{source.stem}_stylized_{n}{path.suffix}")
        n += 1
    return path


class RenderQueue(QObject):
    progress = Signal(int, int, int, float)  # job id, frames done, frames total, ETA seconds (-1 unknown)
    job_started = Signal(int)  # job id
    job_finished = Signal(int, str)  # job id, output path
    job_failed = Signal(int, str)  # job id, message (job.state says failed, cancelled or skipped)
    all_done = Signal()

    def __init__(self, loader: Callable[[StyleSettings, str], FrameProcessor] | None = None,
                 parent: QObject | None = None) -> None:
        """``loader(settings, model_path)``: a processor for a model other than the one a job was
        added with (EngineController.processor_for); called on the worker thread, may raise StyleCastError."""
        super().__init__(parent)
        self.jobs: list[RenderJob] = []
        self.loader = loader
        self._lock = threading.Lock()
        self._running = False  # the worker takes waiting jobs; set and cleared under the lock
        self._thread: threading.Thread | None = None

    # -- the list ---------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def job(self, job_id: int) -> RenderJob | None:
        return next((j for j in self.jobs if j.id == job_id), None)

    def add(self, job: RenderJob) -> bool:
        """Append a job; True when a running queue will render it in this run."""
        with self._lock:
            self.jobs.append(job)
            return self._running and job.state == WAITING

    def remove(self, job_id: int) -> bool:
        """Take a job that is not rendering out of the list (a running one is cancelled first)."""
        with self._lock:
            job = self.job(job_id)
            if job is None or job.state == RUNNING:
                return False
            self.jobs.remove(job)
            return True

    def update(self, job_id: int, *, settings: StyleSettings | None = None, model: str | None = None,
               output: Path | None = None) -> bool:
        """Change a job that is not rendering; a finished one waits again (a running queue takes it)."""
        with self._lock:
            job = self.job(job_id)
            if job is None or job.state == RUNNING:
                return False
            if settings is not None:
                job.settings = settings
            if model is not None:
                job.model = model
            if output is not None:
                job.output = output
            job.state, job.message = WAITING, ""
            job.stop.clear()
            return True

    def waiting_joins(self) -> bool:
        """Whether a job set waiting now is rendered by the current run."""
        with self._lock:
            return self._running

    # -- running ----------------------------------------------------------------------------------
    def start(self, farm: str | None = None) -> bool:
        """Render the waiting jobs in order (and any added meanwhile). ``farm``: render on Ray
        ("local" or a cluster address, engine/farm.py) instead of in this process."""
        with self._lock:
            if self._running or not any(j.state == WAITING for j in self.jobs):
                return False
            self._running = True
        self._thread = threading.Thread(target=self._run, args=(farm,), name="stylecast-render", daemon=True)
        self._thread.start()
        return True

    def cancel_job(self, job_id: int) -> bool:
        """Cancel one job: a running one stops (no output), a waiting one is skipped; the rest go on."""
        with self._lock:
            job = self.job(job_id)
            if job is None:
                return False
            if job.state == RUNNING:
                job.stop.set()
                return True
            if job.state != WAITING:
                return False
            job.state, job.message = SKIPPED, "skipped"
        self.job_failed.emit(job.id, job.message)
        return True

    def cancel(self) -> None:
        """Cancel all: the running job stops and every waiting one is skipped."""
        with self._lock:
            skipped = [j for j in self.jobs if j.state == WAITING]
            for j in skipped:
                j.state, j.message = SKIPPED, "skipped"
            for j in self.jobs:
                if j.state == RUNNING:
                    j.stop.set()
        for j in skipped:
            self.job_failed.emit(j.id, j.message)

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.busy

    def _next(self) -> RenderJob | None:
        with self._lock:
            job = next((j for j in self.jobs if j.state == WAITING), None)
            if job is None:
                self._running = False  # from here on an added job waits for the next Render
                return None
            job.state, job.message = RUNNING, ""
            job.stop.clear()
            return job

    def _processor(self, job: RenderJob, loaded: dict[str, FrameProcessor]) -> FrameProcessor:
        """The job's own processor: its settings with its model (a loaded model is shared by the jobs naming it)."""
        if job.model == model_path_of(job.base):
            return job.base.derive(job.settings)
        if job.model in loaded:
            return loaded[job.model].derive(job.settings)
        if self.loader is None:
            raise StyleCastError(f"cannot load {Path(job.model).name} here")
        loaded[job.model] = processor = self.loader(job.settings, job.model)
        return processor

    def _render(self, job: RenderJob, processor: FrameProcessor, farm: str | None, report):
        processor.reset()  # smoothing starts afresh with each clip
        check_output_path(job.output, [j.source for j in self.jobs])  # never over another queued clip
        if farm is None:
            return render_video(job.source, job.output, processor, progress=report, cancel=job.stop)
        from engine.farm import render_on_ray

        return render_on_ray(job.source, job.output, processor, address=farm, progress=report, cancel=job.stop)

    def _run(self, farm: str | None = None) -> None:
        loaded: dict[str, FrameProcessor] = {}
        try:
            while (job := self._next()) is not None:
                self.job_started.emit(job.id)

                def report(p: RenderProgress, job_id=job.id) -> None:
                    self.progress.emit(job_id, p.frames_done, p.frames_total, -1.0 if p.eta_s is None else p.eta_s)

                try:
                    if job.output is None:
                        raise StyleCastError("no output file chosen")
                    result = self._render(job, self._processor(job, loaded), farm, report)
                except Cancelled:
                    state, message = CANCELLED, "cancelled; no output written"
                except StyleCastError as exc:
                    state, message = FAILED, str(exc)
                except OSError as exc:
                    state, message = FAILED, f"{job.output}: {exc.strerror or exc}"
                except Exception as exc:  # noqa: BLE001 - one clip's surprise must not stop the others
                    state, message = FAILED, f"unexpected error: {exc}"
                else:
                    message = f"{result.frames} frames, audio {result.audio}"
                    with self._lock:
                        job.state, job.message = DONE, message + (f"; {result.note}" if result.note else "")
                    self.job_finished.emit(job.id, str(result.output))
                    continue
                with self._lock:
                    job.state, job.message = state, message
                self.job_failed.emit(job.id, message)
        finally:
            with self._lock:
                self._running = False
            self.all_done.emit()
