"""A painting being learned as a live style, in a background process (`stylecast learn-style`).

The learning runs PyTorch, which the engine never imports: the job starts the command in a process of its
own (``python -m engine learn-style ... --progress json``), reads its progress lines and reports a status
dict to a callback from a reader thread. Cancel sends SIGTERM: the trainer stops after its current step and
keeps a checkpoint, so learning the same painting again resumes it; the style file is written only by a run
that finished (training/learn_style.py).
"""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from .errors import InputError

DEFAULT_MINUTES = 10.0
CANCELLED = 3  # the trainer's exit status when stopped before its end

Listener = Callable[[dict], None]


class LearnJob:
    """One learn-style process. ``status()``: {"name", "painting", "state" (running | cancelling | done |
    failed | cancelled), "step", "elapsed_s", "eta_s", "minutes", "message", "path"}."""

    def __init__(self, painting: str | Path, name: str, minutes: float = DEFAULT_MINUTES,
                 on_change: Listener | None = None, extra_args: list[str] | None = None) -> None:
        if not 0 < float(minutes) <= 24 * 60:
            raise InputError(f"minutes must be between 0 and {24 * 60}, got {minutes}")
        self.painting, self.name, self.minutes = Path(painting), name, float(minutes)
        self.on_change = on_change
        self.command = [sys.executable, "-m", "engine", "learn-style", str(self.painting), "--name", name,
                        "--minutes", f"{self.minutes:g}", "--progress", "json",
                        # the app may die without cancelling (killed, crashed): the run then stops as if cancelled
                        "--parent-pid", str(os.getpid()), *(extra_args or [])]
        self._lock = threading.Lock()
        self._status = {"name": name, "painting": str(self.painting), "state": "running", "step": 0,
                        "elapsed_s": 0.0, "eta_s": self.minutes * 60, "minutes": self.minutes, "message": "",
                        "path": None}
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self.started = 0.0

    def start(self) -> "LearnJob":
        self.started = time.monotonic()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env=env, start_new_session=True)
        threading.Thread(target=self._drain_stderr, daemon=True, name="learn-stderr").start()
        self._reader = threading.Thread(target=self._read, daemon=True, name="learn-progress")
        self._reader.start()
        return self

    def status(self) -> dict:
        with self._lock:
            return dict(self._status)

    @property
    def active(self) -> bool:
        return self.status()["state"] in ("running", "cancelling")

    def cancel(self) -> None:
        """Stop after the current step (the run's checkpoint resumes it)."""
        if self._proc is not None and self._proc.poll() is None:
            self._set(state="cancelling", message="stopping after the current step")
            self._proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """End the process now (the app is closing): what was checkpointed resumes; no style file is written."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    def wait(self, timeout: float | None = None) -> dict:
        if self._reader is not None:
            self._reader.join(timeout)
        return self.status()

    def _set(self, **changes) -> None:
        with self._lock:
            self._status.update(changes)
            status = dict(self._status)
        if self.on_change is not None:
            self.on_change(status)

    def _drain_stderr(self) -> None:
        for line in self._proc.stderr:
            if line.strip():
                self._stderr.append(line.rstrip())

    def _read(self) -> None:
        for line in self._proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            if event.get("event") == "progress":
                elapsed, budget = float(event.get("elapsed_s", 0)), float(event.get("budget_s", 0))
                self._set(step=int(event.get("step", 0)), elapsed_s=elapsed, eta_s=max(0.0, budget - elapsed))
            elif event.get("event") == "done":
                self._status["path"] = event.get("path")
        self._finish(self._proc.wait())

    def _finish(self, code: int) -> None:
        path = self.status()["path"]
        if code == 0 and path:
            self._set(state="done", eta_s=0.0, message=f"learned {self.name!r}")
        elif code == CANCELLED or self.status()["state"] == "cancelling":
            self._set(state="cancelled", message="stopped; learning the same painting again resumes it")
        else:
            errors = [ln for ln in self._stderr if ln.startswith("error:")] or list(self._stderr)[-1:]
            why = errors[-1].removeprefix("error: ") if errors else f"the learning process ended with status {code}"
            self._set(state="failed", message=why)
