"""The ``ckan-api-client`` command (and ``python -m ckan_api_client``).

Before it imports the command line (~0.2 s of modules), the entry point reads where the command will go
(``--url`` or ``CKAN_URL``) and has a connection there [opened ahead][ckan_api_client.blocking.preconnect]
meanwhile: for a portal 100 ms away, the handshake is done by the time the first request is ready.
Nothing else is decided here; the command line reads its arguments (and reports their errors) as always.
"""

from __future__ import annotations

import os
import sys
from typing import Mapping, Sequence
from urllib.parse import urlsplit

URL_OPTIONS = ("--url", "-r", "--remote")
VALUE_OPTIONS = (*URL_OPTIONS, "-j", "--jobs", "-p", "--processes", "--token", "-a", "--apikey", "--profile",
                 "--config", "--ca-bundle", "--timeout", "--retries", "--max-rps")
"""The global options that take a value (the group's own in ``cli.app``; a test keeps the two the same)."""

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def connection_ahead(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[str, int] | None:
    """``(host, port)`` of the connection to open ahead for the command line ``argv``, or None: for help and
    version, without a command or a URL (a ``--profile`` alone names one only in its file), with a proxy
    in the environment (the connection goes to the proxy), and for a URL the command line will refuse."""
    url: str | None = None
    command: str | None = None
    profile = False
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--" or arg in ("-h", "--help", "--version"):
            if arg != "--":
                return None
            break
        name, equals, attached = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if not arg.startswith("--") and len(arg) > 2 and arg[:2] in ("-r", "-j", "-p", "-a"):
            name, equals, attached = arg[:2], "=", arg[2:]  # a short option with its value attached
        if name in VALUE_OPTIONS:
            value = attached if equals else (argv[index + 1] if index + 1 < len(argv) else None)
            index += 1 if equals else 2
            if name in URL_OPTIONS:
                url = value
            elif name == "--profile":
                profile = True
            continue
        if command is None and not arg.startswith("-"):
            command = arg
        index += 1
    if url is None and not profile:
        url = environ.get("CKAN_URL")
    if not url or command is None or any(environ.get(v) or environ.get(v.upper()) for v in PROXY_VARIABLES):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname, port


def main() -> int:
    """Run the command line, its connection opened ahead."""
    ahead = connection_ahead(sys.argv[1:], os.environ)
    if ahead is not None:
        from .blocking.preconnect import open_ahead
        open_ahead(*ahead)
    from .cli import run
    return run()


if __name__ == "__main__":  # not when a documentation tool imports every module of the package
    sys.exit(main())
