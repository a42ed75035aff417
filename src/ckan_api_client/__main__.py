"""The ``ckan-api-client`` command (and ``python -m ckan_api_client``).

Before it imports the command line (~0.2 s of modules), the entry point reads where the command will go
(``--url`` or ``CKAN_URL``) and how many requests it makes at once (``-j``), and has those connections
[opened ahead][ckan_api_client.blocking.preconnect] meanwhile: for a portal 100 ms away, the handshakes
are done by the time the first request is ready. Nothing else is decided here; the command line reads
its arguments (and reports their errors) as always.
"""

from __future__ import annotations

import os
import sys
from typing import Mapping, Sequence
from urllib.parse import urlsplit

ONE_AT_A_TIME = frozenset({"action", "search", "resource"})
"""Commands that make one request at a time: one connection ahead (the others: one per job, at most 8)."""

URL_OPTIONS = ("--url", "-r", "--remote")
JOBS_OPTIONS = ("-j", "--jobs", "-p", "--processes")
VALUE_OPTIONS = (*URL_OPTIONS, *JOBS_OPTIONS, "--token", "-a", "--apikey", "--profile", "--config", "--ca-bundle",
                 "--timeout", "--retries", "--max-rps")
"""The global options that take a value (the group's own in ``cli.app``; a test keeps the two the same)."""

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def connections_ahead(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[str, int, int] | None:
    """``(host, port, count)`` of the connections to open ahead for the command line ``argv``, or None:
    for help and version, without a URL (a ``--profile`` alone names one only in its file), with a proxy
    in the environment (the connections go to the proxy), and for anything the command line will refuse."""
    url: str | None = None
    jobs = "4"
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
        if not arg.startswith("--") and len(arg) > 2 and arg[:2] in ("-r", "-j", "-p"):
            name, equals, attached = arg[:2], "=", arg[2:]  # a short option with its value attached
        if name in VALUE_OPTIONS:
            value = attached if equals else (argv[index + 1] if index + 1 < len(argv) else None)
            index += 1 if equals else 2
            if name in URL_OPTIONS:
                url = value
            elif name in JOBS_OPTIONS and value is not None:
                jobs = value
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
        count = 1 if command in ONE_AT_A_TIME else min(int(jobs), 8)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or count < 1:
        return None
    return parts.hostname, port, count


def main() -> int:
    """Run the command line, its connections opened ahead."""
    ahead = connections_ahead(sys.argv[1:], os.environ)
    if ahead is not None:
        from .blocking.preconnect import open_ahead
        open_ahead(*ahead)
    from .cli import run
    return run()


if __name__ == "__main__":  # not when a documentation tool imports every module of the package
    sys.exit(main())
