"""Remote control for streamers: HTTP + WebSocket on loopback (aiohttp), for OBS scripts, Stream
Deck buttons and curl. Off by default: `stylecast live --control PORT`, or the app's Remote box.

    ControlAPI     the actions, transport-free: (action, args) -> JSON-able answer, or ControlError
                   with an HTTP status. It drives a LiveSession through ``run``, which the app points
                   at its GUI thread and the terminal leaves as a direct call.
    ControlServer  aiohttp on 127.0.0.1 in its own thread and event loop: token check, body and
                   rate limits, /api/<action> routes, a WebSocket that pushes session events and
                   stats and takes the same actions as messages. docs/control.md is the API page.

The token is created on first use (``load_or_create_token``: ~/.config/stylecast/control-token,
mode 0600) and required on every request: ``Authorization: Bearer T``, ``X-StyleCast-Token: T`` or
``?token=T`` (for one-line URLs). Only loopback addresses are ever bound.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import os
import secrets
import threading
import time
from concurrent.futures import Future
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import cv2

from .atomic import write_bytes_atomic
from .errors import InputError, ModelError, OutputError, StyleCastError
from .live import LiveSession

MAX_BODY = 16 * 1024  # bytes; every action's arguments fit in far less
MAX_WS_CLIENTS = 64
RATE_PER_S, RATE_BURST = 200.0, 400  # requests and WebSocket messages, all clients together
STATS_INTERVAL_S = 0.5
MAX_PENDING_PER_CLIENT = 64  # WebSocket messages; beyond it a slow client misses messages
CALL_TIMEOUT_S = 10.0  # an action that has not run by then answers 503 (the app's GUI thread is stuck)
TOKEN_ENV = "STYLECAST_CONTROL_TOKEN"


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
def _number(args: dict, key: str, lo: float, hi: float) -> float:
    if key not in args:
        raise ControlError(400, f"missing field {key!r}")
    value = args[key]
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        number = float("nan")
    if number != number:
        raise ControlError(400, f"{key!r} must be a number, got {value!r}")
    if not lo <= number <= hi:
        raise ControlError(422, f"{key!r} must be between {lo:g} and {hi:g}, got {number:g}")
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
    raise ControlError(400, f"{key!r} must be true or false, got {value!r}")


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
    unknown = sorted(set(args) - set(allowed) - {"token", "id", "action"})
    if unknown:
        raise ControlError(400, f"unknown field {unknown[0]!r}" + (f"; expected {', '.join(allowed)}" if allowed else ""))


def _mix(value: Any) -> dict[str, float]:
    if isinstance(value, str):  # query strings: "wave:0.7,starry:0.3"
        try:
            value = {k: float(w) for k, _, w in (item.partition(":") for item in value.split(",")) if k}
        except ValueError:
            raise ControlError(400, "mix must look like wave:0.7,starry:0.3") from None
    if not isinstance(value, dict) or not value or len(value) > 32:
        raise ControlError(400, "mix must be a non-empty map of style names to weights")
    out = {}
    for k, w in value.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or w != w:
            raise ControlError(400, f"the weight of {k!r} must be a number")
        if not 0 <= w <= 1000:
            raise ControlError(422, f"the weight of {k!r} must be between 0 and 1000")
        out[str(k)] = float(w)
    return out


def stats_dict(stats) -> dict | None:
    return None if stats is None else {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(stats).items()}


# -- the actions -------------------------------------------------------------------------------------
class ControlAPI:
    """Every action a remote client can take. ``run(fn)`` runs fn where the session may be touched
    (the GUI thread in the app) and returns its result."""

    READ = ("state", "styles", "models", "stats", "snapshot")

    def __init__(self, session: LiveSession, run: Callable[[Callable[[], Any]], Any] | None = None) -> None:
        self.session = session
        self.run = run or (lambda fn: fn())
        self.actions: dict[str, Callable[[dict], Any]] = {
            "state": self._state, "styles": self._styles, "models": self._models, "stats": self._stats,
            "snapshot": self._snapshot, "settings": self._settings, "style": self._style, "mix": self._mix,
            "next": lambda a: self._step(a, 1), "prev": lambda a: self._step(a, -1),
            "strength": self._strength, "preserve-colors": self._preserve, "smoothing": self._smoothing,
            "resolution": self._resolution, "start": self._start, "stop": self._stop, "toggle": self._toggle,
            "vcam": self._vcam, "capture": self._capture, "model": self._model, "remove-style": self._remove_style,
        }

    def call(self, action: str, args: dict) -> Any:
        handler = self.actions.get(action)
        if handler is None:
            raise ControlError(404, f"unknown action {action!r}; see docs/control.md")
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
        return self.run(self.session.state)

    # read
    def _state(self, a: dict) -> dict:
        _only(a)
        return self.run(self.session.state)

    def _styles(self, a: dict) -> dict:
        _only(a)
        return self.run(lambda: {"builtin": self.session.builtin_styles(), "custom": self.session.custom_styles(),
                                 "active": dict(self.session.settings.mix)})

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
            raise ControlError(404, f"unknown style {unknown[0]!r}; GET /api/styles lists them")

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
        height = int(_number(a, "height", 0, 4320))  # 0 = the source's; StyleSettings refuses 1..15
        return self._do(lambda: self.session.update(process_height=height or None))

    def _settings(self, a: dict) -> dict:
        """Several at once: {"mix"|"style", "strength", "preserve_colors", "smoothing", "process_height"}."""
        _only(a, "mix", "style", "strength", "preserve_colors", "smoothing", "process_height")
        changes: dict[str, Any] = {}
        if "strength" in a:
            changes["strength"] = _number(a, "strength", 0.0, 1.0)
        if "smoothing" in a:
            changes["smoothing"] = _number(a, "smoothing", 0.0, 1.0)
        if "preserve_colors" in a:
            changes["preserve_colors"] = _flag(a, "preserve_colors")
        if "process_height" in a:
            height = 0 if a["process_height"] is None else int(_number(a, "process_height", 0, 4320))
            changes["process_height"] = height or None
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
        _only(a, "region", "name")
        region = a.get("region")
        if isinstance(region, str):  # query string: x,y,w,h
            region = region.split(",")
        if region is not None and (not isinstance(region, (list, tuple)) or len(region) != 4):
            raise ControlError(400, "'region' must be [x, y, width, height] as fractions of the frame")
        name = _text(a, "name", required=False)
        captured = self.run(lambda: self.session.capture_style(tuple(region) if region else None, name))
        return {"name": captured, "state": self.run(self.session.state)}

    def _remove_style(self, a: dict) -> dict:
        _only(a, "name")
        name = _text(a, "name")
        return self._do(lambda: self.session.remove_style(name))

    def _model(self, a: dict) -> dict:
        _only(a, "name")
        name = _text(a, "name")
        names = {m["name"] for m in self.run(self.session.models)}
        if name not in names:
            raise ControlError(404, f"unknown model {name!r}; GET /api/models lists them")
        return self._do(lambda: self.session.set_model_by_name(name))


# -- the server ----------------------------------------------------------------------------------------
class _RateLimit:
    """One token bucket for all clients (they are all on this machine): a flood gets 429s."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class ControlServer:
    """aiohttp on a loopback address, in a daemon thread with its own event loop.

    ``start()`` binds or raises OutputError (port in use, not a loopback host); ``stop()`` closes
    every connection. Session events reach WebSocket clients through ``publish`` (any thread)."""

    def __init__(self, api: ControlAPI, port: int, token: str, host: str = "127.0.0.1",
                 stats_interval: float = STATS_INTERVAL_S, rate: float = RATE_PER_S, burst: int = RATE_BURST) -> None:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise OutputError(f"the control server listens on loopback only (127.0.0.1 or ::1), not {host!r}")
        if not 0 <= int(port) <= 65535:
            raise InputError(f"port must be between 1 and 65535, got {port}")
        if len(token) < 16:
            raise InputError("the control token must be at least 16 characters")
        self.api, self.host, self.requested_port, self.token = api, host, int(port), token
        self.stats_interval = stats_interval
        self.port: int | None = None
        self._limit = _RateLimit(rate, burst)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._clients: set = set()
        self._pending: dict = {}  # WebSocket -> messages queued but not yet written
        self._runner = None
        self._stopping: asyncio.Event | None = None
        self.counters = {"requests": 0, "rejected": 0, "ws_messages_dropped": 0}
        self._listener = lambda event, value: self.publish(event, value)

    # -- lifecycle (any thread) -----------------------------------------------------------------------
    def start(self) -> "ControlServer":
        ready: Future = Future()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="stylecast-control", daemon=True)
        self._thread.start()
        try:
            self.port = ready.result(timeout=15)
        except OSError as exc:
            self._thread.join(5)
            raise OutputError(f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror or exc} "
                              "(is another StyleCast running? choose another port)") from None
        self.api.session.add_listener(self._listener)
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.api.session.remove_listener(self._listener)
        loop = self._loop
        if loop is not None and self._stopping is not None:
            loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)
        self._thread = None

    def publish(self, event: str, value: object) -> None:
        """Send a session event to every WebSocket client (thread-safe, never blocks)."""
        loop = self._loop
        if loop is None or loop.is_closed() or not self._clients:
            return
        if event == "settings":
            value = value.to_dict()
        message = {"type": "event", "event": event, "value": value}
        try:
            loop.call_soon_threadsafe(self._broadcast, message)
        except RuntimeError:  # the loop closed meanwhile
            pass

    # -- event loop thread ---------------------------------------------------------------------------
    def _serve(self, ready: Future) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(ready))
        except BaseException as exc:  # noqa: BLE001 - handed to start()
            if not ready.done():
                ready.set_exception(exc)
        finally:
            loop.close()

    async def _main(self, ready: Future) -> None:
        from aiohttp import web

        self._stopping = asyncio.Event()
        @web.middleware
        async def guard(request, handler):
            return await self._guard(request, handler)

        app = web.Application(client_max_size=MAX_BODY, middlewares=[guard])
        app.router.add_get("/api/ws", self._ws)
        app.router.add_route("*", "/api/{action}", self._http)
        app.router.add_get("/", self._index)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port, reuse_address=False)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise
        port = self._runner.addresses[0][1]
        ready.set_result(port)
        stats_task = asyncio.create_task(self._push_stats())
        await self._stopping.wait()
        stats_task.cancel()
        for ws in list(self._clients):
            await ws.close(code=1001, message=b"server stopping")
        await self._runner.cleanup()

    def _json_error(self, status: int, message: str):
        from aiohttp import web

        return web.json_response({"error": message, "status": status}, status=status)

    def _authorised(self, request) -> bool:
        header = request.headers.get("Authorization", "")
        given = (header[7:] if header.startswith("Bearer ") else None) or request.headers.get("X-StyleCast-Token") \
            or request.query.get("token") or ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def _guard(self, request, handler):
        """Every request: the rate limit, then the token, then the handler; errors as JSON."""
        self.counters["requests"] += 1
        if request.path == "/":
            return await handler(request)
        if not self._limit.allow():
            self.counters["rejected"] += 1
            return self._json_error(429, "too many requests: slow down (the limit protects the live stream)")
        if not self._authorised(request):
            self.counters["rejected"] += 1
            return self._json_error(401, "missing or wrong token (see the app's Remote box or the terminal)")
        try:
            return await handler(request)
        except Exception as exc:  # noqa: BLE001 - aiohttp's own HTTP errors (413, 404, 405) as JSON
            status = getattr(exc, "status", None)
            if isinstance(status, int) and 400 <= status < 600:
                text = "the request body is too large" if status == 413 else str(getattr(exc, "reason", exc))
                return self._json_error(status, text)
            raise

    async def _index(self, request):
        from aiohttp import web

        return web.json_response({"app": "StyleCast", "api": "/api/state (token required)", "docs": "docs/control.md"})

    async def _args(self, request) -> dict:
        args = {k: v for k, v in request.query.items() if k != "token"}
        if request.method == "POST" and request.can_read_body:
            raw = await request.read()  # bounded by client_max_size (413 above it)
            if raw.strip():
                try:
                    body = json.loads(raw)
                except (ValueError, UnicodeDecodeError):
                    raise ControlError(400, "the body is not valid JSON") from None
                if not isinstance(body, dict):
                    raise ControlError(400, "the body must be a JSON object")
                args.update(body)
        return args

    async def _call(self, action: str, args: dict):
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self.api.call, action, args)
        try:
            return await asyncio.wait_for(future, CALL_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise ControlError(503, f"{action} did not finish in {CALL_TIMEOUT_S:g} s") from None

    async def _http(self, request):
        from aiohttp import web

        action = request.match_info["action"]
        if request.method not in ("GET", "POST"):
            return self._json_error(405, "use GET or POST")
        if request.method == "POST" and action in ControlAPI.READ:
            return self._json_error(405, f"{action} is read-only: use GET")
        try:
            args = await self._args(request)
            result = await self._call(action, args)
        except ControlError as exc:
            return self._json_error(exc.status, exc.message)
        if isinstance(result, bytes):
            return web.Response(body=result, content_type="image/png")
        return web.json_response(result)

    async def _ws(self, request):
        from aiohttp import WSMsgType, web

        if len(self._clients) >= MAX_WS_CLIENTS:
            return self._json_error(429, f"too many WebSocket clients (at most {MAX_WS_CLIENTS})")
        ws = web.WebSocketResponse(max_msg_size=MAX_BODY, heartbeat=20.0)
        await ws.prepare(request)
        self._clients.add(ws)
        try:
            state = await self._call("state", {})
            await ws.send_json({"type": "state", "state": state})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    await ws.send_json({"type": "error", "status": 400, "error": "send JSON text messages"})
                    continue
                await ws.send_json(await self._ws_message(msg.data))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(ws)
            self._pending.pop(ws, None)
        return ws

    async def _ws_message(self, text: str) -> dict:
        try:
            data = json.loads(text)
        except ValueError:
            return {"type": "error", "status": 400, "error": "the message is not valid JSON"}
        ident = data.get("id") if isinstance(data, dict) else None
        try:
            if not isinstance(data, dict) or not isinstance(data.get("action"), str):
                raise ControlError(400, 'a message is a JSON object with an "action" (and its fields)')
            if not self._limit.allow():
                raise ControlError(429, "too many requests: slow down")
            args = {k: v for k, v in data.items() if k not in ("action", "id")}
            result = await self._call(data["action"], args)
            if isinstance(result, bytes):
                raise ControlError(400, "snapshots are served over HTTP: GET /api/snapshot")
        except ControlError as exc:
            return {"type": "error", "id": ident, "status": exc.status, "error": exc.message}
        return {"type": "result", "id": ident, "action": data["action"], "result": result}

    def _broadcast(self, message: dict) -> None:
        for ws in list(self._clients):
            if ws.closed:
                continue
            if self._pending.get(ws, 0) >= MAX_PENDING_PER_CLIENT:
                self.counters["ws_messages_dropped"] += 1  # a client that stopped reading loses messages
                continue
            self._pending[ws] = self._pending.get(ws, 0) + 1
            asyncio.ensure_future(self._send(ws, message))

    async def _send(self, ws, message: dict) -> None:
        try:
            await ws.send_json(message)
        except (ConnectionError, RuntimeError):
            self._clients.discard(ws)
        finally:
            self._pending[ws] = self._pending.get(ws, 1) - 1

    async def _push_stats(self) -> None:
        while True:
            await asyncio.sleep(self.stats_interval)
            if self._clients:
                session = self.api.session
                self._broadcast({"type": "stats", "running": session.running, "stats": stats_dict(session.stats())})
