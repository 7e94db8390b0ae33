"""Learned styles: a painting learned as new norm rows of the shipped fast net (engine/learned.py,
engine/learnjob.py, training/learn_style.py), run through the real trainer, files and ONNX sessions."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError
from engine.frames import load_image
from engine.learned import LearnedStyle, load_learned, save_learned, scan_learned
from engine.learnjob import LearnJob
from engine.live import LiveSession
from engine.stylizers import load_stylizer
from engine.userstyles import StyleLibrary

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "assets" / "models" / "mid8.int8.onnx"
PAINTING = ROOT / "assets" / "styles" / "kandinsky.jpg"
PHOTO = ROOT / "assets" / "samples" / "fruits.jpg"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for path in sorted((ROOT / "assets" / "photos").glob("*.jpg"))[:3]:
        shutil.copy(path, folder / path.name)
    return folder


def learn_args(photos: Path, run_dir: Path, steps: int) -> list[str]:
    return ["--photos", str(photos), "--run-dir", str(run_dir), "--steps", str(steps), "--batch-size", "1"]


@pytest.fixture(scope="module")
def learned(tmp_path_factory, photos) -> Path:
    """A real learn-style run, two steps: a style file as the app would write it."""
    out = tmp_path_factory.mktemp("learned") / "swirls.npz"
    run_dir = out.parent / ".runs" / "swirls"
    cmd = [sys.executable, "-m", "engine", "learn-style", str(PAINTING), "--name", "swirls", "--out", str(out),
           *learn_args(photos, run_dir, 2)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not run_dir.exists(), "a finished run leaves only its style file"
    return out


def test_learned_file_loads_and_runs_on_the_shipped_net(learned):
    style = load_learned(learned)
    stylizer = load_stylizer(MODEL)
    assert style.name == "swirls" and style.code_id == stylizer.info.code_id
    assert style.thumbnail is not None and style.thumbnail.shape[2] == 3
    stylizer.add_learned(style)
    assert stylizer.style_names()[-1] == "swirls"
    photo = load_image(PHOTO)[:128, :192]
    alone = stylizer.stylize(photo, {"swirls": 1.0}, 1.0).astype(np.float32)
    starry = stylizer.stylize(photo, {"starry": 1.0}, 1.0).astype(np.float32)
    half = stylizer.stylize(photo, {"swirls": 1.0, "starry": 1.0}, 1.0).astype(np.float32)
    assert np.abs(alone - starry).mean() > 2.0, "the learned rows make a picture of their own"
    # a mix sits between its two styles (the rows are mixed, not the pictures)
    assert np.abs(half - alone).mean() < np.abs(starry - alone).mean()
    assert np.abs(half - starry).mean() < np.abs(starry - alone).mean()
    bold = stylizer.stylize(photo, {"swirls": 1.0}, 1.0, boldness=1.0).astype(np.float32)
    assert np.abs(bold - alone).mean() > 0.1, "boldness moves a learned style too"


def test_learned_style_survives_a_restart_and_can_be_removed(learned, tmp_path):
    folder = tmp_path / "learned"
    folder.mkdir()
    shutil.copy(learned, folder / learned.name)
    session = LiveSession(str(PHOTO), library=StyleLibrary(tmp_path / "styles"), learned_folder=folder)
    session.load_default_models()
    assert "swirls" in session.learned_styles() and "swirls" in session.builtin_styles()
    session.set_mix({"swirls": 0.5, "wave": 0.5})
    assert session.settings.mix == {"swirls": 0.5, "wave": 0.5}
    again = LiveSession(str(PHOTO), library=StyleLibrary(tmp_path / "styles"), learned_folder=folder)
    again.load_default_models()
    assert again.learned_styles() == ["swirls"]
    again.remove_learned("swirls")
    assert not (folder / learned.name).exists() and "swirls" not in again.builtin_styles()


def test_a_style_learned_for_other_weights_is_refused_with_a_reason(learned, tmp_path):
    style = load_learned(learned)
    other = save_learned(tmp_path / "other.npz", LearnedStyle("other", style.faithful, style.bold,
                                                            {**style.meta, "code_id": "0123456789abcdef"}))
    stylizer = load_stylizer(MODEL)
    with pytest.raises(InputError, match="other weights"):
        stylizer.add_learned(load_learned(other))


@pytest.mark.parametrize("damage", ["truncated", "not_npz", "pickled", "wrong_size", "nan", "no_meta"])
def test_damaged_learned_files_get_one_clear_error(learned, tmp_path, damage):
    path = tmp_path / f"{damage}.npz"
    raw = learned.read_bytes()
    style = load_learned(learned)
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "not_npz":
        path.write_bytes(b"this is not a learned style")
    elif damage == "pickled":
        np.savez(path, faithful=np.array([object()], dtype=object), bold=style.bold, meta=np.array("{}"))
    elif damage == "wrong_size":
        np.savez(path, faithful=style.faithful[:10], bold=style.bold,
                 meta=np.array(json.dumps({**style.meta, "format": "stylecast-learned-style", "version": 1})))
    elif damage == "nan":
        save_learned(path, LearnedStyle("nan", style.faithful * np.nan, style.bold, style.meta))
    else:
        np.savez(path, faithful=style.faithful, bold=style.bold)
    with pytest.raises(InputError) as err:
        load_learned(path)
    assert path.name in str(err.value) and "\n" not in str(err.value)
    found, broken = scan_learned(tmp_path)
    assert path in [p for p, _ in broken]


def test_a_cancelled_run_writes_no_style_and_the_same_command_resumes_it(photos, tmp_path):
    out, run_dir = tmp_path / "learned" / "dots.npz", tmp_path / "learned" / ".runs" / "dots"
    events: list[dict] = []
    job = LearnJob(PAINTING, "dots", 30, events.append, ["--out", str(out), *learn_args(photos, run_dir, 1000)])
    first_step = threading.Event()
    job.on_change = lambda status: (events.append(status), status["step"] >= 1 and first_step.set())
    job.start()
    assert first_step.wait(600), job.status()
    job.cancel()
    status = job.wait(600)
    assert status["state"] == "cancelled", status
    assert not out.exists(), "a stopped run writes no style file"
    assert (run_dir / "last.pt").is_file()
    stopped_at = status["step"]
    again = LearnJob(PAINTING, "dots", 30, None,
                     ["--out", str(out), *learn_args(photos, run_dir, stopped_at + 1)]).start().wait(600)
    assert again["state"] == "done", again
    assert load_learned(out).meta["steps"] == stopped_at + 1, "the run went on from its checkpoint"


def test_a_killed_run_leaves_nothing_half_written(photos, tmp_path):
    out, run_dir = tmp_path / "learned" / "bars.npz", tmp_path / "learned" / ".runs" / "bars"
    started = threading.Event()
    job = LearnJob(PAINTING, "bars", 30, lambda s: s["step"] >= 1 and started.set(),
                   ["--out", str(out), *learn_args(photos, run_dir, 1000)]).start()
    assert started.wait(600), job.status()
    job.kill()
    status = job.wait(600)
    assert status["state"] == "failed" and not out.exists()
    assert not [p for p in out.parent.iterdir() if p.is_file()], "no partial file beside the styles"
    again = LearnJob(PAINTING, "bars", 30, None, ["--out", str(out), *learn_args(photos, run_dir, 2)]).start().wait(600)
    assert again["state"] == "done", again
    assert load_learned(out).name == "bars"


def test_learn_style_refuses_bad_input_with_exit_2(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    for painting in (bad, tmp_path / "missing.png"):
        done = subprocess.run([sys.executable, "-m", "engine", "learn-style", str(painting), "--out",
                               str(tmp_path / "x.npz")], capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and "error:" in done.stderr
        assert not (tmp_path / "x.npz").exists()


def test_the_session_learns_a_painting_and_adds_it_to_the_gallery(photos, tmp_path):
    folder = tmp_path / "learned"
    session = LiveSession(str(PHOTO), library=StyleLibrary(tmp_path / "styles"), learned_folder=folder)
    session.load_default_models()
    session.learn_args = ["--photos", str(photos), "--steps", "2", "--batch-size", "1"]
    events = []
    session.add_listener(lambda kind, value: events.append((kind, value)))
    with pytest.raises(InputError):
        session.learn_style(tmp_path / "nothing.png")
    name = session.learn_style("kandinsky", minutes=5)
    assert name == "kandinsky-live", "a built-in painting's learned style does not take the built-in name"
    with pytest.raises(InputError, match="already learning"):
        session.learn_style("wave")
    status = session._learn.wait(600)
    assert status["state"] == "done", status
    assert name in session.learned_styles()
    assert ("styles", session.style_names()) in events
    assert [v["state"] for k, v in events if k == "learning"][-1] == "done"
    session.set_mix({name: 1.0})


def test_info_lists_learned_styles_and_the_nets_they_run_on(learned):
    from engine.learned import learned_dir

    learned_dir().mkdir(parents=True, exist_ok=True)
    shutil.copy(learned, learned_dir() / learned.name)
    (learned_dir() / "junk.npz").write_bytes(b"not a style")
    done = subprocess.run([sys.executable, "-m", "engine", "info"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    line = [ln for ln in done.stdout.splitlines() if ln.strip().startswith("swirls")]
    assert line and "runs on mid8" in line[0] and "kandinsky.jpg" in line[0]
    assert "junk.npz [broken]" in done.stdout


def _gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def test_a_learn_run_whose_app_dies_stops_and_keeps_its_checkpoint(photos, tmp_path):
    """The app's learn job runs in a session of its own: an app killed with SIGKILL used to leave it learning for
    all its minutes. It watches the app's pid and stops as Cancel does (a resumable checkpoint, no style file)."""
    import os
    import signal
    import time

    out, run_dir = tmp_path / "mine.npz", tmp_path / "run"
    learn = [sys.executable, "-m", "engine", "learn-style", str(PAINTING), "--out", str(out), "--minutes", "30",
             "--progress", "json", *learn_args(photos, run_dir, 100_000)]
    app = ("import os, subprocess, sys, time\n"
           f"cmd = {learn!r} + ['--parent-pid', str(os.getpid())]\n"
           "child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)\n"
           "print(child.pid, flush=True)\n"
           "for line in child.stdout:\n"
           "    if '\"progress\"' in line:\n"
           "        print('learning', flush=True)\n"
           "time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", app], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        assert parent.stdout.readline().strip() == "learning"  # a step is done: the run has a checkpoint to keep
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        deadline = time.monotonic() + 300
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _gone(child), "the learn run outlived its app"
    finally:
        if not _gone(child):
            os.kill(child, signal.SIGKILL)
    assert not out.exists(), "a stopped run writes no style file"
    assert (run_dir / "last.pt").is_file(), "it stopped as Cancel does: the same command resumes it"
