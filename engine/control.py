"""Remote control for streamers: HTTP + WebSocket on loopback (aiohttp), for OBS scripts, Stream
Deck buttons and curl. Off by default: `stylecast live --control PORT`, or the app's Remote box.

    ControlAPI     the actions, transport-free: (action, args) -> JSON-able answer, or ControlError
                   with an HTTP status. It drives a LiveSession through ``run``, which the app points
                   at its GUI thread and the terminal leaves as a direct call.
    ControlServer  (engine/control_server.py) aiohttp on 127.0.0.1 in its own thread and event loop:
                   Host and Origin checks, the token (before any rate limit), body, rate and time
                   limits, /api/<action> routes and a WebSocket. docs/control.md is the API page.

The token is created on first use (``load_or_create_token``: ~/.config/stylecast/control-token,
mode 0600) and required on every request: ``Authorization: Bearer T``, ``X-StyleCast-Token: T`` or
``?token=T`` (for one-line URLs). Only loopback addresses are ever bound, and only requests naming
a loopback host (``Host: 127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT``) are answered, so a web
page cannot reach the server through a DNS name that points at this computer.

Whatever a client sends, the answer is JSON with one sentence and a 4xx status (a 500 only for a
fault of StyleCast itself): wrong tokens are counted in their own bucket and never use up the
requests of clients that know the token; connections that send nothing, or stop half-way through a
request, are closed after ``idle_timeout`` / ``body_timeout``.
"""
from __future__ import annotations

import json
import logging
import math
import os
import secrets
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import cv2

from .atomic import write_bytes_atomic
from .errors import InputError, ModelError, OutputError, StyleCastError
from .formats import IMAGE_SUFFIXES
from .live import LiveSession
from .setup import boldness_note

MAX_BODY = 16 * 1024  # bytes; every action's arguments fit in far less
MAX_JSON_DEPTH = 4  # nested objects/arrays in a body or message; the deepest action needs 2
MAX_WS_CLIENTS = 64
RATE_PER_S, RATE_BURST = 200.0, 400  # requests and WebSocket messages with the right token, all clients together
FAILED_RATE_PER_S, FAILED_BURST = 5.0, 50  # requests with a missing or wrong token: a bucket of their own
IDLE_TIMEOUT_S = 10.0  # a connection must finish a request's headers this long after opening or its last answer
BODY_TIMEOUT_S = 10.0  # and send the body this long after the headers
STATS_INTERVAL_S = 0.5
MAX_PENDING_PER_CLIENT = 64  # WebSocket messages; beyond it a slow client misses messages
MAX_LEARNED_NAME = 80  # characters of a learned style's name (engine/learned.py)
LEARN_MINUTES = (0.5, 24 * 60.0)  # how long a painting may be learned for, when the client says
CALL_TIMEOUT_S = 10.0  # an action that has not run by then answers 503 (the app's GUI thread is stuck)
TOKEN_ENV = "STYLECAST_CONTROL_TOKEN"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
RENEWED_CLOSE = (1008, "the token was renewed: reconnect with the new token")  # WebSocket close code, reason

log = logging.getLogger("stylecast.control")


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


# -- token ------------------------------------------------------------------------------------------
def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "stylecast"


def token_path() -> Path:
    return config_dir() / "control-token"


def load_or_create_token(path: Path | None = None, renew: bool = False) -> str:
    """The control token: $STYLECAST_CONTROL_TOKEN, else the saved one, else a new one saved (0600)."""
    if os.environ.get(TOKEN_ENV) and not renew:
        return os.environ[TOKEN_ENV]
    path = path or token_path()
    if path.is_file() and not renew:
        token = path.read_text().strip()
        if len(token) >= 16:
            return token
    token = secrets.token_urlsafe(24)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        old = os.umask(0o077)
        try:
            write_bytes_atomic(path, token.encode() + b"\n")
        finally:
            os.umask(old)
        path.chmod(0o600)
    except OSError as exc:
        raise OutputError(f"cannot save the control token in {path}: {exc.strerror or exc}") from None
    return token


# -- argument parsing (JSON bodies and query strings alike) -----------------------------------------
def _brief(value: Any, limit: int = 40) -> str:
    """A client's value as it appears in an error sentence: its repr, cut to ``limit`` characters."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # ints past Python's digit limit, absurd nesting
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit - 3] + "..."


class _NotJSONNumber(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJSONNumber(name)


def _too_deep(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def parse_json(raw: bytes | str, what: str = "the body") -> Any:
    """A request body or WebSocket message as JSON, or ControlError(400) saying what is wrong with it:
    not JSON (or not UTF-8), NaN/Infinity (not JSON numbers), nested deeper than MAX_JSON_DEPTH."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except _NotJSONNumber as exc:
        raise ControlError(400, f"the JSON holds {exc}, which is not a number in JSON") from None
    except RecursionError:
        raise ControlError(400, f"the JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    except ValueError:  # also UnicodeDecodeError, and integers of more than 4,300 digits
        raise ControlError(400, f"{what} is not valid JSON (UTF-8 text)") from None
    if isinstance(value, (dict, list)) and _too_deep(value, MAX_JSON_DEPTH):
        raise ControlError(400, f"the JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    return value


def _to_float(value: Any) -> float | None:
    """A JSON number or a query-string number as a float (inf when too large); None if not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    if isinstance(value, str) and len(value) > 64:
        return None
    try:
        return float(value)
    except OverflowError:  # an integer of hundreds of digits
        return math.inf if value > 0 else -math.inf
    except ValueError:
        return None


def _number(args: dict, key: str, lo: float, hi: float) -> float:
    if key not in args:
        raise ControlError(400, f"missing field {key!r}")
    value = args[key]
    number = _to_float(value)
    if number is None or number != number:
        raise ControlError(400, f"{key!r} must be a number, got {_brief(value)}")
    if not lo <= number <= hi:
        raise ControlError(422, f"{key!r} must be between {lo:g} and {hi:g}, got {_brief(value)}")
    return number


def _flag(args: dict, key: str) -> bool:
    if key not in args:
        raise ControlError(400, f"missing field {key!r}")
    value = args[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "on", "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("0", "false", "off", "no"):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ControlError(400, f"{key!r} must be true or false, got {_brief(value)}")


def _text(args: dict, key: str, required: bool = True) -> str | None:
    value = args.get(key)
    if value is None:
        if required:
            raise ControlError(400, f"missing field {key!r}")
        return None
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ControlError(400, f"{key!r} must be a non-empty string of at most 200 characters")
    return value


def _only(args: dict, *allowed: str) -> None:
    unknown = sorted(set(args) - set(allowed) - {"token", "id", "action"}, key=str)
    if unknown:
        raise ControlError(400, f"unknown field {_brief(unknown[0])}" + (f"; expected {', '.join(allowed)}" if allowed else ""))


def _mix(value: Any) -> dict[str, float]:
    if isinstance(value, str):  # query strings: "wave:0.7,starry:0.3"
        pairs = [item.partition(":") for item in value.split(",")]
        value = {k: _to_float(w) for k, _, w in pairs if k}
        if any(w is None for w in value.values()):
            raise ControlError(400, "mix must look like wave:0.7,starry:0.3")
    if not isinstance(value, dict) or not value or len(value) > 32:
        raise ControlError(400, "mix must be a non-empty map of style names to weights")
    out = {}
    for k, w in value.items():
        if len(k) > 200:
            raise ControlError(400, "a style name has at most 200 characters")
        weight = None if isinstance(w, str) else _to_float(w)
        if weight is None or weight != weight:
            raise ControlError(400, f"the weight of {_brief(k)} must be a number")
        if not 0 <= weight <= 1000:
            raise ControlError(422, f"the weight of {_brief(k)} must be between 0 and 1000")
        out[k] = weight
    return out


def _region(value: Any) -> tuple[float, float, float, float] | None:
    """x, y, w, h as fractions of the frame (a list, or "x,y,w,h" in a query string); the session
    checks that it lies inside the frame."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    numbers = [_to_float(v) for v in value] if isinstance(value, (list, tuple)) and len(value) == 4 else [None]
    if any(v is None or v != v for v in numbers):
        raise ControlError(400, "'region' must be [x, y, width, height] as fractions of the frame")
    return tuple(numbers)


def image_file(value: str) -> Path:
    """A painting given as a path: an existing image file named by its full path, or ControlError with why not
    (404 for a bare word that names no painting, or a file that is not there)."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        if len(path.parts) == 1 and path.suffix.lower() not in IMAGE_SUFFIXES:
            raise ControlError(404, f"unknown painting {_brief(value)}; give an image file's full path or a painting "
                                    "GET /api/learning lists")
        raise ControlError(400, f"'painting' must be a full path (the server has no folder of yours), got {_brief(value)}")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ControlError(400, f"{_brief(path.name)} is not an image file ({', '.join(sorted(IMAGE_SUFFIXES))})")
    try:
        regular = path.is_file()
        exists = regular or path.exists()
    except (OSError, ValueError):  # no permission, a NUL byte in the name
        raise ControlError(400, f"cannot read {_brief(value)}") from None
    if not regular:
        raise ControlError(400 if exists else 404, f"{_brief(value)} is not an image file" if exists
                           else f"no such file: {_brief(value)}")
    return path


def jsonable(value: Any) -> Any:
    """A session's answer or event value as JSON can carry it: paths as text, tuples as lists, NaN as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "to_dict"):  # StyleSettings
        return jsonable(value.to_dict())
    if hasattr(value, "item") and getattr(value, "size", 0) == 1:  # a NumPy number
        return jsonable(value.item())
    return str(value)


def stats_dict(stats) -> dict | None:
    return None if stats is None else {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(stats).items()}


def _region_change(a: dict) -> dict:
    if "region" not in a:
        raise ControlError(400, "missing field 'region'")
    region = a["region"]
    if not isinstance(region, str) or region.strip().lower() not in ("all", "background", "person"):
        raise ControlError(422, f"'region' must be all, background or person, got {_brief(region)}")
    changes: dict[str, Any] = {"region": region.strip().lower()}
    if "person_mix" in a:
        changes["person_mix"] = {} if a["person_mix"] in (None, {}, "") else _mix(a["person_mix"])
    return changes


def _resolution_change(a: dict, key: str) -> dict:
    """"auto" (hold the source's frame rate), 0 or null (the source's size), or a height in pixels."""
    if key not in a:
        raise ControlError(400, f"missing field {key!r}")
    if isinstance(a[key], str) and a[key].strip().lower() == "auto":
        return {"auto_resolution": True}
    height = 0 if a[key] is None else int(_number(a, key, 0, 4320))  # StyleSettings refuses 1..15
    return {"process_height": height or None, "auto_resolution": False}


# -- the actions -------------------------------------------------------------------------------------
class ControlAPI:
    """Every action a remote client can take. ``run(fn)`` runs fn where the session may be touched
    (the GUI thread in the app) and returns its result."""

    READ = ("state", "styles", "models", "stats", "snapshot", "learning")

    def __init__(self, session: LiveSession, run: Callable[[Callable[[], Any]], Any] | None = None) -> None:
        self.session = session
        self.run = run or (lambda fn: fn())
        self.actions: dict[str, Callable[[dict], Any]] = {
            "state": self._state, "styles": self._styles, "models": self._models, "stats": self._stats,
            "snapshot": self._snapshot, "settings": self._settings, "style": self._style, "mix": self._mix,
            "next": lambda a: self._step(a, 1), "prev": lambda a: self._step(a, -1),
            "strength": self._strength, "preserve-colors": self._preserve, "smoothing": self._smoothing,
            "resolution": self._resolution, "region": self._region, "start": self._start, "stop": self._stop, "toggle": self._toggle,
            "vcam": self._vcam, "capture": self._capture, "model": self._model, "remove-style": self._remove_style,
            "boldness": self._boldness, "learn-style": self._learn_style, "learning": self._learning,
            "cancel-learning": self._cancel_learning, "remove-learned": self._remove_learned,
        }

    def call(self, action: str, args: dict) -> Any:
        handler = self.actions.get(action) or self.actions.get(str(action).replace("_", "-"))  # learn_style too
        if handler is None:
            raise ControlError(404, f"unknown action {_brief(action)}; see docs/control.md")
        if not isinstance(args, dict):
            raise ControlError(400, "the body must be a JSON object")
        try:
            return handler(args)
        except ControlError:
            raise
        except ModelError as exc:
            raise ControlError(409, str(exc)) from None
        except InputError as exc:
            raise ControlError(422, str(exc)) from None
        except StyleCastError as exc:
            raise ControlError(409, str(exc)) from None

    def _do(self, fn: Callable[[], Any]) -> dict:
        self.run(fn)
        return jsonable(self.run(self.session.state))

    # read
    def _state(self, a: dict) -> dict:
        _only(a)
        return jsonable(self.run(self.session.state))

    def _styles(self, a: dict) -> dict:
        _only(a)
        return self.run(lambda: {"builtin": self.session.builtin_styles(), "custom": self.session.custom_styles(),
                                 "learned": self.session.learned_styles(), "active": dict(self.session.settings.mix)})

    def _models(self, a: dict) -> dict:
        _only(a)
        return {"models": self.run(self.session.models)}

    def _stats(self, a: dict) -> dict:
        _only(a)
        return {"running": self.session.running, "stats": stats_dict(self.session.stats())}

    def _snapshot(self, a: dict) -> bytes:
        _only(a)
        newest = self.session.newest()
        if newest is None:
            raise ControlError(409, "no frame yet: start the preview first")
        ok, buf = cv2.imencode(".png", cv2.cvtColor(newest[1], cv2.COLOR_RGB2BGR))
        if not ok:
            raise ControlError(500, "could not encode the frame")
        return buf.tobytes()

    # style
    def _check_styles(self, names) -> None:
        known = set(self.session.builtin_styles()) | set(self.session.custom_styles())
        unknown = sorted(set(names) - known)
        if unknown:
            raise ControlError(404, f"unknown style {_brief(unknown[0])}; GET /api/styles lists them")

    def _style(self, a: dict) -> dict:
        _only(a, "name")
        name = _text(a, "name")
        self._check_styles([name])
        return self._do(lambda: self.session.set_mix({name: 1.0}))

    def _mix(self, a: dict) -> dict:
        _only(a, "mix")
        mix = _mix(a.get("mix"))
        self._check_styles(mix)
        return self._do(lambda: self.session.set_mix(mix))

    def _step(self, a: dict, delta: int) -> dict:
        _only(a)
        return self._do(lambda: self.session.step_style(delta))

    def _strength(self, a: dict) -> dict:
        _only(a, "value")
        value = _number(a, "value", 0.0, 1.0)
        return self._do(lambda: self.session.update(strength=value))

    def _boldness(self, a: dict) -> dict:
        """{"value": 0..1}, or {"step": -1..1} added to the current boldness (a hotkey's bolder/fainter).
        The answer is the state, with a ``note`` when the running model has no bold rows."""
        _only(a, "value", "step")
        if ("value" in a) == ("step" in a):
            raise ControlError(400, "give either 'value' (0..1) or 'step' (-1..1)")
        if "value" in a:
            value = _number(a, "value", 0.0, 1.0)
            target = lambda current: value  # noqa: E731
        else:
            step = _number(a, "step", -1.0, 1.0)
            target = lambda current: min(1.0, max(0.0, round(current + step, 6)))  # noqa: E731
        state = self._do(lambda: self.session.update(boldness=target(self.session.settings.boldness)))
        note = self.run(lambda: boldness_note(self.session.processor.stylizer, self.session.settings))
        return {**state, "note": note} if note else state

    def _preserve(self, a: dict) -> dict:
        _only(a, "on")
        on = _flag(a, "on")
        return self._do(lambda: self.session.update(preserve_colors=on))

    def _smoothing(self, a: dict) -> dict:
        _only(a, "value")
        value = _number(a, "value", 0.0, 1.0)
        return self._do(lambda: self.session.update(smoothing=value))

    def _resolution(self, a: dict) -> dict:
        _only(a, "height")
        return self._do(lambda: self.session.update(**_resolution_change(a, "height")))

    def _region(self, a: dict) -> dict:
        """{"region": "all"|"background"|"person", "person_mix": {...} (optional: the kept side's styles)}."""
        _only(a, "region", "person_mix")
        changes = _region_change(a)
        if changes.get("person_mix"):
            self._check_styles(changes["person_mix"])
        return self._do(lambda: self.session.update(**changes))

    def _settings(self, a: dict) -> dict:
        """Several at once: {"mix"|"style", "strength", "boldness", "preserve_colors", "smoothing", "process_height"}."""
        _only(a, "mix", "style", "strength", "boldness", "preserve_colors", "smoothing", "process_height")
        changes: dict[str, Any] = {}
        for key in ("strength", "boldness"):
            if key in a:
                changes[key] = _number(a, key, 0.0, 1.0)
        if "smoothing" in a:
            changes["smoothing"] = _number(a, "smoothing", 0.0, 1.0)
        if "preserve_colors" in a:
            changes["preserve_colors"] = _flag(a, "preserve_colors")
        if "process_height" in a:
            changes.update(_resolution_change(a, "process_height"))
        mix = None
        if "mix" in a and "style" in a:
            raise ControlError(400, "give either 'mix' or 'style', not both")
        if "mix" in a:
            mix = _mix(a["mix"])
        elif "style" in a:
            mix = {_text(a, "style"): 1.0}
        if mix is not None:
            self._check_styles(mix)

        def apply() -> None:
            if mix is not None:
                self.session.set_mix(mix)
            if changes:
                self.session.update(**changes)

        return self._do(apply)

    # pipeline and outputs
    def _start(self, a: dict) -> dict:
        _only(a)
        return self._do(self.session.start)

    def _stop(self, a: dict) -> dict:
        _only(a)
        return self._do(self.session.stop)

    def _toggle(self, a: dict) -> dict:
        _only(a)
        return self._do(lambda: self.session.stop() if self.session.running else self.session.start())

    def _vcam(self, a: dict) -> dict:
        _only(a, "on")
        on = _flag(a, "on")
        return self._do(lambda: self.session.set_virtual_camera(on))

    def _capture(self, a: dict) -> dict:
        """The answer's ``name`` is the one stored: a requested name keeps letters, digits and
        ``_.-``, never repeats one of the user's styles (``-2``...) and never takes a built-in
        style's name (``my-``); ``note`` says so when the name differs from the one asked for."""
        _only(a, "region", "name")
        region = _region(a.get("region"))
        name = _text(a, "name", required=False)
        captured = self.run(lambda: self.session.capture_style(region, name))
        answer = {"name": captured, "state": self.run(self.session.state)}
        if name is not None and captured != name:
            answer["note"] = (f"stored as {captured!r}: names keep letters, digits and _.- only and never repeat "
                              "a built-in style or one of your styles")
        return answer

    def _remove_style(self, a: dict) -> dict:
        _only(a, "name")
        name = _text(a, "name")
        return self._do(lambda: self.session.remove_style(name))

    def _model(self, a: dict) -> dict:
        _only(a, "name")
        name = _text(a, "name")
        names = {m["name"] for m in self.run(self.session.models)}
        if name not in names:
            raise ControlError(404, f"unknown model {_brief(name)}; GET /api/models lists them")
        return self._do(lambda: self.session.set_model_by_name(name))

    # learned styles: a painting learned as new rows of the fast net, in the background
    def _learn_style(self, a: dict) -> dict:
        """{"painting": a painting's name (``learning`` lists them) or an image file's full path, "name"
        (optional), "minutes" (optional)}: starts learning; answers {"name", "learning"}."""
        _only(a, "painting", "name", "minutes")
        painting = self._painting(a)
        name = _text(a, "name", required=False)
        if name is not None and len(name) > MAX_LEARNED_NAME:
            raise ControlError(400, f"'name' has at most {MAX_LEARNED_NAME} characters")
        minutes = None if a.get("minutes") is None else _number(a, "minutes", *LEARN_MINUTES)
        busy = self.run(self.session.learning)
        if busy and busy.get("state") in ("running", "cancelling"):
            raise ControlError(409, f"already learning {_brief(busy.get('name'))}: wait for it or cancel it "
                                    "(cancel-learning)")
        started = self.run(lambda: self.session.learn_style(painting, name=name, minutes=minutes))
        return {"name": started, "learning": jsonable(self.run(self.session.learning))}

    def _painting(self, a: dict) -> Path:
        if "painting" not in a:
            raise ControlError(400, "missing field 'painting'")
        value = a["painting"]
        if not isinstance(value, str) or not value.strip() or len(value) > 4096:
            raise ControlError(400, "'painting' must be a painting's name or an image file's full path")
        known = self.run(self.session.learnable_paintings)
        if value in known:
            return Path(known[value])
        return image_file(value)

    def _learning(self, a: dict) -> dict:
        """The learning job (or null), the learned styles and the paintings ``learn-style`` takes by name."""
        _only(a)
        return jsonable(self.run(lambda: {"learning": self.session.learning(), "learned": self.session.learned_styles(),
                                          "paintings": sorted(self.session.learnable_paintings())}))

    def _cancel_learning(self, a: dict) -> dict:
        """Stop learning after the current step (learning the same painting again resumes it)."""
        _only(a)
        now = self.run(self.session.learning)
        if not now or now.get("state") not in ("running", "cancelling"):
            raise ControlError(409, "no style is being learned")
        self.run(self.session.cancel_learning)
        return {"learning": jsonable(self.run(self.session.learning))}

    def _remove_learned(self, a: dict) -> dict:
        _only(a, "name")
        name = _text(a, "name")
        if name not in self.run(self.session.learned_styles):
            raise ControlError(404, f"unknown learned style {_brief(name)}; GET /api/learning lists them")
        return self._do(lambda: self.session.remove_learned(name))
