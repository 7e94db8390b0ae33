"""Render: clip in, clip out with the same frames, fps, size and a bit-identical audio stream."""
from __future__ import annotations

import threading

import pytest

from engine.errors import Cancelled, OutputError
from engine.render import render_video
from engine.stylizers import FrameProcessor, StyleSettings, load_stylizer
from tests.media import audio_packets, make_clip, video_facts


@pytest.fixture
def processor(tiny_fast_model):
    return FrameProcessor(load_stylizer(tiny_fast_model, "cpu"), StyleSettings(mix={"ink": 0.5, "fire": 0.5}))


def test_render_keeps_frames_fps_size_and_copies_audio(processor, clip_with_audio, tmp_path):
    out = tmp_path / "out.mp4"
    seen = []
    result = render_video(clip_with_audio, out, processor, progress=seen.append)
    assert result.frames == 24 and result.audio == "copied"
    assert video_facts(out) == video_facts(clip_with_audio)
    src_audio, out_audio = audio_packets(clip_with_audio), audio_packets(out)
    assert len(src_audio) > 10 and out_audio == src_audio  # bit-identical packets
    assert [p.frames_done for p in seen] == list(range(1, 25))
    assert seen[-1].fraction == 1.0
    assert not list(tmp_path.glob(".stylecast-tmp-*"))


def test_render_changes_the_pixels(processor, clip_with_audio, tmp_path):
    import av
    import numpy as np

    out = render_video(clip_with_audio, tmp_path / "o.mp4", processor).output
    with av.open(str(clip_with_audio)) as a, av.open(str(out)) as b:
        fa = next(a.decode(video=0)).to_ndarray(format="rgb24").astype(int)
        fb = next(b.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.abs(fa - fb).mean() > 5


def test_render_without_audio(processor, tmp_path):
    src = make_clip(tmp_path / "silent.mp4", frames=10, audio=False)
    result = render_video(src, tmp_path / "o.mp4", processor)
    assert result.audio == "none" and video_facts(result.output)[3] == 10


def test_render_transcodes_audio_the_container_cannot_hold(processor, tmp_path):
    src = make_clip(tmp_path / "pcm.mov", frames=12, audio=True, audio_codec="pcm_s16le")
    result = render_video(src, tmp_path / "o.mp4", processor)
    assert result.audio == "transcoded"
    import av

    with av.open(str(result.output)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"


def test_render_odd_size(processor, tmp_path):
    import av
    import numpy as np

    src = tmp_path / "odd.mkv"
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 65, 47, "yuv444p"
        for i in range(5):
            for p in s.encode(av.VideoFrame.from_ndarray(np.full((47, 65, 3), i * 40, np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    result = render_video(src, tmp_path / "o.mkv", processor)
    assert video_facts(result.output)[1:] == (65, 47, 5)


def test_cancel_leaves_no_file(processor, clip_with_audio, tmp_path):
    cancel = threading.Event()
    out = tmp_path / "out.mp4"

    def progress(p):
        if p.frames_done == 5:
            cancel.set()

    with pytest.raises(Cancelled):
        render_video(clip_with_audio, out, processor, progress=progress, cancel=cancel)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [clip_with_audio]


def test_refuses_to_overwrite_input(processor, clip_with_audio):
    before = clip_with_audio.read_bytes()
    with pytest.raises(OutputError, match="is the input"):
        render_video(clip_with_audio, clip_with_audio, processor)
    assert clip_with_audio.read_bytes() == before


def test_output_folder_missing(processor, clip_with_audio, tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        render_video(clip_with_audio, tmp_path / "nope" / "o.mp4", processor)
