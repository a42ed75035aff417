"""The demo: harvest a real catalog into the CKAN at $CKAN_URL, re-harvest it, search it, back it up.

The 1,839 datasets of data.depositar.io (a research-data portal in Taiwan; mostly Chinese text,
6,222 resources) are synced in, synced again (nothing changed: nothing written), searched and
dumped; a table of counts, seconds and requests ends it. Run by ``scripts/demo``.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from tqdm import tqdm

from ckan_api_client import CkanLowlevelClient
from ckan_api_client.engines import dump
from ckan_api_client.exceptions import NotFound
from ckan_api_client import PlannedWrite, SynchronizationClient

SHARED = Path(os.environ.get("CKAN_SHARED_DIR", Path(__file__).resolve().parent.parent.parent / "shared"))
DEPOSITAR = SHARED / "data" / "real-portals" / "depositar" / "datasets.jsonl.gz"
SOURCE = "depositar-demo"
ORGANIZATION = "depositar-demo"


def records() -> Iterator[dict[str, Any]]:
    """The source, streamed from the file (the sync never holds it whole)."""
    with gzip.open(DEPOSITAR, "rt", encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def measured(client: CkanLowlevelClient, step: Callable[[], Any]) -> tuple[Any, float, int]:
    before = client.transport.stats.requests
    started = time.perf_counter()
    result = step()
    return result, time.perf_counter() - started, client.transport.stats.requests - before


def main() -> None:
    client = CkanLowlevelClient(os.environ["CKAN_URL"], os.environ["CKAN_API_TOKEN"])
    print(f"CKAN {client.capabilities.ckan_version} at {client.base_url}")
    try:
        client.get_organization(ORGANIZATION)
    except NotFound:
        client.post_organization({"name": ORGANIZATION, "title": "depositar (demo)"})
    total = sum(1 for _ in records())
    sync = SynchronizationClient(client, SOURCE, default_organization=ORGANIZATION, cleaners=["names", "tags"])
    rows: list[tuple[str, str, float, int]] = []

    for label in ("sync 1,839 real records", "sync again (no change)"):
        # A bar on a terminal only: redirected to a log file, it would write a line per refresh.
        with tqdm(total=total, desc=label, unit=" records", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
            def advance(write: PlannedWrite, status: str) -> None:
                bar.update(1)

            report, seconds, requests = measured(client, lambda: sync.sync(records(), progress=advance))
            bar.update(total - bar.n)  # the records not synced (invalid ones) count as done too
        done = f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, " \
               f"{report.write_requests} writes"
        print(f"{label}: {done}, {len(report.notes)} fixes by the cleaners, {len(report.failures)} failures")
        rows.append((label, done, seconds, requests))

    query = {"q": "ocean", "fq": f'extras_sync_source:"{SOURCE}"', "rows": 3}  # the datasets this sync owns
    found, seconds, requests = measured(client, lambda: client.call_action("package_search", query))
    print("search 'ocean': " + "; ".join(d["title"] for d in found["results"]))
    rows.append(("search 'ocean'", f"{found['count']} datasets match", seconds, requests))

    with tempfile.TemporaryDirectory() as tmp:
        backup = Path(tmp) / "portal.jsonl.gz"
        result, seconds, requests = measured(client, lambda: dump(client, "datasets", backup, include_private=True))
        size = backup.stat().st_size
    rows.append(("dump the portal", f"{result.counts.get('written', 0)} datasets, {size / 1e6:.1f} MB gzip",
                 seconds, requests))

    print(f"\n{'step':26} {'what':58} {'seconds':>8} {'requests':>9}")
    for step, what, seconds, requests in rows:
        print(f"{step:26} {what:58} {seconds:8.2f} {requests:9d}")


if __name__ == "__main__":
    main()
