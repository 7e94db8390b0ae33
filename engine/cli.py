"""`stylecast` command line: stylize, render, live, info, bench (and gui, gatys, translate, train).

The composition root for the terminal. Expected failures (StyleCastError, OSError) print one
line on stderr and exit with code 2, never a traceback. `gui`, `train`, `gatys` and `translate` are
dispatched through entry points (group stylecast.commands) that desktop/ and training/ register, so
the engine names no package above it and never loads Qt or torch itself.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from . import __version__
from .atomic import check_not_input, same_file
from .errors import Cancelled, InputError, OutputError, StyleCastError

EXIT_USAGE = 2


def _style_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("style")
    g.add_argument("--model", help="exported StyleCast .onnx model (default: the built-in one)")
    g.add_argument("--style", action="append", metavar="NAME[=W]",
                   help="built-in style of a fast net, repeat to mix (e.g. --style wave=0.7 --style starry=0.3)")
    g.add_argument("--style-image", action="append", metavar="PATH[=W]",
                   help="any image as the style (AdaIN model); repeat to mix")
    g.add_argument("--learned-style", action="append", metavar="FILE[=W]",
                   help="a learned style (.npz, from `stylecast learn-style`) as a style of the fast net it was "
                        "learned for; repeat to mix, also with --style. Your learned styles also work by name: --style NAME")
    g.add_argument("--strength", type=float, default=1.0, help="0 = original, 1 = fully stylized (default 1)")
    g.add_argument("--boldness", type=float, metavar="0..1",
                   help="0 = faithful (the photo's detail under the painting's colours and fine texture), 1 = bold "
                        "(the painting's brush strokes, large); fast nets with bold rows (default 0, faithful)")
    g.add_argument("--preserve-colors", action="store_true", help="keep the original colours (luminance-only transfer)")
    g.add_argument("--size", type=_size, metavar="HEIGHT",
                   help="processing height in pixels; the output keeps the input size, sharpened by it (live: 'auto', "
                        "the default, picks the largest height that keeps up with the source's frame rate)")
    g.add_argument("--plain-upscale", action="store_true",
                   help="bring a smaller processing size back to the frame's size by plain bilinear resizing "
                        "instead of guided by the frame")
    g.add_argument("--region", choices=["all", "background", "person"], default="all",
                   help="where the style goes: the whole frame (default), only the background (the person stays "
                        "as filmed, or in --person-style), or only the person (needs the person-segmentation model)")
    g.add_argument("--person-style", action="append", metavar="NAME[=W]",
                   help="with --region background: the person's own built-in style(s), repeat to mix; "
                        "with --region person: the background's")
    g.add_argument("--person-style-image", action="append", metavar="PATH[=W]",
                   help="as --person-style, a style image (the AdaIN model)")
    g.add_argument("--segmentation-model", metavar="PATH",
                   help="a person-segmentation .onnx for --region (default: the built-in one)")
    g.add_argument("--smooth", type=float, default=0.0, metavar="0..1",
                   help="temporal smoothing against flicker (video/live; 0 = off, 0.8 = strong)")
    g.add_argument("--provider", choices=["auto", "cuda", "cpu"], default="auto",
                   help="execution provider; 'cuda' fails loudly when CUDA is unavailable")


def _size(text: str) -> int | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a height in pixels or 'auto', got {text!r}") from None


def _processor(args):
    from .processor import StyleSettings
    from .formats import parse_weighted
    from .setup import boldness_note, build_processor

    live = args.func is cmd_live
    if args.size == "auto" and not live:
        raise InputError("--size auto is for live preview; a file is processed at one size (give a height, or none "
                         "for the input's own)")
    auto = live and args.size in (None, "auto")
    explicit, library, mix = _learned_styles(args)
    given = {} if args.boldness is None else {"boldness": args.boldness}  # else StyleSettings' default
    settings = StyleSettings(mix=mix, strength=args.strength, preserve_colors=args.preserve_colors,
                             process_height=None if auto else args.size, smoothing=args.smooth,
                             auto_resolution=auto, sharp_upscale=not args.plain_upscale, region=args.region,
                             person_mix=parse_weighted(args.person_style), **given)
    processor = build_processor(settings, model=args.model, style_images=parse_weighted(args.style_image),
                                provider=args.provider, person_style_images=parse_weighted(args.person_style_image),
                                segmentation=args.segmentation_model, learned=explicit, learned_library=library)
    print(f"model {processor.stylizer.choice.describe()}", file=sys.stderr)
    note = boldness_note(processor.stylizer, processor.settings) if args.boldness else None
    if note:
        print(f"note: {note}", file=sys.stderr)
    return processor


def _learned_styles(args):
    """The --learned-style files (each must run), the user's learned styles (those the mix names are used)
    and the mix: --style's names and the files' style names with their weights."""
    from .formats import parse_weighted
    from .learned import load_learned, scan_learned

    mix = parse_weighted(args.style)
    explicit = []
    for path, weight in parse_weighted(args.learned_style).items():
        style = load_learned(path)
        if style.name in mix:
            raise InputError(f"{path} holds the learned style {style.name!r}, which is already in the mix; "
                             "give each style once")
        explicit.append(style)
        mix[style.name] = weight
    library = scan_learned()[0] if args.style or args.person_style else []
    return explicit, library, mix


def _job_inputs(args, processor) -> list[Path]:
    """Files a job reads besides its sources (the model, the style images, learned styles): never an output."""
    from .formats import parse_weighted

    files = [processor.stylizer.info.path, *(Path(p) for p in parse_weighted(args.style_image)),
             *(Path(p) for p in parse_weighted(args.person_style_image)),
             *(Path(p) for p in parse_weighted(args.learned_style))]
    if processor.segmenter is not None:
        files.append(processor.segmenter.info.path)
    return files + ([Path(args.model)] if args.model else [])


def _distinct_outputs(inputs: list[Path], outputs: list[Path]) -> None:
    """Two inputs of a batch must not be written to one file (d1/x.mp4 and d2/x.mp4, a.png and a.webp)."""
    seen: dict[Path, Path] = {}
    for src, dst in zip(inputs, outputs):
        key = dst.resolve()
        if key in seen and not same_file(seen[key], src):
            raise OutputError(f"{seen[key]} and {src} would both be written to {dst}; "
                              "give them different names or output folders")
        seen.setdefault(key, src)


def _each(inputs: list[Path], many: bool, work) -> int:
    """Run ``work(src)`` for every input. A single job's failure is the command's (exit 2 with its
    message); in a batch it is reported on its own line and the others still run."""
    failures = 0
    for src in inputs:
        try:
            work(src)
        except StyleCastError as exc:
            if not many:
                raise
            failures += 1
            print(f"\nerror: {exc}", file=sys.stderr)
    return EXIT_USAGE if failures else 0


# -- stylize ---------------------------------------------------------------------------------
def cmd_stylize(args) -> int:
    from .frames import IMAGE_SUFFIXES, load_image, save_image

    inputs: list[Path] = []
    for item in args.inputs:
        p = Path(item)
        if p.is_dir():
            inputs += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            inputs.append(p)
    if not inputs:
        raise InputError("no images found in the given inputs")
    for src in inputs:
        if not src.exists():
            raise InputError(f"file not found: {src}")
    out = Path(args.output)
    many = len(inputs) > 1 or out.is_dir()
    if many and not out.is_dir():
        raise OutputError(f"with several inputs, --output must be an existing folder: {out}")
    processor = _processor(args)
    extra = _job_inputs(args, processor)

    def destination(src: Path) -> Path:
        keep = src.suffix.lower() in IMAGE_SUFFIXES - {".webp"}
        return out / f"{src.stem}_stylized{src.suffix if keep else '.png'}" if many else out

    _distinct_outputs(inputs, [destination(src) for src in inputs])

    def one(src: Path) -> None:
        dst = destination(src)
        processor.reset()  # independent images: no temporal smoothing across them
        result, _ = processor.process(load_image(src))
        save_image(dst, result, inputs=[src, *inputs, *extra])
        print(f"{src} -> {dst}")

    return _each(inputs, many, one)


# -- render ----------------------------------------------------------------------------------
def _progress_printer(name: str):
    last = [0.0]

    def show(p) -> None:
        now = time.monotonic()
        if now - last[0] < 0.25 and p.frames_done < p.frames_total:
            return
        last[0] = now
        eta = f", ETA {p.eta_s:4.0f} s" if p.eta_s is not None else ""
        bar = "#" * int(p.fraction * 30)
        print(f"\r{name}: [{bar:<30}] {p.frames_done}/{p.frames_total} frames{eta}   ", end="", file=sys.stderr, flush=True)

    return show


def cmd_render(args) -> int:
    from .render import render_video
    from .video import stylized_name

    inputs = [Path(i) for i in args.inputs]
    out = Path(args.output)
    many = len(inputs) > 1 or out.is_dir()
    if many and not out.is_dir():
        raise OutputError(f"with several clips, --output must be an existing folder: {out}")
    for src in inputs:  # check every input before spending minutes on the first
        if not src.is_file():
            raise InputError(f"file not found: {src}")
    processor = _processor(args)
    extra = _job_inputs(args, processor)
    cancel = threading.Event()
    _distinct_outputs(inputs, [stylized_name(src, out) if many else out for src in inputs])
    for src in inputs:  # no clip of the batch may be another's output, nor the model or a style image
        dst = stylized_name(src, out) if many else out
        check_not_input(dst, [*inputs, *extra])

    def one(src: Path) -> None:
        dst = stylized_name(src, out) if many else out
        show = None if args.quiet else _progress_printer(src.name)
        try:
            if args.ray is not None:
                from .farm import render_on_ray

                result = render_on_ray(src, dst, processor, address=args.ray, progress=show, cancel=cancel,
                                       segment_s=args.segment_seconds, provider=args.provider)
            else:
                result = render_video(src, dst, processor, progress=show, cancel=cancel)
        except KeyboardInterrupt:
            raise Cancelled(f"render of {src.name} cancelled; no output written") from None
        if not args.quiet:
            print(file=sys.stderr)
        print(f"{src} -> {result.output} ({result.frames} frames, audio {result.audio}, {result.seconds:.1f} s)")
        if result.note:
            print(f"note: {result.note}", file=sys.stderr)

    return _each(inputs, many, one)


# -- live ------------------------------------------------------------------------------------
def _start_control(session, port: int):
    """The remote-control server for a headless session (engine/control.py), announced on stderr."""
    from .control import ControlAPI, load_or_create_token, token_path
    from .control_server import ControlServer

    token = load_or_create_token()
    server = ControlServer(ControlAPI(session), port, token).start()
    print(f"remote control on {server.url}/api/ (token in {token_path()}):\n"
          f"  curl -H 'Authorization: Bearer {token}' {server.url}/api/state", file=sys.stderr)
    return server


def _stop_on_sigterm():
    """Let `kill PID` (a service manager, a script) end a headless session as Ctrl-C does:
    outputs finished, server closed. Returns the function that puts the old handler back."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, old)


def _refuse_style_flags_for_the_app(args) -> None:
    """Without a headless output, ``live`` opens the app, which takes only the source: style flags given there
    would be dropped without a word, so they are refused instead."""
    blank = argparse.ArgumentParser()
    _style_args(blank)
    defaults = vars(blank.parse_args([]))
    given = [f"--{k.replace('_', '-')}" for k, v in defaults.items() if getattr(args, k, v) != v]
    if given:
        raise InputError(f"stylecast live without --output, --vcam, --frames or --control opens the app, which does not "
                         f"take {', '.join(given)}: choose them in the app's Live tab, or add --output FILE or --vcam "
                         f"to run headless with them")


def cmd_live(args) -> int:
    from .live import LiveSession
    from .sinks import ImageSequenceSink, VideoFileSink
    from .sources import open_source

    headless = args.frames is not None or args.vcam or args.output or args.control is not None
    if not headless:
        _refuse_style_flags_for_the_app(args)
        return _launch_gui(["--source", args.source])
    if args.output is None and not args.vcam and args.control is None:
        raise OutputError("headless live mode needs --output (a video file or a folder), --vcam or --control")
    session = LiveSession(args.source, provider=args.provider)
    processor = _processor(args)
    session.adopt(processor)
    if args.output:  # refused before the source opens: never a stylized copy over the clip it reads
        out = Path(args.output)
        protected = [*([Path(args.source)] if Path(args.source).is_file() else []), *_job_inputs(args, processor)]
        check_not_input(out, protected)
    source = open_source(args.source, live=True, loop=args.loop)
    if args.output:
        session.outputs.append(ImageSequenceSink(out, inputs=protected) if out.is_dir()
                               else VideoFileSink(out, source.fps, protected))
    session.max_frames = args.frames
    errors: list[str] = []
    session.add_listener(lambda event, value: errors.append(value) if event == "error" else None)
    if args.vcam:
        session.set_virtual_camera(True)
    server = _start_control(session, args.control) if args.control is not None else None
    session.start(source=source)
    stats = None
    restore = _stop_on_sigterm()
    shown_size = None
    try:
        while session.running or (server is not None and not errors):  # a controlled session waits for Ctrl-C
            stats = session.stats() or stats
            if stats is not None and stats.auto_resolution and stats.process_size != shown_size and stats.process_size[1]:
                shown_size = stats.process_size
                print(f"processing at {shown_size[0]}x{shown_size[1]} (auto: holds {stats.target_fps:.0f} fps)",
                      file=sys.stderr)
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        stats = session.stats() or stats
        if server is not None:
            server.stop()
        session.shutdown()
        restore()
    if errors:
        raise StyleCastError(errors[0])
    if stats is not None:
        w, h = stats.process_size
        print(f"{stats.frames_processed} frames out, {stats.frames_dropped} dropped; {stats.output_fps:.1f} fps, "
              f"processed at {w}x{h}{' (auto)' if stats.auto_resolution else ''}, "
              f"inference {stats.inference_ms:.1f} ms, latency {stats.latency_ms:.1f} ms on {stats.provider.upper()}")
    return 0


# -- info / bench / gui / train --------------------------------------------------------------
def cmd_info(args) -> int:
    import cv2
    import numpy
    import onnxruntime
    import av

    from .modelfile import default_model, scan_models, user_models_dir
    from .sessions import available_providers
    from .sources import list_cameras

    print(f"StyleCast {__version__} (Python {sys.version.split()[0]})")
    print(f"numpy {numpy.__version__}, onnxruntime {onnxruntime.__version__}, opencv {cv2.__version__}, PyAV {av.__version__}")
    print(f"providers: {', '.join(available_providers())}")
    cams = list_cameras()
    print(f"cameras: {', '.join(map(str, cams)) if cams else 'none found'}")
    models, broken = scan_models()
    defaults = {d.path for d in (default_model("fast"), default_model("adain"), default_model("segmentation"))
                if d is not None}
    print(f"models ({len(models)}; user folder {user_models_dir()}):")
    for m in models:
        styles = ", ".join(m.style_names) if m.style_names else "any style image"
        if m.family == "segmentation":
            styles = f"finds the person for --region, at {m.metadata.get('input_size', '?')}"
        tags = ", ".join([m.family, m.metadata.get("precision", "fp32")] + (["default here"] if m.path in defaults else []))
        print(f"  {m.name} [{tags}] {m.path} - {styles}")
    if not models:
        print("  none installed")
    if broken:  # files that break the model contract: never loaded, never a default
        print(f"broken model files ({len(broken)}; not used):")
        for b in broken:
            print(f"  {b.name} [broken] {b.path} - {b.reason}")
    _info_learned(models)
    return 0


def _info_learned(models) -> None:
    """The user's learned styles, each with the nets it runs on (by code_id)."""
    from .learned import learned_dir, scan_learned

    styles, broken = scan_learned()
    print(f"learned styles ({len(styles)}; folder {learned_dir()}):")
    for st in styles:
        nets = [m.name for m in models if m.family == "fast" and m.metadata.get("code_id") == st.code_id]
        where = f"runs on {', '.join(nets)}" if nets else "learned for other weights: learn it again"
        print(f"  {st.name} - from {st.meta.get('painting', '?')}, {st.meta.get('seconds', 0) / 60:.0f} min; {where}")
    for path, why in broken:
        print(f"  {path.name} [broken] - {why}")


def cmd_bench(args) -> int:
    from .bench import run_bench

    run_bench(args)
    return 0


PLUGIN_GROUP = "stylecast.commands"  # pyproject.toml: the app and the trainers register here


def _plugin(name: str, missing: str):
    """The `main` that another package registered for ``name`` (entry point group stylecast.commands).

    The engine sits at the bottom of the house: it names no upper package. The desktop app and the
    trainers register their entry points in pyproject.toml, and the terminal finds them here."""
    from importlib.metadata import entry_points

    found = list(entry_points(group=PLUGIN_GROUP, name=name))
    if not found:
        raise StyleCastError(f"{missing} (no '{name}' command is installed; reinstall with pip install -e .)")
    try:
        return found[0].load()
    except ImportError as exc:
        raise StyleCastError(f"{missing} ({exc})") from None


def _launch_gui(argv: list[str]) -> int:
    return _plugin("gui", "the desktop app is not available; install PySide6")(argv)


def cmd_gui(args) -> int:
    argv = [] if args.source is None else ["--source", args.source]
    argv += ["--start"] if args.start else []
    return _launch_gui(argv + ([] if args.control is None else ["--control", str(args.control)]))


def _run_training_cli(argv: list[str], what: str) -> int:
    return _plugin("train", f'{what} needs PyTorch: pip install "stylecast[train]"')(argv)


def cmd_train(args) -> int:
    return _run_training_cli(args.rest, "training")


def cmd_learn_style(args) -> int:
    return _plugin("learn-style", 'learning a style needs PyTorch: pip install "stylecast[train]"')(args.rest)


def cmd_gatys(args) -> int:
    return _run_training_cli(["gatys", *args.rest], "Gatys")


def cmd_translate(args) -> int:
    return _run_training_cli(["translate", *args.rest], "U-GAT-IT/CycleGAN translation")


def _add_stylize(sub) -> None:
    p = sub.add_parser("stylize", help="stylize images or folders of images")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("-o", "--output", required=True, help="output image (one input) or existing folder")
    _style_args(p)
    p.set_defaults(func=cmd_stylize)


def _add_render(sub) -> None:
    p = sub.add_parser("render", help="render video clips (same size, fps and audio)")
    p.add_argument("inputs", nargs="+", help="video files")
    p.add_argument("-o", "--output", required=True, help="output video (one input) or existing folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="render on Ray (pip install \"stylecast[ray]\"): segments of each clip run as tasks; "
                        "no ADDRESS = a local Ray cluster on this machine, else ray://host:10001 or auto")
    p.add_argument("--segment-seconds", type=float, default=4.0, metavar="S",
                   help="with --ray: seconds of video per task (cut at keyframes; default 4)")
    _style_args(p)
    p.set_defaults(func=cmd_render)


def _add_live(sub) -> None:
    p = sub.add_parser("live", help="live stylization: a window, a virtual camera, or N frames headless")
    p.add_argument("--source", default="camera:0", help="camera:N, synthetic, or a video/image file (default camera:0)")
    p.add_argument("--loop", action="store_true", help="loop a video file source")
    p.add_argument("--frames", type=int, help="headless: stop after N output frames")
    p.add_argument("-o", "--output", help="headless: write to a video file or an existing folder of PNGs")
    p.add_argument("--vcam", action="store_true", help="send the output to a virtual camera (pyvirtualcam)")
    p.add_argument("--control", type=int, metavar="PORT",
                   help="headless, remote-controlled: HTTP+WebSocket API on 127.0.0.1:PORT (docs/control.md); Ctrl-C stops")
    _style_args(p)
    p.set_defaults(func=cmd_live)


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="model-only and end-to-end fps per model, resolution and provider")
    p.add_argument("--model", action="append", help="model file (repeat; default: all installed)")
    p.add_argument("--sizes", default="256x256,640x360,1280x720", help="comma-separated WxH list")
    p.add_argument("--seconds", type=float, default=3.0, help="measuring time per case")
    p.add_argument("--provider", choices=["auto", "cuda", "cpu"], default="auto")
    p.add_argument("--markdown", action="store_true", help="print a markdown table")
    p.set_defaults(func=cmd_bench)


def _add_gui(sub) -> None:
    p = sub.add_parser("gui", help="open the desktop app (the default with no command)")
    p.add_argument("--source", help="start with this source")
    p.add_argument("--start", action="store_true", help="start the preview at once (a streamer's launcher)")
    p.add_argument("--control", type=int, metavar="PORT", help="turn on remote control on 127.0.0.1:PORT (docs/control.md)")
    p.set_defaults(func=cmd_gui)


def _add_passthrough(sub, name: str, help_text: str, func) -> None:
    """A command whose own flags are parsed by its entry point: everything after its name is handed on."""
    p = sub.add_parser(name, help=help_text, add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylecast", description="Neural style transfer for images, video and live cameras.")
    parser.add_argument("--version", action="version", version=f"StyleCast {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command")
    _add_stylize(sub)
    _add_render(sub)
    _add_live(sub)
    sub.add_parser("info", help="versions, providers, cameras and models").set_defaults(func=cmd_info)
    _add_bench(sub)
    _add_gui(sub)
    _add_passthrough(sub, "gatys", "slow, high-quality Gatys optimisation (PyTorch): --content --style --out ...", cmd_gatys)
    _add_passthrough(sub, "translate",
                     "U-GAT-IT/CycleGAN image translation (PyTorch): --checkpoint --input --output [--face]", cmd_translate)
    _add_passthrough(sub, "train", "train models (python -m training ...)", cmd_train)
    _add_passthrough(sub, "learn-style", "learn a painting as a live style (PyTorch, minutes on a CPU): PAINTING "
                     "[--name N] [--minutes M]", cmd_learn_style)
    return parser


PASSTHROUGH = {"gatys": cmd_gatys, "translate": cmd_translate, "train": cmd_train, "learn-style": cmd_learn_style}  # their flags belong to python -m training


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PASSTHROUGH:
        try:
            return PASSTHROUGH[argv[0]](argparse.Namespace(rest=argv[1:]))
        except StyleCastError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["gui"])
    try:
        return args.func(args)
    except StyleCastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if args.debug:
            raise
        return EXIT_USAGE
    except OSError as exc:  # disk full, permissions...
        print(f"error: {exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}", file=sys.stderr)
        if args.debug:
            raise
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
