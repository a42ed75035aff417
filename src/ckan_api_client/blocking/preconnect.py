"""Connections opened ahead: TCP handshakes started before the client exists, taken by its first connections.

A connection costs one round trip before its first request can leave (DNS and the TCP handshake); for a
portal 100 ms away that is 0.1 s of every command, paid after the ~0.2 s the command line spends
importing its modules. [`open_ahead`][ckan_api_client.blocking.preconnect.open_ahead] starts the
handshakes at once, in the background, and the transport's first connections to that host and port
[`take`][ckan_api_client.blocking.preconnect.take] them (TLS, if any, is then done on each as on any other).

Never more connections than the command sends requests at once as it starts (one, for most commands): a
server with a few synchronous workers (gunicorn's default) gives a worker to each connection it accepts,
and that worker waits for a request on it. Idle connections opened ahead can hold every worker while the
client's request waits behind them on another connection: measured here, a command that made one
request at a time hung that way against the test stack's two workers with several opened ahead. When
each connection opened ahead carries a request from the start, none idles behind another. A socket not
taken within ``MAX_AGE`` is closed (it would hold a worker from other clients), as is one that failed or
that the server closed: the connection is then made as usual, with the usual errors.

Standard library only, so that the command line's entry point can call it before it imports the rest.
"""

from __future__ import annotations

import select
import socket
import threading

__all__ = ["open_ahead", "take", "MAX_AGE"]

MAX_AGE = 5.0
"""Seconds a socket opened ahead waits to be taken before it is closed."""


class _Ahead:
    """One handshake started ahead: ``sock`` once ``done`` (None when it failed; one closed untaken has left
    its list first, so nothing can take it)."""

    def __init__(self, key: tuple[str, int]) -> None:
        self.key = key
        self.done = threading.Event()
        self.taken = threading.Event()
        self.sock: socket.socket | None = None


_lock = threading.Lock()
_waiting: dict[tuple[str, int], list[_Ahead]] = {}
"""The sockets opened ahead and not yet taken, by host and port, in the order they were started."""


def open_ahead(host: str, port: int, *, count: int = 1, timeout: float = 10.0) -> None:
    """Start ``count`` TCP connections to ``host:port`` in the background, for the next connections made there
    (none when some are already waiting). ``count`` is what the command sends at once as it starts."""
    key = (host.lower(), port)
    with _lock:
        if _waiting.get(key):
            return
        started = _waiting[key] = [_Ahead(key) for _ in range(max(1, count))]
    for one in started:
        threading.Thread(target=_connect, args=(one, timeout), name="ckan-api-client-preconnect", daemon=True).start()


def _connect(one: _Ahead, timeout: float) -> None:
    try:
        one.sock = socket.create_connection(one.key, timeout=timeout)
    except OSError:
        one.sock = None  # the connection made as usual will meet (and report) the same failure
    finally:
        one.done.set()
    if one.sock is not None and not one.taken.wait(MAX_AGE):
        with _lock:
            waiting = _waiting.get(one.key, [])
            untaken = one in waiting
            if untaken:
                waiting.remove(one)
        if untaken:
            one.sock.close()


def take(host: str, port: int) -> socket.socket | None:
    """A socket opened ahead to ``host:port``, still open, or None (connect as usual).

    Waits for a handshake still under way: it started earlier than a new one would."""
    with _lock:
        waiting = _waiting.get((host.lower(), port))
        one = waiting.pop(0) if waiting else None
    if one is None:
        return None
    one.taken.set()
    one.done.wait()  # bounded: the handshake has its own timeout
    sock = one.sock
    if sock is None:
        return None
    if _closed_by_peer(sock):
        sock.close()
        return None
    return sock


def _closed_by_peer(sock: socket.socket) -> bool:
    """True when the server has closed the socket (or sent something unasked): it cannot carry a request."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
