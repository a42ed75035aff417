"""DCAT benchmarks, run by bench.py (``--only P10 P11``).

P10 the 1,839 depositar records as a DCAT-AP 3 Turtle catalogue served on loopback, harvested into an
    empty CKAN 2.12 by ckanext-dcat's DCATRDFHarvester (ckanext-harvest 1.6.3, its gather and fetch
    consumers; wall time from the job's creation until it is Finished) and by ``ckan-api-client
    harvest``, side by side: the first harvest, the re-harvest of the unchanged catalogue (writes
    counted), and a run after one dataset left the catalogue
P11 memory: the export of 10,000 and 100,000 synthetic datasets as Turtle (peak RSS flat, < 200 MB),
    the dry-run harvest of the 100,000 (peak RSS < 400 MB), and the export of the 1,839 (<= 5 s)
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

from common import (DEPOSITAR, OURS, REPO, STACK, SYNTHETIC, cli_measured, count_datasets, report, run,
                    stack_env)

P10_STACK = {"CKAN_STACK_DIR": str(REPO / ".ckan-stack-bench-p10"), "CKAN_STACK_CKAN_PORT": "25300",
             "CKAN_STACK_PG_PORT": "25732", "CKAN_STACK_REDIS_PORT": "26679", "CKAN_STACK_SOLR_PORT": "29383",
             "CKAN_STACK_PLUGINS": "dcat,harvest"}
FINISHED_WITHIN = 1800.0


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """The files of ``folder`` over HTTP on loopback: its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def p10_stack(reset: bool) -> tuple[dict[str, str], dict[str, str]]:
    """The P10 stack (ckanext-dcat and ckanext-harvest enabled): its site, and the environment to run its
    ``ckan`` command with."""
    env = dict(os.environ, **P10_STACK)
    subprocess.run([str(STACK), "reset" if reset else "up"], env=env, check=True, capture_output=True)
    sys.path.insert(0, str(REPO / "stack"))
    from ckan_stack.config import StackConfig

    config = StackConfig.from_env(env)
    site = stack_env(env)
    site["CKAN_COMMAND"] = str(config.venv / "bin" / "ckan")
    site["CKAN_INI"] = str(config.ckan_ini)
    site["CKAN_STATE"] = str(config.state)
    return site, env


def catalogues(workdir: Path) -> tuple[Path, Path]:
    """The depositar records as a Turtle catalogue, in full and without its first dataset (in two folders,
    served one after the other at the same path)."""
    full, fewer = workdir / "p10-full", workdir / "p10-fewer"
    full.mkdir(exist_ok=True)
    fewer.mkdir(exist_ok=True)
    run([*OURS, "export", "dcat", "-i", str(DEPOSITAR), "--base-url", "https://data.depositar.io", "--title",
         "depositar", "-o", str(full / "catalog.ttl")])
    with gzip.open(DEPOSITAR, "rt", encoding="utf-8") as fh:
        rest = [line for line in fh if line.strip()][1:]
    (workdir / "p10-fewer.jsonl").write_text("".join(rest), encoding="utf-8")
    run([*OURS, "export", "dcat", "-i", str(workdir / "p10-fewer.jsonl"), "--base-url", "https://data.depositar.io",
         "--title", "depositar", "-o", str(fewer / "catalog.ttl")])
    return full, fewer


def action(site: dict[str, str], name: str, data: dict[str, Any] | None = None) -> Any:
    from ckan_api_client import CkanLowlevelClient

    with CkanLowlevelClient(site["CKAN_URL"], site["CKAN_API_TOKEN"]) as client:
        return client.call_action(name, data or {})


def their_job(site: dict[str, str], source_id: str) -> tuple[float, dict[str, Any]]:
    """One harvest job of ckanext-harvest, from its creation until it is Finished: (seconds, its stats)."""
    started = time.perf_counter()
    job = action(site, "harvest_job_create", {"source_id": source_id})
    while time.perf_counter() - started < FINISHED_WITHIN:
        action(site, "harvest_jobs_run", {})  # starts a new job; marks a done one Finished (as cron would)
        shown = action(site, "harvest_job_show", {"id": job["id"]})
        if shown["status"] == "Finished":
            return time.perf_counter() - started, shown.get("stats") or {}
        time.sleep(1)
    raise SystemExit(f"ckanext-harvest's job {job['id']} did not finish within {FINISHED_WITHIN:.0f} s")


class Supervised:
    """ckanext-harvest's consumers, restarted when one exits (as its docs run them, under supervisor with
    autorestart): its fetch consumer dies on a Redis read timeout while the queue is idle between jobs."""

    def __init__(self, commands: dict[str, list[str]], env: dict[str, str], cwd: Path, logs: Path) -> None:
        self.commands, self.env, self.cwd, self.logs = commands, env, cwd, logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts = 0
        self.stopping = threading.Event()
        self.watcher = threading.Thread(target=self.watch, daemon=True)

    def start(self, name: str) -> None:
        self.processes[name] = subprocess.Popen(self.commands[name], env=self.env, cwd=self.cwd,
                                                stdout=open(self.logs / f"{name}.log", "a"), stderr=subprocess.STDOUT)

    def watch(self) -> None:
        while not self.stopping.wait(0.5):
            for name, process in list(self.processes.items()):
                if process.poll() is not None:
                    self.restarts += 1
                    self.start(name)

    def __enter__(self) -> Supervised:
        for name in self.commands:
            self.start(name)
        self.watcher.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self.watcher.join()
        for process in self.processes.values():
            process.terminate()
            process.wait(30)


def p10_theirs(url: str, full: Path, fewer: Path, live: Path) -> list[tuple[str, float, dict[str, Any]]]:
    site, env = p10_stack(reset=True)
    org = action(site, "organization_create", {"name": "p10-theirs"})
    source = action(site, "harvest_source_create", {
        "name": "p10-depositar", "title": "depositar", "url": f"{url}/catalog.ttl", "source_type": "dcat_rdf",
        "owner_org": org["id"], "frequency": "MANUAL"})
    ckan = [site["CKAN_COMMAND"], "-c", site["CKAN_INI"], "harvester"]
    logs = Path(site["CKAN_STATE"]) / "logs"
    runs = []
    with Supervised({name: [*ckan, name] for name in ("gather-consumer", "fetch-consumer")},
                    dict(env, CKAN_INI=site["CKAN_INI"]), Path(site["CKAN_STATE"]), logs) as consumers:
        for name, folder in (("first harvest", full), ("unchanged re-harvest", full),
                             ("one dataset gone", fewer)):
            point(live, folder)
            seconds, stats = their_job(site, source["id"])
            runs.append((name, seconds, stats))
            print(f"    ckanext-dcat {name}: {seconds:.1f} s, {stats}; {count_datasets(site)} datasets; consumers "
                  f"restarted so far: {consumers.restarts}", flush=True)
    return runs


def p10_ours(url: str, full: Path, fewer: Path, live: Path, workdir: Path) -> list[tuple[str, float, dict[str, Any]]]:
    site, _ = p10_stack(reset=True)
    action(site, "organization_create", {"name": "p10-ours"})
    runs = []
    for name, folder in (("first harvest", full), ("unchanged re-harvest", full), ("one dataset gone", fewer)):
        point(live, folder)
        summary, seconds, _ = cli_measured(["--url", site["CKAN_URL"], "--token", site["CKAN_API_TOKEN"], "-q",
                                            "harvest", f"{url}/catalog.ttl", "--owner-org", "p10-ours", "--state",
                                            str(workdir / "p10.sqlite")])
        runs.append((name, seconds, summary))
        print(f"    ours {name}: {seconds:.1f} s, counts {summary['counts']}, {summary['write_requests']} writes, "
              f"{summary['failed']} failed; {count_datasets(site)} datasets", flush=True)
    return runs


def point(live: Path, folder: Path) -> None:
    """Serve ``folder``'s catalogue at the live path."""
    target = live / "catalog.ttl"
    target.unlink(missing_ok=True)
    target.symlink_to(folder / "catalog.ttl")


def p10_harvest(workdir: Path) -> None:
    full, fewer = catalogues(workdir)
    live = workdir / "p10-live"
    live.mkdir(exist_ok=True)
    with served(live) as url:
        theirs = p10_theirs(url, full, fewer, live)
        ours = p10_ours(url, full, fewer, live, workdir)
    p10_stack(reset=True)  # leave it empty: 3,700 datasets need not sit on disk
    writes = {"first harvest": "added", "unchanged re-harvest": "updated", "one dataset gone": "deleted"}
    for (name, their_seconds, stats), (_, our_seconds, summary) in zip(theirs, ours):
        report("P10", f"ckanext-dcat harvester, {name}", their_seconds, "s")
        report("P10", f"ours harvest, {name}", our_seconds, "s", "ckanext-dcat", their_seconds,
               "(target: >= 1.5x)" if name == "first harvest" else "")
        their_writes = sum(int(stats.get(k) or 0) for k in ("added", "updated", "deleted"))
        report("P10", f"ckanext-dcat {name}: datasets written ({writes[name]} {stats.get(writes[name], 0)})",
               their_writes, "")
        report("P10", f"ours {name}: write requests", summary["write_requests"], "", None, None,
               "(target: 0)" if name == "unchanged re-harvest" else "")
    report("P10", "ours unchanged re-harvest vs our first (time ratio)", ours[1][1] / ours[0][1], "x", None, None,
           "(target: <= 0.05)")


def p11_big_catalogues(workdir: Path) -> None:
    peaks: dict[int, float] = {}
    out = workdir / "depositar.ttl"
    summary, seconds, _ = cli_measured(["export", "dcat", "-i", str(DEPOSITAR), "--base-url",
                                        "https://data.depositar.io", "-o", str(out)])
    report("P11", "export of the 1,839 depositar records as Turtle", seconds, "s", None, None, "(target: <= 5 s)")
    for count in (10_000, 100_000):
        records = workdir / f"p11-{count}.jsonl"
        with open(records, "w") as fh:
            subprocess.run([sys.executable, "-c", SYNTHETIC, str(count), f"p11-{count}"], stdout=fh, check=True)
        catalogue = workdir / f"p11-{count}.ttl"
        summary, seconds, peaks[count] = cli_measured(["export", "dcat", "-i", str(records), "--base-url",
                                                       "https://big.example", "-o", str(catalogue)])
        print(f"    export of {count:,}: {seconds:.1f} s, {catalogue.stat().st_size / 2**20:.0f} MiB of Turtle",
              flush=True)
        report("P11", f"export of {count:,} synthetic datasets: peak RSS", peaks[count], "MiB", None, None,
               "(target: < 200 MiB, flat)")
        records.unlink()
    site = stack_env()
    org = action(site, "organization_create", {"name": f"p11-{int(time.time())}"})["name"]
    plan = workdir / "p11-plan.jsonl"
    summary, seconds, peak = cli_measured(["--url", site["CKAN_URL"], "--token", site["CKAN_API_TOKEN"], "-q",
                                           "harvest", str(workdir / "p11-100000.ttl"), "--owner-org", org,
                                           "--dry-run", "--no-state"], stdout=plan)
    print(f"    dry-run harvest of 100,000: {seconds:.1f} s, {summary['counts']}", flush=True)
    report("P11", "dry-run harvest of 100,000 synthetic datasets: peak RSS", peak, "MiB", None, None,
           "(target: < 400 MiB)")
    plan.unlink()
