"""Load on the remote-control server while frames flow: N HTTP requests over a few connections and
M WebSocket clients, against a live session; reports the pipeline's fps and longest gap between
output frames, request throughput, status counts, and memory before and after.

    python -m bench.control_load [--requests 1000] [--ws 20] [--model PATH] [--size 270] [--seconds-idle 5]

tests/test_control.py drives the same ``run_load`` with the tiny test models. Results go to
docs/benchmarks.md ("Remote control under load") with command, machine and date.
"""
from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
import time

import aiohttp


async def run_load(url: str, token: str, requests: int, ws_clients: int, concurrency: int = 8,
                   styles: tuple[str, str] = ("ink", "fire")) -> dict:
    """Fire ``requests`` calls (strength, style, stats in turn) over ``concurrency`` connections while
    ``ws_clients`` sockets listen. Returns status counts, messages per socket and the wall time."""
    counts: dict[int, int] = {}
    received = [0] * ws_clients
    stop = asyncio.Event()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        async def listen(i: int) -> None:
            async with s.ws_connect(f"{url}/api/ws") as ws:
                while not stop.is_set():
                    try:
                        msg = await asyncio.wait_for(ws.receive(), 0.5)
                    except asyncio.TimeoutError:
                        continue
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        raise ConnectionError(f"WebSocket {i} closed by the server: {msg.type}")
                    received[i] += 1

        async def fire(worker: int) -> None:
            for k in range(worker, requests, concurrency):
                if k % 3 == 0:
                    r = await s.post(f"{url}/api/strength", json={"value": (k % 10) / 10})
                elif k % 3 == 1:
                    r = await s.post(f"{url}/api/style", json={"name": styles[k % 2]})
                else:
                    r = await s.get(f"{url}/api/stats")
                await r.read()
                counts[r.status] = counts.get(r.status, 0) + 1

        listeners = [asyncio.create_task(listen(i)) for i in range(ws_clients)]
        await asyncio.sleep(0.5)
        t0 = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(fire(w) for w in range(concurrency))), 300)
        seconds = time.perf_counter() - t0
        await asyncio.sleep(1.0)  # the last events and one stats push arrive
        stop.set()
        await asyncio.wait_for(asyncio.gather(*listeners), 10)
    return {"counts": counts, "received": received, "seconds": seconds}


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class FrameClock:
    """A session frame listener that records the gaps between output frames."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.last: float | None = None

    def __call__(self, image, frame) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.gaps.append(now - self.last)
        self.last = now

    def reset(self) -> None:
        self.gaps.clear()

    def fps(self) -> float:
        return len(self.gaps) / sum(self.gaps) if self.gaps else 0.0


def main() -> None:
    from engine.control import ControlAPI
    from engine.control_server import ControlServer
    from engine.live import LiveSession
    from engine.userstyles import StyleLibrary

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--ws", type=int, default=20)
    p.add_argument("--model", help="fast net (default: the built-in CPU default)")
    p.add_argument("--size", type=int, default=270, help="processing height")
    p.add_argument("--seconds-idle", type=float, default=5.0, help="fps measured without load first")
    args = p.parse_args()

    session = LiveSession("synthetic", provider="cpu", library=StyleLibrary(tempfile.mkdtemp()))
    if args.model:
        session.set_model(args.model)
    else:
        session.load_default_models()
    styles = tuple(session.builtin_styles()[:2])
    session.update(process_height=args.size)
    clock = FrameClock()
    session.frame_listener = clock
    token = "bench-token-0123456789"
    server = ControlServer(ControlAPI(session), 0, token).start()
    try:
        session.start()
        time.sleep(args.seconds_idle)
        idle_fps, idle_max = clock.fps(), max(clock.gaps, default=0.0)
        asyncio.run(run_load(server.url, token, 200, 4, styles=styles))  # warm-up
        before = rss_mb()
        clock.reset()
        result = asyncio.run(run_load(server.url, token, args.requests, args.ws, styles=styles))
        after = rss_mb()
        load_fps, load_max = clock.fps(), max(clock.gaps, default=0.0)
    finally:
        server.stop()
        session.shutdown()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {__import__('os').cpu_count()} cores; "
          f"model {session.fast.info.name if session.fast else '?'} at {args.size}p on synthetic 640x360 30 fps")
    print(f"idle: {idle_fps:.1f} fps, longest gap {idle_max * 1e3:.0f} ms")
    print(f"{args.requests} requests + {args.ws} WebSockets: {args.requests / result['seconds']:.0f} req/s, "
          f"status {dict(sorted(result['counts'].items()))}, WS messages per client "
          f"{min(result['received'])}..{max(result['received'])}")
    print(f"under load: {load_fps:.1f} fps, longest gap {load_max * 1e3:.0f} ms; RSS {before:.0f} -> {after:.0f} MB")


if __name__ == "__main__":
    main()
