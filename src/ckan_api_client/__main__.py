"""The ``ckan-api-client`` command (and ``python -m ckan_api_client``).

Before it imports the command line (~0.2 s of modules), the entry point reads where the command will go
(``--url`` or ``CKAN_URL``) and has a connection there [opened ahead][ckan_api_client.blocking.preconnect]
meanwhile: for a portal 100 ms away, the handshake is done by the time the first request is ready. A
command that starts with several requests at once (``dump datasets --all``: one walk per job, and the
token check) has that many opened. Nothing else is decided here; the command line reads its arguments
(and reports their errors) as always.
"""

from __future__ import annotations

import os
import sys
from typing import Mapping, NamedTuple, Sequence
from urllib.parse import urlsplit

URL_OPTIONS = ("--url", "-r", "--remote")
VALUE_OPTIONS = (*URL_OPTIONS, "-j", "--jobs", "-p", "--processes", "--token", "-a", "--apikey", "--profile",
                 "--config", "--ca-bundle", "--timeout", "--retries", "--max-rps")
"""The global options that take a value (the group's own in ``cli.app``; a test keeps the two the same)."""

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
TOKEN_OPTIONS = ("--token", "-a", "--apikey")
JOB_OPTIONS = ("-j", "--jobs", "-p", "--processes")
MAX_WALKS = 8
"""The most id ranges a dump of all datasets walks at once (``engines.dump``; a test keeps the two the same)."""


class Ahead(NamedTuple):
    """Where to open connections ahead, and how many."""

    host: str
    port: int
    connections: int = 1


def connection_ahead(argv: Sequence[str], environ: Mapping[str, str]) -> Ahead | None:
    """Where and how many connections to open ahead for the command line ``argv``, or None: for help and
    version, without a command or a URL (a ``--profile`` alone names one only in its file), with a proxy
    in the environment (the connection goes to the proxy), and for a URL the command line will refuse."""
    url: str | None = None
    words: list[str] = []
    """The command and its arguments, options and all, without the global options."""
    jobs, token, profile = "4", bool(environ.get("CKAN_API_TOKEN")), False
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
            elif name in JOB_OPTIONS:
                jobs = value or jobs
            elif name in TOKEN_OPTIONS:
                token = bool(value)
            continue
        if words or not arg.startswith("-"):
            words.append(arg)
        index += 1
    if url is None and not profile:
        url = environ.get("CKAN_URL")
    if not url or not words or any(environ.get(v) or environ.get(v.upper()) for v in PROXY_VARIABLES):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return Ahead(parts.hostname, port, requests_at_start(words, jobs, token))


def requests_at_start(words: Sequence[str], jobs: str, token: bool) -> int:
    """How many requests the command sends at once as it starts: ``dump datasets --all`` walks its id ranges
    (one per job, at most eight) beside the token check; a resumed dump walks fewer, and every other command
    starts with one request."""
    if words[:2] != ["dump", "datasets"] or "--all" not in words or "--resume" in words:
        return 1
    walks = int(jobs) if jobs.isdigit() else 1
    return min(max(walks, 1), MAX_WALKS) + token


def main() -> int:
    """Run the command line, its connection opened ahead."""
    ahead = connection_ahead(sys.argv[1:], os.environ)
    if ahead is not None:
        from .blocking.preconnect import open_ahead
        open_ahead(ahead.host, ahead.port, count=ahead.connections)
    from .cli import run
    return run()


if __name__ == "__main__":  # not when a documentation tool imports every module of the package
    sys.exit(main())
