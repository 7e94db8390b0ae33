"""GUI soak: the real app in a real X window for a long time, used as a streamer uses it.

    python3 bench/gui_soak.py --minutes 30 --out runs/soak     # needs Debian's xvfb and xdotool
    python3 bench/gui_soak.py --boldness-sweep --learned ~/.local/share/stylecast/learned/church.npz
    python3 bench/gui_soak.py --style-images painting.png --models my_anystyle.onnx    # style images in turn too

Starts an X server (Xvfb), then the app exactly as a user does (`stylecast gui --source SAMPLE
--start --control PORT`, Qt's xcb platform, its own settings/styles/token folders) and drives it
from outside over loopback, like a Stream Deck: smoothing on at the start, the next style every 2 s,
``/api/stats`` polled every 0.1 s (the longest time ``frames_processed`` stood still is the longest
frame gap, to within the poll period) and ``/api/state`` every 0.5 s. With ``--style-images`` they join the
gallery as the user's style images and every other switch picks the next of them (the style-image model runs
them: ``--models`` puts model files, with their companions, in the app's user model folder). Every 10 s one JSON line goes
to ``OUT/soak.jsonl``: elapsed seconds, the app's RSS, fps over the last 10 s, longest frame gap so
far, style switches, requests and failures; the summary adds, per kind of switch (built-in, style image), the
median and longest of the longest frame gap after each switch. At the end the screen is grabbed to ``OUT/soak_end.png``
(FFmpeg's x11grab through PyAV) and the app is quit with its own shortcut (Ctrl+Q, sent by xdotool),
so the quit path is soaked too.

Prints one summary (also ``OUT/summary.json``); exit code 0 when the app lived to the end, quit with
code 0 and its RSS grew < 5 % after the first minute.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LOG_EVERY_S = 10.0
STYLE_EVERY_S = 2.0
STATS_EVERY_S = 0.1
STATE_EVERY_S = 0.5


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def free_display() -> int:
    n = 90
    while Path(f"/tmp/.X11-unix/X{n}").exists() or Path(f"/tmp/.X{n}-lock").exists():
        n += 1
    return n


class Client:
    """The remote control as a Stream Deck uses it: plain HTTP on loopback with the token."""

    def __init__(self, port: int, token: str) -> None:
        self.base, self.token = f"http://127.0.0.1:{port}/api", token
        self.requests = self.failures = 0
        self.errors: list[str] = []

    def call(self, action: str, method: str = "GET", body: dict | None = None) -> dict | None:
        data = json.dumps(body or {}).encode() if method == "POST" else None
        req = urllib.request.Request(f"{self.base}/{action}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        self.requests += 1
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read() or b"null")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self.failures += 1
            self.errors.append(f"{action}: {exc}")
            return None


def wait_for_server(port: int, token_file: Path, app: subprocess.Popen, timeout: float = 120.0) -> Client:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise SystemExit(f"the app exited with code {app.returncode} before its server came up")
        if token_file.is_file():
            client = Client(port, token_file.read_text().strip())
            state = client.call("state")
            if state is not None and state.get("running"):
                client.requests = client.failures = 0
                client.errors.clear()
                return client
        time.sleep(0.5)
    raise SystemExit("the app's remote control did not answer within 2 minutes")


def grab_screen(display: str, path: Path) -> None:
    import av

    with av.open(display, format="x11grab", options={"video_size": "1600x1000"}) as screen:
        frame = next(screen.decode(video=0))
        frame.to_image().save(str(path)) if hasattr(frame, "to_image") else None
        if not path.exists():  # no Pillow: write the PNG through OpenCV
            import cv2

            cv2.imwrite(str(path), frame.to_ndarray(format="bgr24"))


class Recorder:
    """Frame counts polled from /api/stats -> longest gap, fps per 10 s window, one JSON line per window."""

    def __init__(self, out: Path, start: float) -> None:
        self.out, self.start = out, start
        self.last_count, self.last_change, self.longest_gap = -1, start, 0.0
        self.counts: list[tuple[float, int]] = []
        self.rows: list[dict] = []
        self.kind: str | None = None  # what the last switch picked: "built-in" or "style image"
        self.window_gap = 0.0  # the longest frame gap since that switch
        self.switch_gaps: dict[str, list[float]] = {"built-in": [], "style image": []}

    def frames(self, now: float, count: int) -> None:
        if count != self.last_count:
            if self.last_count >= 0:
                self.longest_gap = max(self.longest_gap, now - self.last_change)
                self.window_gap = max(self.window_gap, now - self.last_change)
            self.last_count, self.last_change = count, now
        self.counts.append((now, count))

    def switched(self, kind: str) -> None:
        """A style switch: the window of the previous one closes with its longest frame gap."""
        if self.kind is not None:
            self.switch_gaps[self.kind].append(self.window_gap)
        self.kind, self.window_gap = kind, 0.0

    def gaps_after_switches(self) -> dict:
        """Per kind of switch (the first of each left out: the model's first frames), the median and longest of
        the longest frame gap in each switch's window."""
        out = {}
        for kind, gaps in self.switch_gaps.items():
            kept = sorted(gaps[1:])
            if kept:
                out[kind] = {"switches": len(kept), "median_s": round(kept[len(kept) // 2], 3), "max_s": round(kept[-1], 3)}
        return out

    def log(self, now: float, pid: int, client: Client, switches: int) -> None:
        recent = [c for t, c in self.counts if t >= now - LOG_EVERY_S]
        fps = (recent[-1] - recent[0]) / LOG_EVERY_S if len(recent) > 1 and recent[-1] >= recent[0] else 0.0
        self.counts = self.counts[-1:]
        self.rows.append({"t": round(now - self.start, 1), "rss_mb": round(rss_mb(pid), 1), "fps": round(fps, 2),
                          "longest_gap_s": round(self.longest_gap, 3), "switches": switches,
                          "requests": client.requests, "failures": client.failures, "errors": client.errors[-3:]})
        with (self.out / "soak.jsonl").open("a") as f:
            f.write(json.dumps(self.rows[-1]) + "\n")

    def summary(self, lived_to_end: bool, code) -> dict:
        rows = self.rows
        after_minute = next((r for r in rows if r["t"] >= 60), rows[0] if rows else None)
        end = rows[-1] if rows else None
        steady = [r["fps"] for r in rows if r["t"] > 60] or [r["fps"] for r in rows] or [0.0]
        growth = round(100 * (end["rss_mb"] - after_minute["rss_mb"]) / after_minute["rss_mb"], 2) if end else None
        return {"lived_to_end": lived_to_end, "quit_exit_code": code, "minutes": round(end["t"] / 60, 1) if end else 0,
                "rss_mb_after_1_min": after_minute and after_minute["rss_mb"], "rss_mb_end": end and end["rss_mb"],
                "rss_growth_pct": growth, "longest_frame_gap_s": end and end["longest_gap_s"],
                "fps_mean": round(sum(steady) / len(steady), 2), "fps_min_10s": min(steady),
                "style_switches": end and end["switches"], "requests": end and end["requests"],
                "request_failures": end and end["failures"], "errors": end["errors"] if end else [],
                "gap_after_switch": self.gaps_after_switches()}


BOLDNESS_STEPS = (0.0, 0.5, 1.0)  # --boldness-sweep: the boldness set with each style switch, in turn


def drive(client: Client, app: subprocess.Popen, minutes: float, out: Path, sweep: bool = False,
          custom: list[str] = ()) -> Recorder:
    """Use the app over loopback for ``minutes``: stats every 0.1 s, state every 0.5 s, next style every 2 s
    (with ``sweep``, a boldness of BOLDNESS_STEPS too; with ``custom`` style images, every other switch one of
    them in turn)."""
    start = time.monotonic()
    rec = Recorder(out, start)
    switches, next_switch, next_state, next_log = 0, start + STYLE_EVERY_S, start, start + LOG_EVERY_S
    while time.monotonic() - start < minutes * 60 and app.poll() is None:
        now = time.monotonic()
        stats = client.call("stats")
        if stats and stats.get("stats"):
            rec.frames(now, stats["stats"]["frames_processed"])
        if now >= next_state:
            client.call("state")
            next_state += STATE_EVERY_S
        if now >= next_switch:
            if custom and switches % 2:
                client.call("style", "POST", {"name": custom[(switches // 2) % len(custom)]})
                rec.switched("style image")
            else:
                client.call("next", "POST")
                rec.switched("built-in")
            if sweep:
                client.call("boldness", "POST", {"value": BOLDNESS_STEPS[switches % len(BOLDNESS_STEPS)]})
            switches += 1
            next_switch += STYLE_EVERY_S
        if now >= next_log:
            rec.log(now, app.pid, client, switches)
            next_log += LOG_EVERY_S
        time.sleep(max(0.0, STATS_EVERY_S - (time.monotonic() - now)))
    return rec


def quit_app(app: subprocess.Popen, env: dict) -> int | str:
    """Press the main window's Quit shortcut (no window manager on Xvfb: focus it first) and wait."""
    found = subprocess.run(["xdotool", "search", "--name", r"^StyleCast [0-9]"], env=env, capture_output=True,
                           text=True, timeout=30).stdout.split()
    if found:
        subprocess.run(["xdotool", "windowfocus", "--sync", found[0], "key", "ctrl+q"], env=env,
                       capture_output=True, timeout=30)
    try:
        return app.wait(60)
    except subprocess.TimeoutExpired:
        app.kill()
        return "did not quit within 60 s"


def _user_files(home: Path, learned: list[Path], style_images: list[Path], models: list[Path]) -> None:
    """Learned styles, style images and models where the app finds the user's own."""
    data = home / "data" / "stylecast"
    for folder, paths in (("learned", learned), ("styles", style_images)):
        for path in paths:
            (data / folder).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, data / folder / path.name)
    for model in models:
        (data / "models").mkdir(parents=True, exist_ok=True)
        for path in model.parent.glob(model.stem.split(".")[0] + ".*onnx"):  # with .stats.onnx and variants
            shutil.copy(path, data / "models" / path.name)


def soak(minutes: float, out: Path, port: int, region: str | None = None, sweep: bool = False,
         learned: list[Path] = (), style_images: list[Path] = (), models: list[Path] = ()) -> dict:
    for tool in ("Xvfb", "xdotool"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed: apt-get install xvfb xdotool")
    home = Path(tempfile.mkdtemp(prefix="stylecast-soak-"))  # the app's own settings, styles and token
    display = f":{free_display()}"
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "XDG_DATA_HOME": str(home / "data"),
           "XDG_CONFIG_HOME": str(home / "config"), "PYTHONFAULTHANDLER": "1"}
    os.environ.update(XDG_DATA_HOME=env["XDG_DATA_HOME"], XDG_CONFIG_HOME=env["XDG_CONFIG_HOME"])
    _user_files(home, learned, style_images, models)  # learned styles join the built-in rotation
    from engine.control import token_path
    from engine.live import SAMPLE_CLIP

    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    app_log = (out / "app.log").open("w")
    app = subprocess.Popen([sys.executable, "-m", "engine", "gui", "--source", str(SAMPLE_CLIP), "--start",
                            "--control", str(port)], env=env, stdout=app_log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        client = wait_for_server(port, token_path(), app)
        client.call("smoothing", "POST", {"value": 0.6})
        if region:  # the person-segmentation model on every frame too
            client.call("region", "POST", {"region": region})
        custom = (client.call("styles") or {}).get("custom", []) if style_images else []
        rec = drive(client, app, minutes, out, sweep, custom)
        lived_to_end = app.poll() is None
        if lived_to_end:
            grab_screen(display, out / "soak_end.png")
        code = quit_app(app, env) if lived_to_end else app.returncode
    finally:
        if app.poll() is None:
            app.kill()
        xvfb.terminate()
        app_log.close()
    return rec.summary(lived_to_end, code)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--out", default="runs/soak", help="folder for soak.jsonl, summary.json, soak_end.png, app.log")
    p.add_argument("--port", type=int, default=8787)
    p.add_argument("--region", choices=["background", "person"], help="run with this region mode on")
    p.add_argument("--boldness-sweep", action="store_true", help="set boldness 0, 0.5, 1 in turn with each style switch")
    p.add_argument("--learned", nargs="*", default=[], type=Path, help="learned-style files to put in the gallery")
    p.add_argument("--style-images", nargs="*", default=[], type=Path, help="style images to put in the gallery")
    p.add_argument("--models", nargs="*", default=[], type=Path, help="model files to put in the user model folder")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.jsonl").unlink(missing_ok=True)
    summary = soak(args.minutes, out, args.port, args.region, args.boldness_sweep, args.learned, args.style_images,
                   args.models)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    ok = (summary["lived_to_end"] and summary["quit_exit_code"] == 0 and summary["rss_growth_pct"] is not None
          and summary["rss_growth_pct"] < 5.0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
