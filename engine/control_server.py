"""The remote-control server: aiohttp on a loopback address in its own thread and event loop.

Host and Origin checks, the token before any rate limit (failed tokens in a bucket of their own),
body, rate and time limits, ``/api/<action>`` routes for GET and POST, and a WebSocket that pushes
session events and stats and takes the same actions as messages. The actions themselves are
``engine.control.ControlAPI``; docs/control.md is the API page.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import threading
import time
from concurrent.futures import Future
from urllib.parse import urlsplit

from .control import (BODY_TIMEOUT_S, CALL_TIMEOUT_S, FAILED_BURST, FAILED_RATE_PER_S, IDLE_TIMEOUT_S, LOOPBACK_NAMES,
                      MAX_BODY, MAX_PENDING_PER_CLIENT, MAX_WS_CLIENTS, RATE_BURST, RATE_PER_S, RENEWED_CLOSE,
                      STATS_INTERVAL_S, ControlAPI, ControlError, jsonable, log, parse_json, stats_dict)
from .errors import InputError, OutputError


# -- the server ----------------------------------------------------------------------------------------
class _RateLimit:
    """A token bucket: ``rate`` per second, bursts of ``burst``; a flood gets 429s."""

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


class _ClientFaults(logging.Filter):
    """aiohttp logs a request that is not valid HTTP (a broken request line, a header over 8 KiB,
    broken chunks), or a client that hung up in the middle of its body, with a traceback; the
    connection is closed either way: the client's doing, not a fault to log."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        return not (record.exc_info and isinstance(record.exc_info[1], (HttpProcessingError, ConnectionResetError)))


def _http_log() -> logging.Logger:
    logger = logging.getLogger("stylecast.control.http")
    if not any(isinstance(f, _ClientFaults) for f in logger.filters):
        logger.addFilter(_ClientFaults())
    return logger


class _HangUp(ControlError):
    """An error after which the connection cannot be trusted (a body that stopped, a body too
    large or damaged): answered, then the connection is closed instead of reading on."""


def _host_name(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class ControlServer:
    """aiohttp on a loopback address, in a daemon thread with its own event loop.

    ``start()`` binds or raises OutputError (port in use, not a loopback host); ``stop()`` closes
    every connection. Session events reach WebSocket clients through ``publish`` (any thread).

    Every request passes, in order: the Host check (421 unless it names this server on a loopback
    name), the Origin check (403 for a web page not served from this computer), the token (401; a
    missing or wrong token counts in its own bucket, ``failed_rate``/``failed_burst``, 429 past it),
    then the bucket shared by the clients that know the token (``rate``/``burst``, 429). Setting
    ``token`` (any thread) closes the open WebSockets. ``idle_timeout``: a connection that has not
    finished a request's headers this long after opening or after its last answer is closed;
    ``body_timeout``: a body that has not fully arrived this long after its headers gets 408 and the
    connection is closed. Both are attributes, set before ``start()``."""

    def __init__(self, api: ControlAPI, port: int, token: str, host: str = "127.0.0.1",
                 stats_interval: float = STATS_INTERVAL_S, rate: float = RATE_PER_S, burst: int = RATE_BURST,
                 failed_rate: float = FAILED_RATE_PER_S, failed_burst: int = FAILED_BURST,
                 idle_timeout: float = IDLE_TIMEOUT_S, body_timeout: float = BODY_TIMEOUT_S) -> None:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise OutputError(f"the control server listens on loopback only (127.0.0.1 or ::1), not {host!r}")
        if not 0 <= int(port) <= 65535:
            raise InputError(f"port must be between 1 and 65535, got {port}")
        if not (idle_timeout > 0 and body_timeout > 0):
            raise InputError("the idle and body timeouts must be above 0 seconds")
        self._token_generation = 0  # counts renewals: a WebSocket opened with an older token is closed
        self._token = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self.token = token  # checked by the setter
        self.api, self.host, self.requested_port = api, host, int(port)
        self.stats_interval = stats_interval
        self.idle_timeout, self.body_timeout = float(idle_timeout), float(body_timeout)
        self.port: int | None = None
        self._limit = _RateLimit(rate, burst)
        self._failed = _RateLimit(failed_rate, failed_burst)
        self._thread: threading.Thread | None = None
        self._clients: set = set()
        self._pending: dict = {}  # WebSocket -> messages queued but not yet written
        self._busy: set = set()  # connections whose request is being answered (its handler runs)
        self._idle_since: dict = {}  # other connections -> loop time they started waiting for a request
        self._runner = None
        self._stopping: asyncio.Event | None = None
        self.counters = {"requests": 0, "rejected": 0, "ws_messages_dropped": 0, "timed_out": 0}
        self._listener = lambda event, value: self.publish(event, value)

    # -- token -------------------------------------------------------------------------------------------
    @property
    def token(self) -> str:
        return self._token

    @token.setter
    def token(self, value: str) -> None:
        """A new token applies to the next request; open WebSockets are closed (1008, with the
        reason) so no client keeps control with the old one."""
        if not isinstance(value, str) or len(value) < 16:
            raise InputError("the control token must be at least 16 characters")
        if value == self._token:
            return
        self._token = value
        self._token_generation += 1
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._close_sockets, *RENEWED_CLOSE)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def _close_sockets(self, code: int, reason: str) -> None:
        for ws in list(self._clients):
            asyncio.ensure_future(ws.close(code=code, message=reason.encode()))

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
        return f"http://{_host_name(self.host)}:{self.port}"

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
        message = {"type": "event", "event": event, "value": jsonable(value)}  # settings as a dict, paths as text
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
        # idle connections are closed by _watch (the same rule on every aiohttp version); the
        # unread rest of a body after an answer is awaited at most body_timeout
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0,
                                     lingering_time=self.body_timeout, logger=_http_log())
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port, reuse_address=False)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise
        port = self._runner.addresses[0][1]
        ready.set_result(port)
        tasks = [asyncio.create_task(self._push_stats()), asyncio.create_task(self._watch(self._runner.server))]
        await self._stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*(self._close_quickly(ws) for ws in list(self._clients)))
        await self._runner.cleanup()

    @staticmethod
    async def _close_quickly(ws) -> None:
        """Close one socket, giving a client that stopped reading one second: stopping the server must
        not wait on it, and the port must be free again at once."""
        try:
            await asyncio.wait_for(ws.close(code=1001, message=b"server stopping"), 1.0)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError):
            transport = getattr(getattr(ws, "_req", None), "transport", None)
            if transport is not None:
                transport.abort()

    async def _watch(self, server) -> None:
        """Close connections that hold a slot without a request: nothing sent, headers never
        finished, or idle after an answer, for idle_timeout. A request being answered is left alone
        (its body has body_timeout; a WebSocket has heartbeats)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, max(0.02, self.idle_timeout / 5)))
            now = loop.time()
            live = server.connections
            for conn in live:
                if conn in self._busy:
                    continue
                since = self._idle_since.setdefault(conn, now)
                if now - since >= self.idle_timeout and conn.transport is not None:
                    self.counters["timed_out"] += 1
                    conn.transport.close()
            for conn in set(self._idle_since).difference(live):
                del self._idle_since[conn]

    def _json_error(self, status: int, message: str, close: bool = False):
        from aiohttp import web

        response = web.json_response({"error": message, "status": status}, status=status)
        if close:
            response.force_close()
        return response

    def _allowed_hosts(self) -> set[str]:
        names = {_host_name(n) for n in (*LOOPBACK_NAMES, self.host)}
        return {f"{n}:{self.port}" for n in names} | (names if self.port == 80 else set())

    def _host_allowed(self, request) -> bool:
        """Host names this server on a loopback name: a web page that reached it through its own
        DNS name (DNS rebinding) sends its own name and is refused."""
        host = request.headers.get("Host")
        return host is not None and host.strip().lower() in self._allowed_hosts()

    def _origin_allowed(self, request) -> bool:
        """Browsers name the page behind a request in Origin: a page served from this computer,
        or a local file ("null"), may talk to the server; any other web page may not. Programs
        (OBS, curl, Stream Deck) send no Origin."""
        origin = request.headers.get("Origin")
        if origin is None or origin.strip() == "null":
            return True
        try:
            parts = urlsplit(origin.strip())
            hostname = parts.hostname
        except ValueError:
            return False
        return parts.scheme in ("http", "https") and hostname in {*LOOPBACK_NAMES, self.host}

    def _authorised(self, request) -> bool:
        header = request.headers.get("Authorization", "")
        given = (header[7:] if header.startswith("Bearer ") else None) or request.headers.get("X-StyleCast-Token") \
            or request.query.get("token") or ""
        try:  # headers that were not UTF-8 arrive with surrogate escapes: wrong, not an error
            given_bytes = given.strip().encode("utf-8", "surrogateescape")
        except UnicodeError:
            return False
        return hmac.compare_digest(given_bytes, self._token.encode())

    async def _guard(self, request, handler):
        """Every request: Host, Origin, the token (failures in their own bucket), the shared rate
        limit, then the handler; every error as JSON with one sentence."""
        self.counters["requests"] += 1
        if not self._host_allowed(request):
            self.counters["rejected"] += 1
            return self._json_error(421, f"this server answers only to {self.url} or localhost:{self.port}, "
                                         "not to the host this request named", close=True)
        if not self._origin_allowed(request):
            self.counters["rejected"] += 1
            return self._json_error(403, "requests from web pages are accepted only from this computer's own pages")
        conn = request.protocol
        self._busy.add(conn)
        try:
            if request.path == "/":
                return await handler(request)
            generation = self._token_generation
            if not self._authorised(request):
                self.counters["rejected"] += 1
                if not self._failed.allow():
                    return self._json_error(429, "too many requests with a missing or wrong token: wait a moment")
                return self._json_error(401, "missing or wrong token (see the app's Remote box or the terminal)")
            if not self._limit.allow():
                self.counters["rejected"] += 1
                return self._json_error(429, "too many requests: slow down (the limit protects the live stream)")
            request["token_generation"] = generation
            return await handler(request)
        except _HangUp as exc:
            response = self._json_error(exc.status, exc.message, close=True)
            await response.prepare(request)
            await response.write_eof()
            conn.force_close()  # after the answer is written: nothing more is read from this connection
            return response
        except ControlError as exc:
            return self._json_error(exc.status, exc.message)
        except ConnectionError:
            raise  # the client went away: nobody to answer
        except Exception as exc:  # noqa: BLE001 - aiohttp's own HTTP errors (404, 405) as JSON
            status = getattr(exc, "status", None)
            if isinstance(status, int) and 400 <= status < 500:
                text = "the request body is too large" if status == 413 else str(getattr(exc, "reason", exc))
                return self._json_error(status, text)
            log.exception("remote control: %s %s failed", request.method, request.path)
            return self._json_error(500, "StyleCast failed to answer this request (the terminal or log has the details)")
        finally:
            self._busy.discard(conn)
            self._idle_since[conn] = asyncio.get_running_loop().time()

    async def _index(self, request):
        from aiohttp import web

        return web.json_response({"app": "StyleCast", "api": "/api/state (token required)", "docs": "docs/control.md"})

    async def _args(self, request) -> dict:
        args = {k: v for k, v in request.query.items() if k != "token"}
        if request.method == "POST" and request.can_read_body:
            from aiohttp import web
            from aiohttp.http_exceptions import HttpProcessingError

            too_large = "the request body is too large (at most 16 KiB)"
            if (request.content_length or 0) > MAX_BODY:
                raise _HangUp(413, too_large)
            try:  # bounded by client_max_size and by body_timeout
                raw = await asyncio.wait_for(request.read(), self.body_timeout)
            except asyncio.TimeoutError:
                raise _HangUp(408, f"the request body did not arrive within {self.body_timeout:g} s") from None
            except web.HTTPRequestEntityTooLarge:  # a chunked body that grew past the limit
                raise _HangUp(413, too_large) from None
            except (HttpProcessingError, web.RequestPayloadError):  # damaged gzip/deflate or chunks
                raise _HangUp(400, "the body could not be decoded (its compression or chunks are damaged)") from None
            if raw.strip():
                body = parse_json(raw)
                if not isinstance(body, dict):
                    raise ControlError(400, "the body must be a JSON object")
                args.update(body)
        return args

    async def _call(self, action: str, args: dict):
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self._call_logged, action, args)
        try:
            return await asyncio.wait_for(future, CALL_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise ControlError(503, f"{action} did not finish in {CALL_TIMEOUT_S:g} s") from None

    def _call_logged(self, action: str, args: dict):
        try:
            return self.api.call(action, args)
        except ControlError:
            raise
        except Exception:  # noqa: BLE001 - a fault of StyleCast, not of the request: logged, answered 500
            log.exception("remote control: action %r failed", action)
            raise ControlError(500, f"StyleCast failed to run {action} (the terminal or log has the details)") from None

    async def _http(self, request):
        from aiohttp import web

        action = request.match_info["action"]
        if request.method not in ("GET", "POST"):
            return self._json_error(405, "use GET or POST")
        if request.method == "POST" and action in ControlAPI.READ:
            return self._json_error(405, f"{action} is read-only: use GET")
        args = await self._args(request)
        result = await self._call(action, args)
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
            if request.get("token_generation") != self._token_generation:  # renewed during the handshake
                await ws.close(code=RENEWED_CLOSE[0], message=RENEWED_CLOSE[1].encode())
                return ws
            try:
                await ws.send_json({"type": "state", "state": await self._call("state", {})})
            except ControlError as exc:
                await ws.send_json({"type": "error", "id": None, "status": exc.status, "error": exc.message})
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    answer = await self._ws_message(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    answer = {"type": "error", "id": None, "status": 400, "error": "send JSON text messages"}
                else:  # a protocol error (bad UTF-8, a message over 16 KiB): aiohttp closes the socket
                    break
                await ws.send_json(answer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(ws)
            self._pending.pop(ws, None)
        return ws

    async def _ws_message(self, text: str) -> dict:
        ident = None
        try:
            data = parse_json(text, "the message")
            if isinstance(data, dict):
                ident = data.get("id")
                if not (ident is None or isinstance(ident, (int, float)) and not isinstance(ident, bool)
                        or isinstance(ident, str) and len(ident) <= 200):
                    ident = None
                    raise ControlError(400, '"id" must be a number or a string of at most 200 characters')
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
