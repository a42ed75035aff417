"""What every benchmark uses: paths, running a command, reporting a figure beside its anchor, the stacks'
sites, and the network between the client and the portals (loopback, or a delay proxy)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

from latency_proxy import LatencyProxy

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CKAN_SHARED_DIR", REPO.parent / "shared"))
DEPOSITAR = SHARED / "data" / "real-portals" / "depositar" / "datasets.jsonl.gz"
CKANAPI = REPO / "bench" / ".venv-ckanapi" / "bin" / "ckanapi"
CKANAPI_PYTHON = REPO / "bench" / ".venv-ckanapi" / "bin" / "python"
OURS = [sys.executable, "-m", "ckan_api_client"]
STACK = REPO / "scripts" / "ckan-stack"
RESULTS: list[dict[str, Any]] = []


class Network:
    """How far the portals are: the round trip in seconds (0: loopback) and an optional bandwidth cap in
    bytes per second per direction. One instance, ``NET``, set per pass by bench.py's main."""

    rtt: float = 0.0
    bandwidth: float | None = None


NET = Network()


def label(name: str) -> str:
    """A figure's name, with the round trip when it is not loopback."""
    return f"{name} @{NET.rtt * 1000:g} ms" if NET.rtt else name


@contextmanager
def remote(*sites: dict[str, str]) -> Iterator[list[dict[str, str]]]:
    """The sites as the client sees them at the current round trip: each behind its own delay proxy when
    the round trip is not 0 (a copy of its env with the proxy's URL), as they are on loopback."""
    if not NET.rtt:
        yield [dict(site) for site in sites]
        return
    with ExitStack() as stack:
        proxied = []
        for site in sites:
            parts = urlsplit(site["CKAN_URL"])
            proxy = stack.enter_context(LatencyProxy((parts.hostname or "127.0.0.1", parts.port or 80), NET.rtt,
                                                     NET.bandwidth))
            proxied.append({**site, "CKAN_URL": proxy.url})
        yield proxied


def stack_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """A stack's site (``CKAN_URL``, ``CKAN_API_TOKEN``): the bench stack's, or the one ``env`` selects."""
    out = subprocess.run([str(STACK), "env"], capture_output=True, text=True, check=True, env=env).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def shown(cmd: list[str]) -> str:
    """A command line to print: the value after ``--token``, ``-a`` or ``--apikey`` masked."""
    masked = [("***" if i and cmd[i - 1] in ("--token", "-a", "--apikey") else part) for i, part in enumerate(cmd)]
    return " ".join(masked)


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    # ckanapi starts its worker processes as "ckanapi" from PATH: put its venv first.
    env = dict(os.environ, PATH=f"{CKANAPI.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, **kwargs)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"failed: {shown(cmd[:4])}...\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def median_of(runs: int, fn: Callable[[], Any]) -> float:
    return statistics.median(timed(fn) for _ in range(runs))


def report(group: str, name: str, value: float, unit: str, anchor: str | None = None,
           anchor_value: float | None = None, target: str = "") -> None:
    ratio = f"{anchor_value / value:6.2f}x faster than {anchor}" if anchor and anchor_value and unit == "s" else \
        (f"{value / anchor_value:6.2f}x of {anchor}" if anchor and anchor_value else "")
    print(f"{group:3} {name:42} {value:10.3f} {unit:3} {ratio} {target}", flush=True)
    RESULTS.append({"group": group, "name": name, "value": value, "unit": unit, "anchor": anchor,
                    "anchor_value": anchor_value})


def organizations_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    orgs = {}
    for record in records:
        org = record.get("organization")
        if isinstance(org, dict) and org.get("name"):
            orgs[org["name"]] = {k: org[k] for k in ("id", "name", "title", "description", "image_url")
                                 if org.get(k) is not None}
    return list(orgs.values())


def create_organizations(site: dict[str, str], records: list[dict[str, Any]]) -> None:
    """The records' organizations, with their original ids: ckanapi keeps a dump's owner_org ids."""
    from ckan_api_client import CkanLowlevelClient
    from ckan_api_client.blocking.concurrency import run_concurrently

    client = CkanLowlevelClient(site["CKAN_URL"], site["CKAN_API_TOKEN"])
    client.call_action("organization_create", organizations_of(records)[0])  # alone: see below
    for org, outcome in run_concurrently(organizations_of(records)[1:], lambda o: client.call_action(
            "organization_create", o), concurrency=4):
        if isinstance(outcome, Exception):
            # A CKAN worker just restarted can answer 500 "Authorization function not found:
            # organization_create" to concurrent first calls (its table of auth functions is built on
            # first use, seen here once); once more, alone.
            try:
                client.call_action("organization_create", org)
            except Exception as error:
                raise SystemExit(f"could not create organization {org['name']}: {error}") from None


def prepare_empty_site(records: list[dict[str, Any]]) -> dict[str, str]:
    """Reset the bench stack and create the records' organizations."""
    run([str(STACK), "reset"])
    env = stack_env()
    create_organizations(env, records)
    return env


def count_datasets(env: dict[str, str]) -> int:
    from ckan_api_client import CkanLowlevelClient
    client = CkanLowlevelClient(env["CKAN_URL"], env["CKAN_API_TOKEN"])
    return int(client.call_action("package_search", {"rows": 0, "include_private": True})["count"])


# ru_maxrss survives exec on Linux (a child reports its parent's peak if larger): read VmHWM instead.
PEAK = """
def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

# The command line in a fresh process, run in-process there so that its peak memory (VmHWM) is its own:
# the exit code and the peak in MiB go to stderr as the last line, JSON.
CLI_RUNNER = PEAK + """
import json, sys
from ckan_api_client.cli import run
code = run(sys.argv[1:])
print(json.dumps({"exit": code, "peak_mib": peak_mib()}), file=sys.stderr)
"""

def cli_measured(args: list[str], stdin: Any = None, stdout: Path | None = None
                 ) -> tuple[dict[str, Any], float, float]:
    """``ckan-api-client ARGS`` in a fresh process: (its JSON summary line, seconds, peak RSS in MiB).
    ``stdout``: a file for what it writes (a dry run's plan), its last line being the summary."""
    cmd = [sys.executable, "-c", CLI_RUNNER, *args]
    started = time.perf_counter()
    with open(stdout, "w+b") if stdout else nullcontext() as out:
        proc = subprocess.run(cmd, stdout=out or subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=stdin,
                              timeout=7200)
        seconds = time.perf_counter() - started
        text = proc.stdout if out is None else last_line_of(out)
    tail = json.loads(proc.stderr.strip().splitlines()[-1]) if proc.stderr.strip() else {"exit": proc.returncode}
    if tail["exit"] not in (0, 3):
        raise SystemExit(f"{shown(args[:6])} failed ({tail['exit']}): {proc.stderr[-2000:]}")
    summary = json.loads(text.strip().splitlines()[-1])
    return summary, seconds, float(tail["peak_mib"])


def last_line_of(fh: Any) -> str:
    """The end of a file a child process wrote (enough for its last line)."""
    fh.seek(0, os.SEEK_END)
    fh.seek(max(0, fh.tell() - 65536))
    return bytes(fh.read()).decode("utf-8", "replace")


# Synthetic CKAN records (JSON Lines on stdout): count, name prefix.
SYNTHETIC = """
import json, sys, random
count, prefix = int(sys.argv[1]), sys.argv[2]
rng = random.Random(7)
words = "air water soil river coast forest city rain heat noise traffic school health census budget".split()
for i in range(count):
    topic = " ".join(rng.choice(words) for _ in range(3))
    print(json.dumps({
        "id": f"{prefix}-{i:07d}", "name": f"{prefix}-{i:07d}", "title": f"{topic.title()} {i}",
        "notes": ("Measurements of %s, collected daily. " % topic) * 8,
        "tags": [{"name": w} for w in sorted(set(topic.split()))],
        "extras": [{"key": "frequency", "value": "daily"}, {"key": "station", "value": f"st-{i % 977}"}],
        "resources": [{"name": f"data {i}.csv", "url": f"https://data.example.org/{i}.csv", "format": "CSV"},
                      {"name": "readme", "url": f"https://data.example.org/{i}.txt", "format": "TXT"}],
    }))
"""
