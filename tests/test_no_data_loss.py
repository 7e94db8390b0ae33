"""Nothing is lost: no output is written over an input, a failed write leaves no file that looks
finished, and temp files are created exclusively.

A full disk is the real thing here: the child process runs under RLIMIT_FSIZE, so every write past
the limit fails with EFBIG (Python ignores SIGXFSZ), exactly where ENOSPC would.
"""
from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.atomic import TEMP_PREFIX, atomic_path, check_not_input, temp_path_for
from engine.cli import main
from engine.errors import OutputError

from tests.test_cli import assert_clean_error, run


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def no_temp_files(folder: Path) -> bool:
    return not list(Path(folder).glob(f"{TEMP_PREFIX}*"))


# ---- temp files ---------------------------------------------------------------------------------
def test_temp_file_never_follows_a_planted_symlink(tmp_path, monkeypatch):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "out.png"
    # plant symlinks at the names a predictable scheme would use, and at the next random name
    import secrets

    names = iter(["aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(names))
    for name in (f"{TEMP_PREFIX}{os.getpid()}-out.png", f"{TEMP_PREFIX}aaaaaaaaaaaa-out.png"):
        (tmp_path / name).symlink_to(victim)
    with atomic_path(target) as tmp:
        assert not tmp.is_symlink() and tmp.name == f"{TEMP_PREFIX}bbbbbbbbbbbb-out.png"
        tmp.write_bytes(b"stylized")
    assert victim.read_text() == "precious"
    assert target.read_bytes() == b"stylized" and not target.is_symlink()


def test_temp_file_is_created_exclusively_with_the_users_umask(tmp_path):
    a, b = temp_path_for(tmp_path / "x.mp4"), temp_path_for(tmp_path / "x.mp4")
    assert a != b and a.is_file() and b.is_file() and a.suffix == ".mp4"
    umask = os.umask(0)
    os.umask(umask)
    assert a.stat().st_mode & 0o777 == 0o666 & ~umask


def test_same_file_catches_symlinks_hard_links_and_relative_spellings(tmp_path, monkeypatch):
    src = tmp_path / "a.mp4"
    src.write_bytes(b"x")
    (tmp_path / "link.mp4").symlink_to(src)
    os.link(src, tmp_path / "hard.mp4")
    monkeypatch.chdir(tmp_path)
    for spelling in ("a.mp4", "./a.mp4", "link.mp4", "hard.mp4", str(src)):
        with pytest.raises(OutputError, match="is the input"):
            check_not_input(spelling, [src])
    assert check_not_input("b.mp4", [src, None]) == Path("b.mp4")


# ---- outputs that are inputs, command by command ---------------------------------------------------
def test_live_output_that_is_its_source_is_refused(capsys, tiny_fast_model, clip_with_audio, tmp_path):
    before = digest(clip_with_audio)
    link = tmp_path / "link.mp4"
    link.symlink_to(clip_with_audio)
    for out in (clip_with_audio, link):
        code, _, err = run(capsys, "live", "--source", clip_with_audio, "-o", out, "--frames", "5",
                           "--model", tiny_fast_model)
        assert_clean_error(code, err, "is the input")
    assert digest(clip_with_audio) == before


def test_live_frames_folder_never_writes_over_its_source(capsys, tiny_fast_model, tmp_path):
    import cv2

    folder = tmp_path / "frames"
    folder.mkdir()
    src = folder / "frame_000000.png"
    cv2.imwrite(str(src), np.full((48, 64, 3), 200, np.uint8))
    before = digest(src)
    code, _, err = run(capsys, "live", "--source", src, "-o", folder, "--frames", "3", "--model", tiny_fast_model)
    assert_clean_error(code, err, "is the input")
    assert digest(src) == before


def test_stylize_and_render_never_write_over_the_model_or_a_style_image(capsys, tiny_fast_model, tiny_adain_model,
                                                                        photo, clip_with_audio, tmp_path):
    import shutil

    painting = tmp_path / "painting.png"
    shutil.copy(photo, painting)
    before = digest(painting), digest(tiny_fast_model)
    code, _, err = run(capsys, "stylize", photo, "-o", painting, "--model", tiny_adain_model, "--style-image", painting)
    assert_clean_error(code, err, "is the input")
    code, _, err = run(capsys, "stylize", photo, "-o", tiny_fast_model, "--model", tiny_fast_model)
    assert_clean_error(code, err, "is the input")
    code, _, err = run(capsys, "render", clip_with_audio, "-o", tiny_fast_model.with_suffix(".mp4"),
                       "--model", tiny_fast_model, "-q")
    assert code == 0  # a different file: fine
    code, _, err = run(capsys, "render", clip_with_audio, "-o", painting.with_suffix(".mkv"),
                       "--model", tiny_adain_model, "--style-image", painting, "-q")
    assert code == 0
    assert (digest(painting), digest(tiny_fast_model)) == before


def test_batch_render_refuses_a_clip_that_is_another_clips_output(capsys, tiny_fast_model, tmp_path):
    from tests.media import make_clip

    a = make_clip(tmp_path / "a.mp4", frames=4, audio=False)
    b = make_clip(tmp_path / "a_stylized.mp4", frames=4, audio=False)  # a's batch output name
    before = digest(b)
    code, _, err = run(capsys, "render", a, b, "-o", tmp_path, "--model", tiny_fast_model, "-q")
    assert_clean_error(code, err, "is the input")
    assert digest(b) == before


def test_gatys_and_translate_refuse_outputs_that_are_inputs(photo, tmp_path):
    from training.__main__ import main as training_main

    before = digest(photo)
    for argv in (["gatys", "--content", photo, "--style", photo, "--out", tmp_path / "o.png", "--preview", photo],
                 ["gatys", "--content", photo, "--style", photo, "--out", photo],
                 ["translate", "--checkpoint", tmp_path / "none.pt", "--input", photo, "--output", photo]):
        assert training_main([str(a) for a in argv]) == 2
    assert digest(photo) == before


def test_export_refuses_to_write_over_its_checkpoint(tmp_path, capsys):
    from export.__main__ import main as export_main

    ckpt = tmp_path / "net.onnx"  # a checkpoint named like the output
    ckpt.write_bytes(b"not really a checkpoint")
    assert export_main(["fast", str(ckpt), str(ckpt)]) == 2
    assert "is the input" in capsys.readouterr().err
    assert ckpt.read_bytes() == b"not really a checkpoint"


def test_training_refuses_a_run_folder_whose_checkpoint_is_an_input(tmp_path):
    import torch

    from training.config import FastTrainConfig
    from training.loop import TrainLoop

    last = tmp_path / "last.pt"
    last.write_bytes(b"someone else's checkpoint")
    cfg = FastTrainConfig(out_dir=str(tmp_path), init_from=str(last))
    net = torch.nn.Linear(2, 2)
    with pytest.raises(OutputError, match="is the input"):
        TrainLoop(cfg, "fast", net, None, torch.optim.Adam(net.parameters()))
    assert last.read_bytes() == b"someone else's checkpoint"


def test_live_session_snapshot_and_recording_refuse_the_source(tiny_fast_model, clip_with_audio, tmp_path):
    from engine.live import LiveSession
    from engine.processor import StyleSettings
    from engine.setup import build_processor, open_stylizer

    session = LiveSession(str(clip_with_audio))
    session.adopt(build_processor(StyleSettings(), model=tiny_fast_model))
    before = digest(clip_with_audio)
    session.start(loop=True)
    try:
        with pytest.raises(OutputError, match="is the input"):
            session.start_recording(clip_with_audio)
        from engine.frames import save_image

        with pytest.raises(OutputError, match="is the input"):  # how the app saves a snapshot
            save_image(tiny_fast_model, np.zeros((8, 8, 3), np.uint8), session.input_files())
    finally:
        session.shutdown()
    assert digest(clip_with_audio) == before
    assert open_stylizer(tiny_fast_model) is not None  # the model file is intact


# ---- a full disk ------------------------------------------------------------------------------------
def _cli_with_file_limit(args: list[str], limit: int, cwd: Path) -> subprocess.CompletedProcess:
    def limit_writes() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          preexec_fn=limit_writes, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})


@pytest.mark.parametrize("limit", [20_000, 60_000])
def test_live_recording_on_a_full_disk_fails_cleanly(tiny_fast_model, tmp_path, limit):
    out = tmp_path / "rec.mp4"
    result = _cli_with_file_limit(["live", "--source", "synthetic", "--frames", "30", "-o", out,
                                   "--model", tiny_fast_model], limit, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "frames out" not in result.stdout
    errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and "rec.mp4" in errors[0] and "too large" in errors[0].lower(), result.stderr
    assert not out.exists() and no_temp_files(tmp_path)


def test_video_writer_fails_cleanly_when_the_index_cannot_be_written(tmp_path):
    """MP4 writes its index when it closes: a disk that fills up exactly then is the last chance to fail."""
    from fractions import Fraction

    from engine.video import VideoWriter

    out = tmp_path / "rec.mp4"
    writer = VideoWriter(out, 64, 48, Fraction(24))
    for i in range(6):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (writer.tmp.stat().st_size, old[1]))  # not one byte more
    try:
        with pytest.raises(OutputError, match="rec.mp4"):
            writer.commit()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
    assert not out.exists() and no_temp_files(tmp_path)


def test_stylize_on_a_full_disk_leaves_nothing(tiny_fast_model, photo, tmp_path):
    out = tmp_path / "o.png"
    result = _cli_with_file_limit(["stylize", photo, "-o", out, "--model", tiny_fast_model], 100, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert not out.exists() and no_temp_files(tmp_path)


def test_batch_inputs_that_would_share_an_output_are_refused(capsys, tiny_fast_model, photo, tmp_path):
    """d1/x.jpg and d2/x.jpg (or a.png and a.webp) would both become out/x_stylized.*: one would be lost."""
    import shutil

    out = tmp_path / "out"
    out.mkdir()
    for folder in ("d1", "d2"):
        (tmp_path / folder).mkdir()
        shutil.copy(photo, tmp_path / folder / "x.png")
    code, _, err = run(capsys, "stylize", tmp_path / "d1" / "x.png", tmp_path / "d2" / "x.png", "-o", out,
                       "--model", tiny_fast_model)
    assert_clean_error(code, err, "would both be written")
    assert not list(out.iterdir())


def test_studio_save_never_writes_over_the_content_photo(qtbot, photo, tmp_path):
    from PySide6.QtGui import QImage

    from desktop.controller import EngineController
    from desktop.studio_tab import StudioTab

    tab = StudioTab(EngineController())
    qtbot.addWidget(tab)
    tab.content.setText(str(photo))
    tab.result = QImage(16, 16, QImage.Format_RGB888)
    before = digest(photo)
    assert not tab.save_to(str(photo))
    assert digest(photo) == before


def test_a_temp_file_in_the_models_folder_is_not_a_model(tmp_path):
    import shutil

    from engine.modelfile import ASSETS_DIR, scan_models

    shutil.copy(ASSETS_DIR / "models" / "light8.onnx", tmp_path / f"{TEMP_PREFIX}1a2b3c4d5e6f-mine.onnx")
    usable, broken = scan_models([tmp_path])  # an export under way, or one killed part-way
    assert not any("mine" in m.name for m in usable) and not any("mine" in str(b) for b in broken)
