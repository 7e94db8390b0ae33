"""Video comes out as it came in: phone clips upright, every audio track, variable frame rates
without false alarms. Every clip here is a real PyAV-encoded file made in tmp_path."""
from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from engine.processor import FrameProcessor, StyleSettings
from engine.render import render_video
from engine.stylizers import load_stylizer
from tests.media import _samples, truncate

W, H = 64, 48  # as encoded; a quarter turn shows it 48 wide and 64 high


@pytest.fixture
def processor(tiny_fast_model):
    return FrameProcessor(load_stylizer(tiny_fast_model, "cpu"), StyleSettings(mix={"ink": 0.5, "fire": 0.5}))


@pytest.fixture
def passthrough(tiny_fast_model):
    """The real model at strength 0: the output shows the input, so where a marker went can be checked."""
    return FrameProcessor(load_stylizer(tiny_fast_model, "cpu"), StyleSettings(strength=0.0))


def make_video(path: Path, *, frames: int = 12, fps: int = 24, size: tuple[int, int] = (W, H),
               display_rotation: int | None = None, hflip: bool = False, rotate_tag: int | None = None,
               pts_ms: list[int] | None = None, audio: tuple[tuple[str, int, str], ...] = (), gop: int | None = None,
               b_frames: bool = True) -> Path:
    """H.264 frames, dark with a white block in the top-left corner as encoded.
    ``display_rotation``: a display matrix turning the picture that many degrees counter-clockwise
    (what PyAV reads back as VideoFrame.rotation; a phone's "rotate 90" is -90); ``rotate_tag``: the
    older ``rotate`` stream tag instead (degrees clockwise); ``pts_ms``: each frame's time in ms
    (variable frame rate); ``audio``: one track per (codec, sample rate, language)."""
    w, h = size
    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
    if gop is not None:
        vs.codec_context.gop_size = gop
        vs.codec_context.options = {"keyint_min": str(gop), "sc_threshold": "0"}
    if not b_frames:
        vs.codec_context.max_b_frames = 0
    if display_rotation is not None or hflip:
        vs.set_display_rotation(display_rotation or 0, hflip=hflip)
    if rotate_tag is not None:
        vs.metadata["rotate"] = str(rotate_tag)
    if pts_ms is not None:
        vs.codec_context.time_base = Fraction(1, 1000)
    tracks = []
    for codec, rate, language in audio:
        a = out.add_stream(codec, rate=rate)
        a.layout = "mono"
        a.metadata["language"] = language
        tracks.append(a)
    for i in range(frames):
        img = np.full((h, w, 3), 30 + (i % 4) * 5, np.uint8)
        img[: h // 4, : w // 4] = 250
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        if pts_ms is not None:
            frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
        for p in vs.encode(frame):
            out.mux(p)
    seconds = (pts_ms[-1] / 1000 + 1 / fps) if pts_ms is not None else frames / fps
    for a in tracks:
        fmt, rate, chunk = a.codec_context.format, a.codec_context.sample_rate, 1024
        for k in range(int(seconds * rate / chunk) + 1):
            t = (np.arange(chunk) + k * chunk) / rate
            samples = _samples(0.3 * np.sin(2 * np.pi * 440 * t), fmt, 1)
            af = av.AudioFrame.from_ndarray(samples, format=fmt.name, layout="mono")
            af.sample_rate, af.pts = rate, k * chunk
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    for p in vs.encode(None):
        out.mux(p)
    out.close()
    return path


def corner(rgb: np.ndarray) -> str:
    """Which quarter of the picture holds the white block: 'top-left', 'bottom-right', ..."""
    h, w = rgb.shape[:2]
    quarters = {f"{v}-{u}": rgb[r0:r0 + h // 2, c0:c0 + w // 2].mean()
                for v, r0 in (("top", 0), ("bottom", h - h // 2)) for u, c0 in (("left", 0), ("right", w - w // 2))}
    return max(quarters, key=quarters.get)


def output_frames(path: Path) -> tuple[list[np.ndarray], list[int]]:
    """Decoded frames and each frame's display rotation as a player would read it."""
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        return [f.to_ndarray(format="rgb24") for f in frames], [f.rotation for f in frames]


def audio_tracks(path: Path) -> list[tuple[str, str | None, list[bytes]]]:
    """(codec, language, packets) of every audio track, in the file's order."""
    tracks = []
    with av.open(str(path)) as c:
        for s in c.streams.audio:
            tracks.append((s.codec_context.codec.canonical_name, s.metadata.get("language"), []))
    for i in range(len(tracks)):
        with av.open(str(path)) as c:
            tracks[i][2].extend(bytes(p) for p in c.demux(c.streams.audio[i]) if p.size)
    return tracks


def decoded_samples(path: Path, track: int) -> int:
    with av.open(str(path)) as c:
        return sum(f.samples for f in c.decode(c.streams.audio[track]))


# -- phone clips: the rotation is applied, the output is upright and carries no rotation -----------------
PHONE = [  # how the clip was made -> where the block shows when the clip is played upright
    (dict(display_rotation=-90), "top-right", True),  # a phone's "rotate 90": a quarter turn clockwise
    (dict(display_rotation=90), "bottom-left", True),  # "rotate 270"
    (dict(display_rotation=180), "bottom-right", False),
    (dict(display_rotation=-90, hflip=True), "top-left", True),  # turned and mirrored (a front camera)
    (dict(hflip=True), "top-right", False),
]


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
@pytest.mark.parametrize("how, shown, quarter_turn", PHONE)
def test_probe_and_frame_rgb_turn_a_phone_clip_upright(tmp_path, suffix, how, shown, quarter_turn):
    from engine.video import VideoDecoder, frame_rgb, open_container, probe

    src = make_video(tmp_path / f"phone{suffix}", frames=3, **how)
    info = probe(src)
    assert (info.width, info.height) == ((H, W) if quarter_turn else (W, H))  # the size as displayed
    container = open_container(src)
    try:
        rgbs = [frame_rgb(f, info.orientation) for f in VideoDecoder(container, src.name).read()]
    finally:
        container.close()
    assert len(rgbs) == 3 and all(r.shape == (info.height, info.width, 3) and r.flags.c_contiguous for r in rgbs)
    assert {corner(r) for r in rgbs} == {shown}


@pytest.mark.parametrize("tag, shown", [(90, "top-right"), (270, "bottom-left"), (180, "bottom-right")])
def test_the_older_rotate_tag_is_honoured_too(tmp_path, tag, shown):
    from engine.sources import VideoFileSource

    src = make_video(tmp_path / "tagged.mkv", frames=3, rotate_tag=tag)  # Matroska keeps the tag as it is
    source = VideoFileSource(src)
    frames = list(iter(source.read, None))
    source.close()
    assert (source.info.width, source.info.height) == ((W, H) if tag == 180 else (H, W))
    assert [corner(f.image) for f in frames] == [shown] * 3


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
@pytest.mark.parametrize("degrees, shown", [(-90, "top-right"), (90, "bottom-left")])
def test_cli_render_of_a_phone_clip_is_upright_in_every_player(tiny_fast_model, tmp_path, capsys, suffix, degrees,
                                                               shown):
    """Applied, not copied: the frames are turned before stylizing and the output has no rotation,
    so players that ignore rotation metadata, and AVI, which has none, show it upright too."""
    from engine.cli import main

    src = make_video(tmp_path / "phone.mp4", frames=12, display_rotation=degrees, audio=(("aac", 44100, "eng"),))
    out = tmp_path / f"out{suffix}"
    code = main(["render", str(src), "-o", str(out), "--model", str(tiny_fast_model), "--strength", "0", "-q"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "12 frames, audio copied" in captured.out and "note:" not in captured.err
    frames, rotations = output_frames(out)
    assert len(frames) == 12 and {f.shape for f in frames} == {(W, H, 3)}  # 48 wide, 64 high
    assert set(rotations) == {0}
    assert {corner(f) for f in frames} == {shown}


def test_live_file_source_shows_a_phone_clip_upright(tmp_path):
    from engine.sources import open_source

    src = make_video(tmp_path / "phone.mov", frames=5, display_rotation=-90)
    source = open_source(str(src), live=False)
    frames = list(iter(source.read, None))
    source.close()
    assert len(frames) == 5 and {f.image.shape for f in frames} == {(W, H, 3)}
    assert {corner(f.image) for f in frames} == {"top-right"}


def test_ray_segment_of_a_phone_clip_is_upright(passthrough, tmp_path):
    """The task a Ray worker runs (called here in this process): it decodes its chunk of packets and
    turns each frame as the probe of the whole clip says, so the driver's writer (sized by that probe)
    gets upright frames of the right size."""
    from engine.farm import _render_segment, cut_chunk, package_model, plan_segments
    from engine.video import probe

    src = make_video(tmp_path / "phone.mp4", frames=24, display_rotation=-90, gop=8)
    info = probe(src)
    plan = plan_segments(src, segment_s=8 / 24, overlap=0)
    assert len(plan.segments) == 3
    package = package_model(passthrough)
    kept = []
    for seg in plan.segments:
        index, pngs = _render_segment(seg, cut_chunk(src, seg), package, passthrough.settings.to_dict(), "cpu",
                                      src.name, None, info.orientation)
        assert index == seg.index and len(pngs) == seg.frames
        kept += [cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR) for p in pngs]
    assert len(kept) == 24 and {k.shape for k in kept} == {(info.height, info.width, 3)} == {(W, H, 3)}
    assert {corner(k) for k in kept} == {"top-right"}


@pytest.fixture
def ray_cluster():
    import ray  # the [ray] extra is part of [dev]

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_render_of_a_dubbed_phone_clip_matches_the_single_machine_render(ray_cluster, tiny_fast_model, tmp_path):
    from engine.farm import render_on_ray
    from engine.setup import build_processor

    src = make_video(tmp_path / "phone.mov", frames=24, display_rotation=-90, gop=8,
                     audio=(("aac", 44100, "eng"), ("pcm_s16le", 48000, "fra")))
    processor = build_processor(StyleSettings(strength=0.0), model=tiny_fast_model, provider="cpu")
    farm = render_on_ray(src, tmp_path / "farm.mp4", processor.snapshot(), segment_s=8 / 24)
    single = render_video(src, tmp_path / "single.mp4", processor.snapshot())
    assert farm.frames == single.frames == 24 and farm.note is single.note is None
    assert farm.audio == single.audio == "1 copied, 1 transcoded"
    frames, rotations = output_frames(farm.output)
    assert {f.shape for f in frames} == {(W, H, 3)} and set(rotations) == {0}
    assert {corner(f) for f in frames} == {"top-right"}
    farm_audio, single_audio = audio_tracks(farm.output), audio_tracks(single.output)
    assert [(t[0], t[1]) for t in farm_audio] == [("aac", "eng"), ("aac", "fra")]
    assert [t[2] for t in farm_audio] == [t[2] for t in single_audio]  # both tracks, the same packets


# -- several audio tracks: each copied or transcoded by the same rules as the first ----------------------
def test_render_keeps_every_audio_track(processor, tmp_path):
    src = make_video(tmp_path / "dub.mkv", frames=24, audio=(("aac", 44100, "eng"), ("mp3", 44100, "fra")))
    for suffix in (".mp4", ".avi"):
        result = render_video(src, tmp_path / f"out{suffix}", processor)
        ins, outs = audio_tracks(src), audio_tracks(result.output)
        assert [t[0] for t in outs] == [t[0] for t in ins] == ["aac", "mp3"]
        assert result.frames == 24 and result.note is None
        assert result.audio == "copied (2 tracks)" and result.audio_tracks == ("copied", "copied")
        assert all(len(a[2]) > 10 and a[2] == b[2] for a, b in zip(ins, outs))  # bit for bit, in order
    assert [t[1] for t in audio_tracks(tmp_path / "out.mp4")] == ["eng", "fra"]  # which language is which


def test_a_second_track_the_container_cannot_copy_is_transcoded(processor, tmp_path):
    src = make_video(tmp_path / "dub.mov", frames=24, audio=(("aac", 44100, "eng"), ("pcm_s16le", 48000, "fra")))
    result = render_video(src, tmp_path / "out.mp4", processor)  # PCM in MP4: transcoded (NOT_COPIED_AUDIO)
    assert result.audio == "1 copied, 1 transcoded" and result.audio_tracks == ("copied", "transcoded")
    assert result.note is None
    ins, outs = audio_tracks(src), audio_tracks(result.output)
    assert [(t[0], t[1]) for t in ins] == [("aac", "eng"), ("pcm_s16le", "fra")]
    assert [(t[0], t[1]) for t in outs] == [("aac", "eng"), ("aac", "fra")]
    assert outs[0][2] == ins[0][2]
    assert decoded_samples(result.output, 1) > 0.9 * 48000  # the whole second of the French track


def test_a_track_at_a_rate_the_encoder_lacks_is_resampled(processor, tmp_path):
    src = make_video(tmp_path / "studio.mov", frames=12, audio=(("pcm_s24le", 192000, "eng"),))
    result = render_video(src, tmp_path / "out.mp4", processor)  # AAC goes up to 96 kHz
    assert result.audio == "transcoded" and result.note is None
    with av.open(str(result.output)) as c:
        assert c.streams.audio[0].codec_context.sample_rate == 96000
    assert decoded_samples(result.output, 0) > 0.9 * 96000 * 12 / 24


def test_a_track_in_a_codec_ffmpeg_does_not_know_is_named_in_a_note(tiny_fast_model, tmp_path, capsys):
    from engine.cli import main

    made = make_video(tmp_path / "made.mkv", frames=12, audio=(("aac", 44100, "eng"), ("flac", 44100, "fra")))
    data = made.read_bytes()
    assert data.count(b"A_FLAC") == 1
    src = tmp_path / "clip.mkv"
    src.write_bytes(data.replace(b"A_FLAC", b"A_QXYZ"))  # a Matroska codec ID FFmpeg has never heard of
    out = tmp_path / "out.mp4"
    code = main(["render", str(src), "-o", str(out), "--model", str(tiny_fast_model), "-q"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "12 frames, audio copied" in captured.out
    notes = [line for line in captured.err.splitlines() if line.startswith("note:")]
    assert notes == ["note: clip.mkv: audio track 2 (fra, unknown codec) left out: "
                     "FFmpeg cannot decode it, so it can be neither copied nor converted"]
    assert [t[:2] for t in audio_tracks(out)] == [("aac", "eng")]


# -- variable frame rate: no false "ended after" note ------------------------------------------------
SLIDES = [round(i * 1000 / 24) for i in range(12)] + [458 + 250 * k for k in range(1, 13)]  # 24 fps, then 4 fps


@pytest.mark.parametrize("suffix", [".mkv", ".avi"])
def test_a_variable_frame_rate_clip_renders_whole_without_a_note(processor, tmp_path, suffix):
    """Matroska declares no frame count (the note came from length x average rate); a variable-rate
    AVI declares one of clock ticks (3083 at 1000 per second here). AVI stores no presentation times,
    so this one is made without B-frames, whose times FFmpeg can only guess in AVI."""
    src = make_video(tmp_path / f"vfr{suffix}", frames=24, pts_ms=SLIDES, b_frames=suffix != ".avi")
    result = render_video(src, tmp_path / "out.mkv", processor)
    assert result.frames == 24 and result.note is None
    with av.open(str(src)) as a, av.open(str(result.output)) as b:
        src_times = sorted(float(f.pts * f.time_base) for f in a.decode(video=0))
        out_times = sorted(float(f.pts * f.time_base) for f in b.decode(video=0))
    assert len(out_times) == 24 and out_times == pytest.approx(src_times, abs=0.002)  # the same irregular times


def test_a_cut_variable_frame_rate_clip_still_says_how_far_it_got(processor, tmp_path, capsys):
    from engine.cli import main

    full = make_video(tmp_path / "full.mkv", frames=24, pts_ms=SLIDES)
    cut = truncate(full, tmp_path / "cut.mkv", keep=0.8)  # Matroska writes its length up front: it survives
    result = render_video(cut, tmp_path / "out.mkv", processor)
    assert 10 <= result.frames < 24
    match = re.fullmatch(r"cut\.mkv ended after (\d+) frames \((\d+\.\d) of 3\.5 s\); rendered what decoded",
                         result.note or "")
    assert match, result.note
    assert int(match.group(1)) == result.frames and float(match.group(2)) < 3.0
    model = str(processor.stylizer.info.path)
    code = main(["render", str(cut), "-o", str(tmp_path / "cli.mkv"), "--model", model, "-q"])
    assert code == 0 and f"note: {result.note}" in capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_an_avi_with_b_frames_renders_in_order(passthrough, tmp_path, suffix):
    """AVI stores no presentation times: with B-frames the decoder's guessed timestamps come out of
    order, which the muxer refused with a raw FFmpeg error. The k-th frame gets the k-th timestamp."""
    from tests.media import make_clip

    src = make_clip(tmp_path / "b.avi", frames=24, audio=False)  # libx264's defaults use B-frames
    out = tmp_path / f"out{suffix}"
    result = render_video(src, out, passthrough)
    assert result.frames == 24 and result.note is None
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    pts = [f.pts for f in frames]
    assert len(frames) == 24 and pts == sorted(set(pts))
    # each output frame is the source frame of its own index (strength 0 passes frames through): the nearest
    # source frame over the whole picture, a pattern that moves every frame. (Comparing one channel's mean
    # with its nominal value flaked: x264's chroma error on this pattern reaches 4 levels on some runs.)
    with av.open(str(src)) as c:
        source = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.float32)
    nearest = [int(np.abs(source - f.to_ndarray(format="rgb24")).mean(axis=(1, 2, 3)).argmin()) for f in frames]
    assert nearest == list(range(24)), nearest
