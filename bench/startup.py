"""Time from launch to the first stylized frame painted by the desktop app.

Runs the real app in a child process (offscreen Qt unless DISPLAY is set), started with the sample
clip and --start, and reports, from the child's interpreter start:
  window    the main window is built (models loaded, tabs built, settings restored)
  painted   the Live view has painted its first stylized frame
The child prints its own times (time.perf_counter from its first line), so process start-up of the
Python interpreter itself (~50 ms) is left out. Median of --runs runs.

    python bench/startup.py [--runs 5]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import time, json, sys, tempfile
t0 = time.perf_counter()
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([sys.argv[0]])
from desktop.app import build_window
store = QSettings(tempfile.mktemp(suffix=".ini"), QSettings.IniFormat)
window = build_window(source=SOURCE, settings=store)
window.show()
t_window = time.perf_counter() - t0
window.live.toggle_running()
view = window.live.view
def check():
    if view.frames_painted > 0:  # counts only frames with an image (not the placeholder text)
        print(json.dumps({"window": t_window, "painted": time.perf_counter() - t0}), flush=True)
        window.close()
        app.quit()
timer = QTimer(); timer.timeout.connect(check); timer.start(2)
QTimer.singleShot(60000, app.quit)
app.exec()
"""


def run_once(source: str) -> dict:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen" if not env.get("DISPLAY") else env.get("QT_QPA_PLATFORM", ""))
    code = CHILD.replace("SOURCE", repr(source))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"the app painted no frame: {out.stderr[-500:]}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--source", default=str(ROOT / "assets" / "samples" / "pedestrians.mp4"))
    args = ap.parse_args(argv)
    runs = [run_once(args.source) for _ in range(args.runs)]
    for key in ("window", "painted"):
        vals = [r[key] for r in runs]
        print(f"{key:8s} median {statistics.median(vals) * 1000:7.0f} ms  (min {min(vals) * 1000:.0f}, max {max(vals) * 1000:.0f}, n={len(vals)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
