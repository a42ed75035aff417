"""A latency and bandwidth shaping TCP proxy on loopback, like ``tc netem`` without root: what a portal
100 ms away looks like to a client.

Every byte is delivered half a round trip after it arrived, in each direction (so a request and its
answer cost one round trip, as over a real network), a new connection costs one round trip before its
first byte goes through (the TCP handshake), and an optional cap spreads the bytes of each direction
over time. Run it in a thread (:class:`LatencyProxy`, a context manager) or as a script::

    python bench/latency_proxy.py --listen 25900 --to 127.0.0.1:25000 --rtt 100
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections import deque


class Shaper:
    """One direction of one connection: chunks leave ``delay`` seconds after they came, at most ``rate``
    bytes per second, in order."""

    def __init__(self, writer: asyncio.StreamWriter, delay: float, rate: float | None) -> None:
        self.writer, self.delay, self.rate = writer, delay, rate
        self.queue: deque[tuple[float, bytes]] = deque()
        self.wakeup = asyncio.Event()
        self.closed = False
        self.free_at = 0.0

    def put(self, chunk: bytes) -> None:
        self.queue.append((time.monotonic() + self.delay, chunk))
        self.wakeup.set()

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()

    async def run(self) -> None:
        try:
            while True:
                if not self.queue:
                    if self.closed:
                        break
                    self.wakeup.clear()
                    await self.wakeup.wait()
                    continue
                due, chunk = self.queue[0]
                if self.rate:
                    due = max(due, self.free_at)
                    self.free_at = due + len(chunk) / self.rate
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.queue.popleft()
                self.writer.write(chunk)
                await self.writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                self.writer.close()
            except (ConnectionError, OSError):
                pass


class LatencyProxy:
    """Forwards 127.0.0.1:``listen`` (0: any free port, see :attr:`url`) to ``target`` with ``rtt`` seconds of
    round trip and an optional ``bandwidth`` in bytes per second per direction. Runs in a daemon thread."""

    def __init__(self, target: tuple[str, int], rtt: float, bandwidth: float | None = None, listen: int = 0) -> None:
        self.target, self.rtt, self.bandwidth, self.listen = target, rtt, bandwidth, listen
        self.port = 0
        self.connections = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True, name="latency-proxy")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.listen))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            # Connections the client kept open end here, with the loop still running: nothing is left to
            # be finalized (and fail) against a closed loop at exit.
            server.close()
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await asyncio.sleep(self.rtt)  # the handshake: one round trip before anything goes through
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except (OSError, asyncio.CancelledError):
            client_writer.close()
            return
        half = self.rtt / 2
        to_server = Shaper(upstream_writer, half, self.bandwidth)
        to_client = Shaper(client_writer, half, self.bandwidth)
        try:
            await asyncio.gather(self._pump(client_reader, to_server), self._pump(upstream_reader, to_client),
                                 to_server.run(), to_client.run())
        except asyncio.CancelledError:  # the proxy stops: this connection ends with it (not an error)
            client_writer.close()
            upstream_writer.close()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, shaper: Shaper) -> None:
        try:
            while chunk := await reader.read(65536):
                shaper.put(chunk)
        except (ConnectionError, OSError):
            pass
        finally:
            shaper.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--to", required=True, help="host:port to forward to")
    parser.add_argument("--rtt", type=float, default=100.0, help="round trip in milliseconds")
    parser.add_argument("--bandwidth", type=float, help="bytes per second per direction")
    args = parser.parse_args()
    host, _, port = args.to.rpartition(":")
    with LatencyProxy((host, int(port)), args.rtt / 1000, args.bandwidth, args.listen) as proxy:
        print(f"forwarding {proxy.url} to {args.to} with {args.rtt:g} ms round trips", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
