"""Render: clip in, clip out with the same frames, fps, size and a bit-identical audio stream."""
from __future__ import annotations

import re
import threading

import pytest

from engine.errors import Cancelled, OutputError
from engine.render import render_video
from engine.processor import FrameProcessor, StyleSettings
from engine.stylizers import load_stylizer
from engine.video import COPYABLE_AUDIO, NOT_COPIED_AUDIO, TRANSCODE_AUDIO, WRITABLE_VIDEO_SUFFIXES
from tests.media import audio_packets, damage_packet, make_clip, truncate, video_facts


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


# -- audio copy: the COPYABLE_AUDIO table as the containers really behave ---------------------
AUDIO_CODECS = {"aac": 44100, "mp3": 44100, "opus": 48000, "vorbis": 44100, "flac": 44100, "ac3": 48000, "pcm_s16le": 44100}


@pytest.fixture(scope="module")
def audio_clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    return {codec: make_clip(folder / f"{codec}.mkv", frames=12, audio_codec=codec, sample_rate=rate,
                             layout="stereo" if codec == "vorbis" else "mono")  # FFmpeg's vorbis encoder is stereo only
            for codec, rate in AUDIO_CODECS.items()}


def _write_through(src, dst) -> bool:
    """Re-encodes src's video and passes its audio through VideoWriter; True if the audio was copied."""
    import av

    from engine.video import VideoDecoder, VideoWriter

    with av.open(str(src)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        writer = VideoWriter(dst, v.width, v.height, v.average_rate, audio_from=a, time_base=v.time_base)
        for item in VideoDecoder(c, src.name).read(a):
            if isinstance(item, av.Packet):
                writer.write_audio_packet(item)
            else:
                writer.write(item.to_ndarray(format="rgb24"), item.pts, v.time_base)
        writer.commit()
    return writer.audio_copied


def _ffmpeg_refuses_copy(src, dst) -> bool:
    import av

    with av.open(str(src)) as c:
        out = av.open(str(dst), "w")
        try:
            stream = out.add_stream_from_template(c.streams.audio[0])
            for packet in c.demux(audio=0):
                if packet.dts is not None:
                    packet.stream = stream
                    out.mux(packet)
            out.close()
        except (av.error.FFmpegError, ValueError):
            return True
    return False


@pytest.mark.parametrize("suffix", WRITABLE_VIDEO_SUFFIXES)
@pytest.mark.parametrize("codec", AUDIO_CODECS)
def test_copyable_audio_table_matches_the_containers(audio_clips, tmp_path, codec, suffix):
    import av

    src, out = audio_clips[codec], tmp_path / f"out{suffix}"
    copied = _write_through(src, out)
    with av.open(str(out)) as c:
        name = c.streams.audio[0].codec_context.codec.canonical_name
        samples = sum(f.samples for f in c.decode(audio=0))
    assert samples > 10000  # the audio plays
    if codec in COPYABLE_AUDIO[suffix]:
        assert copied and name == codec
        assert audio_packets(out) == audio_packets(src)  # bit for bit
    else:  # left out only because FFmpeg refuses it, or because players would
        assert not copied and name == TRANSCODE_AUDIO.get(suffix, "aac")
        assert _ffmpeg_refuses_copy(src, tmp_path / f"raw{suffix}") or codec in NOT_COPIED_AUDIO.get(suffix, ())


@pytest.mark.parametrize("suffix", [".mkv", ".mp4", ".avi"])
def test_render_copies_mp3_bit_for_bit(processor, tmp_path, suffix):
    src = make_clip(tmp_path / "song.mkv", frames=24, audio_codec="mp3")
    result = render_video(src, tmp_path / f"o{suffix}", processor)
    assert result.audio == "copied" and result.note is None
    (rate, *rest), (src_rate, *src_rest) = video_facts(result.output), video_facts(src)
    assert rest == src_rest and abs(rate - src_rate) < 0.01 * src_rate  # MKV times are whole milliseconds
    assert len(audio_packets(src)) > 10 and audio_packets(result.output) == audio_packets(src)


# -- AVI output ------------------------------------------------------------------------------
def test_render_to_avi_keeps_frames_size_fps_and_audio(processor, clip_with_audio, tmp_path):
    result = render_video(clip_with_audio, tmp_path / "o.avi", processor)
    assert result.frames == 24 and result.audio == "copied"
    assert video_facts(result.output) == video_facts(clip_with_audio) == (24, 96, 64, 24)
    assert audio_packets(result.output) == audio_packets(clip_with_audio)
    assert not list(tmp_path.glob(".stylecast-tmp-*"))


def test_render_to_avi_transcodes_what_avi_cannot_carry(processor, tmp_path):
    import av

    src = make_clip(tmp_path / "opus.mkv", frames=15, fps=30, size=(80, 48), audio_codec="opus", sample_rate=48000)
    result = render_video(src, tmp_path / "o.avi", processor)
    assert result.audio == "transcoded" and video_facts(result.output) == (30, 80, 48, 15)
    with av.open(str(result.output)) as c:
        assert c.streams.audio[0].codec_context.codec.canonical_name == "mp3"


def test_unwritable_container_names_the_ones_that_work(processor, clip_with_audio, tmp_path):
    with pytest.raises(OutputError) as err:
        render_video(clip_with_audio, tmp_path / "o.webm", processor)
    assert all(s in str(err.value) for s in WRITABLE_VIDEO_SUFFIXES)
    assert list(tmp_path.iterdir()) == [clip_with_audio]


# -- a clip that ends before its declared frame count ----------------------------------------
@pytest.fixture
def cut_clip(tmp_path):
    full = make_clip(tmp_path / "full.mp4", frames=120, fps=24, faststart=True)  # index first: survives the cut
    return truncate(full, tmp_path / "clip.mp4", keep=0.7)


def test_render_of_a_cut_clip_renders_what_decodes_and_says_so(processor, cut_clip, tmp_path):
    from engine.sources import VideoFileSource

    result = render_video(cut_clip, tmp_path / "o.mp4", processor)
    assert result.frames_expected == 120 and 0 < result.frames < 120
    assert result.note == f"clip.mp4 ended after {result.frames} of 120 frames; rendered what decoded"
    rate, w, h, n = video_facts(result.output)  # complete and playable
    assert (rate, w, h, n) == (24, 96, 64, result.frames)
    assert len(audio_packets(result.output)) > 10
    source = VideoFileSource(cut_clip)  # the live source follows the same rule
    assert sum(1 for _ in iter(source.read, None)) == result.frames


def test_cli_prints_one_note_for_a_cut_clip(capsys, tiny_fast_model, cut_clip, tmp_path):
    from engine.cli import main

    out = tmp_path / "o.mkv"
    code = main(["render", str(cut_clip), "-o", str(out), "--model", str(tiny_fast_model), "-q"])
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert code == 0 and len(notes) == 1, err
    assert re.fullmatch(r"note: clip\.mp4 ended after (\d+) of 120 frames; rendered what decoded", notes[0])
    assert video_facts(out)[3] == int(re.search(r"after (\d+)", notes[0]).group(1))


# -- damaged packets: one rule for probe, the file source and render -------------------------
def test_a_damaged_packet_mid_clip_is_skipped(processor, tmp_path):
    from engine.sources import VideoFileSource

    src = damage_packet(make_clip(tmp_path / "full.mkv", frames=24), tmp_path / "clip.mkv", index=10)
    result = render_video(src, tmp_path / "o.mkv", processor)
    assert result.frames == 23 and result.audio == "copied"
    assert result.note == "clip.mkv: skipped 1 damaged video packet"
    assert video_facts(result.output)[1:] == (96, 64, 23)
    assert audio_packets(result.output) == audio_packets(src)
    source = VideoFileSource(src)
    assert sum(1 for _ in iter(source.read, None)) == 23


def test_a_damaged_first_packet_is_a_clear_error(processor, tmp_path):
    from engine.errors import InputError

    src = damage_packet(make_clip(tmp_path / "full.mkv", frames=12), tmp_path / "clip.mkv", index=0)
    with pytest.raises(InputError, match="clip.mkv cannot be decoded"):
        render_video(src, tmp_path / "o.mkv", processor)
    assert not (tmp_path / "o.mkv").exists() and not list(tmp_path.glob(".stylecast-tmp-*"))
