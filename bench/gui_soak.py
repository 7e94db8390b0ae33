"""GUI soak: the real window on a virtual X screen for a long time, used as a streamer uses it.

    python3 bench/gui_soak.py --minutes 30 --out runs/soak          # needs Debian's xvfb and xauth

The driver starts the app in a child process under ``xvfb-run`` (Qt's xcb platform, a real X
server, the real MainWindow built by ``desktop.app.build_window``). The child plays the sample clip
in a loop with smoothing on and remote control on; a client thread in the child drives it over
loopback HTTP like a Stream Deck would: the next style every 2 s, ``/api/state`` and ``/api/stats``
polled every 0.5 s. Every painted frame's time is recorded (the longest gap between two painted
frames is the stutter a viewer sees). Every 10 s the child appends one JSON line to
``OUT/soak.jsonl``: elapsed seconds, RSS, frames painted, fps over the last 10 s, longest frame gap
so far, styles switched, HTTP requests and failures. At the end it grabs the window to
``OUT/soak_end.png`` and quits through the window's own close path (settings saved, server stopped,
pipeline joined).

The driver then prints one summary: whether the process lived and exited cleanly, RSS after the
first minute and at the end (growth in %), longest frame gap, mean fps, requests. Exit code 0 when
the process lived, exited 0 and RSS grew < 5 % after the first minute, else 1.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LOG_EVERY_S = 10.0
STYLE_EVERY_S = 2.0
POLL_EVERY_S = 0.5


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(minutes: float, out: Path, port: int) -> int:
    """Runs inside xvfb-run: the real app, driven over loopback."""
    import threading
    import urllib.error
    import urllib.request

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.app import build_window
    from engine.live import SAMPLE_CLIP

    app = QApplication([sys.argv[0]])
    window = build_window(str(SAMPLE_CLIP))
    window.resize(1280, 760)
    window.show()
    c = window.c
    c.set_smoothing(0.6)
    window.live.remote_box.port.setValue(port)
    window.live.remote.start(port)
    token = window.live.remote.token()
    window.live.toggle_running()

    painted: list[float] = []
    state = {"gap": 0.0, "last": None, "switches": 0, "requests": 0, "failures": 0, "errors": []}
    lock = threading.Lock()

    def on_frame() -> None:
        now = time.monotonic()
        with lock:
            if state["last"] is not None:
                state["gap"] = max(state["gap"], now - state["last"])
            state["last"] = now
            painted.append(now)

    c.frame_ready.connect(on_frame)
    c.error.connect(lambda msg: state["errors"].append(msg))
    stop = threading.Event()

    def call(action: str, method: str = "GET") -> None:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/{action}", method=method,
                                     headers={"Authorization": f"Bearer {token}"},
                                     data=b"{}" if method == "POST" else None)
        state["requests"] += 1
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                r.read()
        except (urllib.error.URLError, OSError) as exc:
            state["failures"] += 1
            state["errors"].append(f"{action}: {exc}")

    def remote_client() -> None:
        next_switch = time.monotonic() + STYLE_EVERY_S
        while not stop.wait(POLL_EVERY_S):
            call("state")
            call("stats")
            if time.monotonic() >= next_switch:
                call("next", "POST")
                state["switches"] += 1
                next_switch += STYLE_EVERY_S

    client = threading.Thread(target=remote_client, name="soak-remote", daemon=True)
    log = (out / "soak.jsonl").open("w")
    start = time.monotonic()

    def report() -> None:
        now = time.monotonic()
        with lock:
            recent = sum(1 for t in painted if t > now - LOG_EVERY_S)
            del painted[:-1]  # keep memory flat: only the newest time is needed from here on
            row = {"t": round(now - start, 1), "rss_mb": round(rss_mb(), 1), "fps": round(recent / LOG_EVERY_S, 2),
                   "longest_gap_s": round(state["gap"], 3), "switches": state["switches"],
                   "requests": state["requests"], "failures": state["failures"], "running": c.running,
                   "errors": state["errors"][-3:]}
        log.write(json.dumps(row) + "\n")
        log.flush()
        if now - start >= minutes * 60:
            stop.set()
            window.grab().save(str(out / "soak_end.png"))
            window.close()
            app.quit()

    timer = QTimer()
    timer.timeout.connect(report)
    timer.start(int(LOG_EVERY_S * 1000))
    client.start()
    code = app.exec()
    stop.set()
    client.join(5)
    log.close()
    return code


def summarise(out: Path, code: int, minutes: float) -> int:
    rows = [json.loads(line) for line in (out / "soak.jsonl").read_text().splitlines() if line.strip()]
    if not rows:
        print(f"soak: no report at all (exit code {code}): the app did not start")
        return 1
    after_minute = next((r for r in rows if r["t"] >= 60), rows[0])
    end = rows[-1]
    growth = 100.0 * (end["rss_mb"] - after_minute["rss_mb"]) / after_minute["rss_mb"]
    lived = code == 0 and end["t"] >= minutes * 60 - LOG_EVERY_S
    steady = [r["fps"] for r in rows if r["t"] >= 60] or [r["fps"] for r in rows]
    summary = {"lived": lived, "exit_code": code, "minutes": round(end["t"] / 60, 1),
               "rss_mb_after_1_min": after_minute["rss_mb"], "rss_mb_end": end["rss_mb"],
               "rss_growth_pct": round(growth, 2), "longest_frame_gap_s": end["longest_gap_s"],
               "fps_mean": round(sum(steady) / len(steady), 2), "fps_min_10s": min(steady),
               "style_switches": end["switches"], "requests": end["requests"], "request_failures": end["failures"],
               "errors": end["errors"]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0 if lived and growth < 5.0 else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--out", default="runs/soak", help="folder for soak.jsonl, summary.json and soak_end.png")
    p.add_argument("--port", type=int, default=8787)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.child:
        return child(args.minutes, out, args.port)
    home = Path(tempfile.mkdtemp(prefix="stylecast-soak-"))  # own settings, styles and token: the user's stay untouched
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "XDG_DATA_HOME": str(home / "data"),
           "XDG_CONFIG_HOME": str(home / "config"), "PYTHONFAULTHANDLER": "1"}
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, __file__, "--child",
           "--minutes", str(args.minutes), "--out", str(out), "--port", str(args.port)]
    with (out / "app.log").open("w") as app_log:
        code = subprocess.run(cmd, env=env, stdout=app_log, stderr=subprocess.STDOUT).returncode
    return summarise(out, code, args.minutes)


if __name__ == "__main__":
    sys.exit(main())
