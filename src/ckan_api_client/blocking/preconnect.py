"""A connection opened ahead: a TCP handshake started before the client exists, taken by its first connection.

A connection costs one round trip before its first request can leave (DNS and the TCP handshake); for a
portal 100 ms away that is 0.1 s of every command, paid after the ~0.2 s the command line spends
importing its modules. [`open_ahead`][ckan_api_client.blocking.preconnect.open_ahead] starts the
handshake at once, in the background, and the transport's first connection to that host and port
[`take`][ckan_api_client.blocking.preconnect.take]s it (TLS, if any, is then done on it as on any other).

One connection, never more: a server with a few synchronous workers (gunicorn's default) gives a worker to
each connection it accepts, and that worker waits for a request on it. Several idle connections opened
ahead can hold every worker while the client's request waits behind them on another connection: measured
here, a command that made one request at a time hung that way against the test stack's two workers.
The first connection a client makes to the host always takes the one opened ahead, so it never idles
behind a request of its own. A socket not taken within ``MAX_AGE`` is closed (it would hold a worker
from other clients), as is one that failed or that the server closed: the connection is then made as
usual, with the usual errors.

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
    the table first, so nothing can take it)."""

    def __init__(self, key: tuple[str, int]) -> None:
        self.key = key
        self.done = threading.Event()
        self.taken = threading.Event()
        self.sock: socket.socket | None = None


_lock = threading.Lock()
_waiting: dict[tuple[str, int], _Ahead] = {}


def open_ahead(host: str, port: int, *, timeout: float = 10.0) -> None:
    """Start a TCP connection to ``host:port`` in the background, for the next connection made there
    (none when one is already waiting)."""
    key = (host.lower(), port)
    one = _Ahead(key)
    with _lock:
        if key in _waiting:
            return
        _waiting[key] = one
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
            untaken = _waiting.get(one.key) is one
            if untaken:
                del _waiting[one.key]
        if untaken:
            one.sock.close()


def take(host: str, port: int) -> socket.socket | None:
    """The socket opened ahead to ``host:port``, still open, or None (connect as usual).

    Waits for a handshake still under way: it started earlier than a new one would."""
    with _lock:
        one = _waiting.pop((host.lower(), port), None)
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
