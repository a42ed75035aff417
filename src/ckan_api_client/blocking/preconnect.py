"""Connections opened ahead: TCP handshakes started before the client exists, taken by its first connections.

A connection costs one round trip before its first request can leave (DNS and the TCP handshake); for a
portal 100 ms away that is 0.1 s of every command, paid after the ~0.2 s the command line spends
importing its modules. [`open_ahead`][ckan_api_client.blocking.preconnect.open_ahead] starts the
handshakes at once, in the background, and the transport's connections
[`take`][ckan_api_client.blocking.preconnect.take] them when they first connect (TLS, if any, is then
done on them as on any other). A handshake that failed, a socket the server closed, or one older than
``MAX_AGE`` is not used: the connection is then opened as usual, with the usual errors. Sockets never
taken are closed at exit.

Standard library only, so that the command line's entry point can call it before it imports the rest.
"""

from __future__ import annotations

import atexit
import select
import socket
import threading
import time

__all__ = ["open_ahead", "take", "MAX_AGE"]

MAX_AGE = 10.0
"""Seconds a socket opened ahead may wait to be taken (servers close idle connections after 5 s or more)."""


class _Ahead:
    """One handshake started ahead: its socket once ``done`` (None when it failed)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.done = threading.Event()
        self.sock: socket.socket | None = None


_lock = threading.Lock()
_waiting: dict[tuple[str, int], list[_Ahead]] = {}


def open_ahead(host: str, port: int, count: int, *, timeout: float = 10.0) -> None:
    """Start ``count`` TCP connections to ``host:port`` in the background, for the next connections made there."""
    key = (host.lower(), port)
    ahead = [_Ahead() for _ in range(count)]
    with _lock:
        _waiting.setdefault(key, []).extend(ahead)
    for one in ahead:
        threading.Thread(target=_connect, args=(key, one, timeout), name="ckan-api-client-preconnect",
                         daemon=True).start()


def _connect(key: tuple[str, int], one: _Ahead, timeout: float) -> None:
    try:
        one.sock = socket.create_connection(key, timeout=timeout)
    except OSError:
        one.sock = None  # the connection made as usual will meet (and report) the same failure
    finally:
        one.done.set()


def take(host: str, port: int) -> socket.socket | None:
    """A socket opened ahead to ``host:port``, still open and young enough, or None (connect as usual).

    Waits for a handshake still under way: it started earlier than a new one would."""
    with _lock:
        queue = _waiting.get((host.lower(), port))
        if not queue:
            return None
        one = queue.pop(0)
    one.done.wait()  # bounded: the handshake has its own timeout
    sock = one.sock
    if sock is None:
        return None
    if time.monotonic() - one.started > MAX_AGE or _closed_by_peer(sock):
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


@atexit.register
def _close_untaken() -> None:
    with _lock:
        left = [one for queue in _waiting.values() for one in queue]
        _waiting.clear()
    for one in left:
        if one.done.is_set() and one.sock is not None:
            one.sock.close()
