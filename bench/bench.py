"""Benchmarks: ckan-api-client side by side with ckanapi 4.11 and bare requests, on a local CKAN.

Run through ``bench/run`` (which brings up a dedicated stack and installs ckanapi in its own
venv). Each figure is the median of several runs; each line prints the ratio to its anchor.

P1  full read of the 1,839 depositar datasets: our dump vs ``ckanapi dump --all -p 3``, vs
    ``ckanapi search datasets``, and vs the floor (the same search pages with bare requests)
P2  bulk create of the same records into an empty CKAN: ``load -j 3`` and ``-j 8`` vs
    ``ckanapi load datasets -p 3``
P4  client CPU per call: 2,000 package_show through our client vs a bare requests.Session + json, and
    through the async client vs a bare httpx.AsyncClient loop
P5  peak memory (max RSS) uploading and downloading a 512 MiB resource file, vs ckanapi's upload
P7  DataStore rows per second, loading and reading 50,000 rows, vs bare requests
P3  sync of the 1,839 depositar records, then re-syncs of the unchanged source with the state file and
    without it: requests and seconds, as a share of the first full sync (target: <= 2% of its time)
P6  peak memory (VmHWM) of the sync: a dry run of 300,000 synthetic records streamed from stdin, and
    real syncs of 1k, 2k and 5k records (target: flat, under 300 MB at 300k)
P9  the full read of three portals (2.12, 2.11 and 2.10 bench stacks, the 1,839 depositar records in
    each): one async client reading the three at once vs the sync client walking them one after another
P8  mirror of the 1,839 depositar datasets into a second stack vs ``ckanapi dump datasets --all |
    ckanapi load datasets`` on the same pair, and the re-run of the unchanged mirror: requests, seconds
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CKAN_SHARED_DIR", REPO.parent / "shared"))
DEPOSITAR = SHARED / "data" / "real-portals" / "depositar" / "datasets.jsonl.gz"
CKANAPI = REPO / "bench" / ".venv-ckanapi" / "bin" / "ckanapi"
CKANAPI_PYTHON = REPO / "bench" / ".venv-ckanapi" / "bin" / "python"
OURS = [sys.executable, "-m", "ckan_api_client"]
STACK = REPO / "scripts" / "ckan-stack"
RESULTS: list[dict[str, Any]] = []


def stack_env() -> dict[str, str]:
    out = subprocess.run([str(STACK), "env"], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    # ckanapi starts its worker processes as "ckanapi" from PATH: put its venv first.
    env = dict(os.environ, PATH=f"{CKANAPI.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, **kwargs)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"failed: {' '.join(cmd[:4])}...\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
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


def prepare_empty_site(records: list[dict[str, Any]], workdir: Path) -> dict[str, str]:
    """Reset the bench stack and create the records' organizations (with their ids, for ckanapi)."""
    from ckan_api_client import CkanLowlevelClient
    from ckan_api_client.concurrency import run_concurrently

    run([str(STACK), "reset"])
    env = stack_env()
    client = CkanLowlevelClient(env["CKAN_URL"], env["CKAN_API_TOKEN"])
    # With their original ids: ckanapi keeps the dump's owner_org ids, so they must exist as such.
    for org, outcome in run_concurrently(organizations_of(records), lambda o: client.call_action(
            "organization_create", o), concurrency=4):
        if isinstance(outcome, Exception):
            raise SystemExit(f"could not create organization {org['name']}: {outcome}")
    return env


def count_datasets(env: dict[str, str]) -> int:
    from ckan_api_client import CkanLowlevelClient
    client = CkanLowlevelClient(env["CKAN_URL"], env["CKAN_API_TOKEN"])
    return int(client.call_action("package_search", {"rows": 0, "include_private": True})["count"])


def p2_bulk_create(records_file: Path, records: list[dict[str, Any]], workdir: Path, runs: int) -> dict[str, str]:
    results: dict[str, list[float]] = {"ours -j 3": [], "ours -j 8": [], "ckanapi load -p 3": []}
    env: dict[str, str] = {}
    for _ in range(runs):
        for name in results:
            env = prepare_empty_site(records, workdir)
            auth = ["--url", env["CKAN_URL"], "--token", env["CKAN_API_TOKEN"]]
            if name.startswith("ours"):
                cmd = [*OURS, *auth, "-q", "-j", name[-1], "load", "datasets", "-i", str(records_file),
                       "--checkpoint", str(workdir / "cp")]
            else:
                cmd = [str(CKANAPI), "load", "datasets", "-I", str(records_file), "-p", "3", "-q",
                       "-r", env["CKAN_URL"], "-a", env["CKAN_API_TOKEN"]]
            seconds = timed(lambda: run(cmd))
            loaded = count_datasets(env)
            print(f"    {name}: {seconds:.1f}s, {loaded} datasets in CKAN", flush=True)
            results[name].append(seconds)
    anchor = statistics.median(results["ckanapi load -p 3"])
    report("P2", "ckanapi load datasets -p 3", anchor, "s")
    for name in ("ours -j 3", "ours -j 8"):
        report("P2", f"ours load {name[5:]}", statistics.median(results[name]), "s", "ckanapi -p 3", anchor,
               "(target: >= 2x)")
    return env


def p1_full_read(env: dict[str, str], workdir: Path, runs: int) -> None:
    url, token = env["CKAN_URL"], env["CKAN_API_TOKEN"]
    auth = ["-r", url, "-a", token]
    out = workdir / "p1.jsonl"

    def floor() -> None:
        """The same search pages with bare requests, in a fresh process like the others."""
        run([sys.executable, "-c", FLOOR_CODE, url, token])

    ours = median_of(runs, lambda: run([*OURS, "--url", url, "--token", token, "-q", "dump", "datasets", "--all",
                                        "--include-private", "-o", str(out)]))
    written = sum(1 for _ in open(out, encoding="utf-8"))
    bare = median_of(runs, floor)
    search = median_of(runs, lambda: run([str(CKANAPI), "search", "datasets", "include_private:true", "-O",
                                          str(workdir / "p1-search.jsonl"), *auth]))
    dump = median_of(max(1, runs // 2), lambda: run([str(CKANAPI), "dump", "datasets", "--all", "-p", "3", "-q",
                                                     "-O", str(workdir / "p1-dump.jsonl"), *auth]))
    print(f"    our dump wrote {written} datasets", flush=True)
    report("P1", "floor: bare requests, same pages, one walk", bare, "s")
    report("P1", "ckanapi dump datasets --all -p 3", dump, "s")
    report("P1", "ckanapi search datasets", search, "s")
    report("P1", "ours dump datasets --all", ours, "s", "ckanapi dump", dump, "(target: >= 20x)")
    report("P1", "ours dump datasets --all", ours, "s", "ckanapi search", search)
    report("P1", "ours dump vs floor (time ratio)", ours / bare, "x", None, None, "(target: <= 1.3)")


FLOOR_CODE = """
import sys
import requests
url, token = sys.argv[1:3]
session = requests.Session()
last = None
while True:
    query = {"q": "*:*", "sort": "id asc", "rows": 1000, "include_private": True}
    if last:
        query["fq"] = '+(id:{"%s" TO *])' % last
    body = session.post(url + "/api/3/action/package_search", json=query, headers={"Authorization": token}).json()
    results = body["result"]["results"]
    if not results:
        break
    last = results[-1]["id"]
    if len(results) >= body["result"]["count"]:
        break
"""


P4_CODE = """
import json, os, sys, time
import requests
from ckan_api_client import CkanLowlevelClient
url, token, dataset, calls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
mode = sys.argv[5]
if mode == "ours":
    client = CkanLowlevelClient(url, token)
    client.get_dataset(dataset)
    started = time.process_time()
    for _ in range(calls):
        client.get_dataset(dataset)
elif mode == "ours-async":
    import asyncio
    from ckan_api_client.async_client import AsyncCkanLowlevelClient
    async def main():
        async with AsyncCkanLowlevelClient(url, token) as client:
            await client.get_dataset(dataset)
            started = time.process_time()
            for _ in range(calls):
                await client.get_dataset(dataset)
            return started
    started = asyncio.run(main())
elif mode == "bare-async":
    import asyncio, httpx
    async def main():
        headers = {"Authorization": token, "Content-Type": "application/json"}
        async with httpx.AsyncClient() as session:
            (await session.post(url + "/api/3/action/package_show", content=json.dumps({"id": dataset}),
                                headers=headers)).json()
            started = time.process_time()
            for _ in range(calls):
                response = await session.post(url + "/api/3/action/package_show",
                                              content=json.dumps({"id": dataset}), headers=headers)
                response.raise_for_status()
                result = response.json()["result"]
            return started
    started = asyncio.run(main())
else:
    session = requests.Session()
    headers = {"Authorization": token, "Content-Type": "application/json"}
    session.post(url + "/api/3/action/package_show", data=json.dumps({"id": dataset}), headers=headers).json()
    started = time.process_time()
    for _ in range(calls):
        response = session.post(url + "/api/3/action/package_show", data=json.dumps({"id": dataset}), headers=headers)
        response.raise_for_status()
        result = response.json()["result"]
print(time.process_time() - started)
"""


def p4_cpu_per_call(env: dict[str, str], runs: int, calls: int = 2000) -> None:
    from ckan_api_client import CkanLowlevelClient
    client = CkanLowlevelClient(env["CKAN_URL"], env["CKAN_API_TOKEN"])
    dataset = client.call_action("package_search", {"rows": 1, "sort": "num_resources desc"})["results"][0]["id"]
    cpu: dict[str, list[float]] = {"ours": [], "bare": [], "ours-async": [], "bare-async": []}
    for _ in range(runs):
        for mode in cpu:
            out = run([sys.executable, "-c", P4_CODE, env["CKAN_URL"], env["CKAN_API_TOKEN"], dataset, str(calls), mode])
            cpu[mode].append(float(out.stdout.strip()))
    bare, ours = statistics.median(cpu["bare"]), statistics.median(cpu["ours"])
    report("P4", f"bare requests+json CPU per call ({calls} calls)", bare / calls * 1e6, "us")
    report("P4", "ours CPU per call", ours / calls * 1e6, "us", "bare loop", bare / calls * 1e6, "(target: <= 1.15)")
    bare_async, ours_async = statistics.median(cpu["bare-async"]), statistics.median(cpu["ours-async"])
    report("P4", f"bare httpx.AsyncClient+json CPU per call ({calls} calls)", bare_async / calls * 1e6, "us")
    report("P4", "ours async CPU per call", ours_async / calls * 1e6, "us", "bare async loop",
           bare_async / calls * 1e6, "(target: <= 1.15)")


P9_STACKS = {
    "2.11.6": {"CKAN_STACK_CKAN_PORT": "25201", "CKAN_STACK_PG_PORT": "25633", "CKAN_STACK_REDIS_PORT": "26581",
               "CKAN_STACK_SOLR_PORT": "29185"},
    "2.10.11": {"CKAN_STACK_CKAN_PORT": "25202", "CKAN_STACK_PG_PORT": "25634", "CKAN_STACK_REDIS_PORT": "26582",
                "CKAN_STACK_SOLR_PORT": "29186"},
}

P9_READ = """
import asyncio, json, sys, time
from ckan_api_client import CkanLowlevelClient
from ckan_api_client.async_client import AsyncCkanLowlevelClient
sites, mode = json.loads(sys.argv[1]), sys.argv[2]
started = time.perf_counter()
if mode == "sync":
    counts = []
    for url, token in sites:
        with CkanLowlevelClient(url, token) as client:
            counts.append(sum(1 for _ in client.iter_datasets()))
else:
    async def read(url, token):
        async with AsyncCkanLowlevelClient(url, token) as client:
            return sum([1 async for _ in client.iter_datasets()])
    async def main():
        return await asyncio.gather(*(read(url, token) for url, token in sites))
    counts = asyncio.run(main())
print(json.dumps({"seconds": time.perf_counter() - started, "counts": list(counts)}))
"""


def p9_three_portals(env: dict[str, str], records_file: Path, records: list[dict[str, Any]], workdir: Path,
                     runs: int) -> None:
    """The 2.12 bench stack and two more (2.11, 2.10), each with the depositar records, read in full."""
    sites = [(env["CKAN_URL"], env["CKAN_API_TOKEN"])]
    for version, ports in P9_STACKS.items():
        stack = dict(os.environ, CKAN_VERSION=version, CKAN_STACK_DIR=str(REPO / ".ckan-stack-bench-p9"), **ports)
        subprocess.run([str(STACK), "up"], env=stack, check=True, capture_output=True)
        out = subprocess.run([str(STACK), "env"], env=stack, capture_output=True, text=True, check=True).stdout
        site = dict(line.split("=", 1) for line in out.splitlines())
        if count_datasets(site) < len(records) - 50:
            print(f"    loading the records into the {version} stack", flush=True)
            from ckan_api_client import CkanLowlevelClient
            from ckan_api_client.concurrency import run_concurrently
            client = CkanLowlevelClient(site["CKAN_URL"], site["CKAN_API_TOKEN"])
            for _ in run_concurrently(organizations_of(records),
                                      lambda o: client.call_action("organization_create", o), concurrency=4):
                pass
            run([*OURS, "--url", site["CKAN_URL"], "--token", site["CKAN_API_TOKEN"], "-q", "-j", "8", "load",
                 "datasets", "-i", str(records_file), "--checkpoint", str(workdir / f"cp-{version}")])
        sites.append((site["CKAN_URL"], site["CKAN_API_TOKEN"]))
    seconds: dict[str, list[float]] = {"sync": [], "async": []}
    for _ in range(runs):
        for mode in seconds:
            result = json.loads(run([sys.executable, "-c", P9_READ, json.dumps(sites), mode]).stdout)
            seconds[mode].append(result["seconds"])
    print(f"    datasets read per portal: {result['counts']}", flush=True)
    one_after_another = statistics.median(seconds["sync"])
    report("P9", "sync client, three portals one after another", one_after_another, "s")
    report("P9", "async client, three portals at once", statistics.median(seconds["async"]), "s",
           "sync, one after another", one_after_another)


P5_OURS = """
import sys
from ckan_api_client.high_level import CkanHighlevelClient
from ckan_api_client.files import download_resource
url, token, dataset, path, mode = sys.argv[1:6]
high = CkanHighlevelClient(url, token, timeout=600)
if mode == "upload":
    res = high.add_resource(dataset, {"name": "big"}, file=path)
    print(res.id)
else:
    res = high.get_resource(sys.argv[6])
    download_resource(high.client, res.to_api(), path, overwrite=True)
print(peak_mib(), file=sys.stderr)
"""

P5_CKANAPI = """
import sys
import ckanapi
url, token, dataset, path = sys.argv[1:5]
ckan = ckanapi.RemoteCKAN(url, apikey=token)
with open(path, "rb") as fh:
    ckan.action.resource_create(package_id=dataset, name="big-ckanapi", upload=fh)
print(peak_mib(), file=sys.stderr)
"""

# ru_maxrss survives exec on Linux (a child reports its parent's peak if larger): read VmHWM instead.
PEAK = """
def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""
P5_OURS, P5_CKANAPI = PEAK + P5_OURS, PEAK + P5_CKANAPI


def p5_memory(env: dict[str, str], workdir: Path, size_mib: int = 512) -> None:
    from ckan_api_client import CkanLowlevelClient
    client = CkanLowlevelClient(env["CKAN_URL"], env["CKAN_API_TOKEN"])
    org = client.post_organization({"name": f"bench-p5-{os.getpid()}-{int(time.time())}"})
    dataset = client.post_dataset({"name": org["name"], "owner_org": org["id"]})["id"]
    big = workdir / "big.bin"
    with open(big, "wb") as fh:
        block = os.urandom(1 << 20)
        for _ in range(size_mib):
            fh.write(block)
    args = [env["CKAN_URL"], env["CKAN_API_TOKEN"], dataset]
    up = run([sys.executable, "-c", P5_OURS, *args, str(big), "upload"], timeout=1800)
    resource_id = up.stdout.split()[0]
    ours_up = float(up.stderr.strip().splitlines()[-1])
    down = run([sys.executable, "-c", P5_OURS, *args, str(workdir / "back.bin"), "download", resource_id], timeout=1800)
    ours_down = float(down.stderr.strip().splitlines()[-1])
    same = os.path.getsize(workdir / "back.bin") == os.path.getsize(big)
    theirs = run([str(CKANAPI_PYTHON), "-c", P5_CKANAPI, *args, str(big)], timeout=1800)
    ckanapi_up = float(theirs.stderr.strip().splitlines()[-1])
    print(f"    downloaded file complete: {same}", flush=True)
    report("P5", f"ckanapi upload {size_mib} MiB: peak RSS", ckanapi_up, "MiB")
    report("P5", f"ours upload {size_mib} MiB: peak RSS", ours_up, "MiB", "ckanapi upload", ckanapi_up,
           "(target: < 100 MiB)")
    report("P5", f"ours download {size_mib} MiB: peak RSS", ours_down, "MiB", None, None, "(target: < 100 MiB)")
    big.unlink()
    (workdir / "back.bin").unlink()


P7_CODE = """
import json, sys, time
import requests
from ckan_api_client import CkanLowlevelClient
from ckan_api_client.datastore import DataStore
url, token, dataset, mode, rows = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
records = [{"station": f"s{i % 97}", "reading": i * 0.25, "count": i, "note": "測試 row %d" % i} for i in range(rows)]
fields = [{"id": "station", "type": "text"}, {"id": "reading", "type": "float8"}, {"id": "count", "type": "int8"},
          {"id": "note", "type": "text"}]
session = requests.Session()
headers = {"Authorization": token, "Content-Type": "application/json"}
def bare(action, payload):
    response = session.post(url + "/api/3/action/" + action, data=json.dumps(payload), headers=headers)
    response.raise_for_status()
    return response.json()["result"]
started = time.perf_counter()
if mode == "ours":
    store = DataStore(CkanLowlevelClient(url, token), chunk_size=5000, page_size=10000)
    rid = store.create(resource={"package_id": dataset, "name": "ours"}, fields=fields, records=records)
    loaded = time.perf_counter()
    n = sum(1 for _ in store.iter_records(rid))
else:
    rid = bare("datastore_create", {"resource": {"package_id": dataset, "name": "bare"}, "fields": fields,
                                    "records": records[:5000], "force": True})["resource_id"]
    for start in range(5000, rows, 5000):
        bare("datastore_upsert", {"resource_id": rid, "method": "insert", "force": True,
                                  "records": records[start:start + 5000], "calculate_record_count": False})
    loaded = time.perf_counter()
    n, offset = 0, 0
    while True:
        page = bare("datastore_search", {"resource_id": rid, "limit": 10000, "offset": offset, "sort": "_id",
                                         "include_total": False})["records"]
        n += len(page)
        offset += len(page)
        if len(page) < 10000:
            break
assert n == rows, n
print(rows / (loaded - started), rows / (time.perf_counter() - loaded))
"""


def p7_datastore(env: dict[str, str], runs: int, rows: int = 50_000) -> None:
    from ckan_api_client import CkanLowlevelClient
    client = CkanLowlevelClient(env["CKAN_URL"], env["CKAN_API_TOKEN"])
    org = client.post_organization({"name": f"bench-p7-{os.getpid()}-{int(time.time())}"})
    dataset = client.post_dataset({"name": org["name"], "owner_org": org["id"]})["id"]
    speeds: dict[str, list[tuple[float, float]]] = {"ours": [], "bare": []}
    for _ in range(runs):
        for mode in ("bare", "ours"):
            out = run([sys.executable, "-c", P7_CODE, env["CKAN_URL"], env["CKAN_API_TOKEN"], dataset, mode, str(rows)])
            write, read = map(float, out.stdout.split())
            speeds[mode].append((write, read))
    for index, what in ((0, "load"), (1, "read")):
        bare = statistics.median(v[index] for v in speeds["bare"])
        ours = statistics.median(v[index] for v in speeds["ours"])
        report("P7", f"bare requests DataStore {what}, rows/s", bare, "r/s")
        report("P7", f"ours DataStore {what}, rows/s", ours, "r/s", f"bare {what}", bare)


SYNC_RUNNER = PEAK + """
import json, sys
from ckan_api_client.cli import run
code = run(sys.argv[1:])
print(json.dumps({"exit": code, "peak_mib": peak_mib()}), file=sys.stderr)
"""


def sync_cli(env: dict[str, str], args: list[str], stdin: Any = None) -> tuple[dict[str, Any], float, float]:
    """Run ``ckan-api-client sync`` in a fresh process: (its summary, seconds, peak RSS in MiB)."""
    cmd = [sys.executable, "-c", SYNC_RUNNER, "--url", env["CKAN_URL"], "--token", env["CKAN_API_TOKEN"], "-q",
           "sync", *args]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=stdin, timeout=7200)
    seconds = time.perf_counter() - started
    tail = json.loads(proc.stderr.strip().splitlines()[-1])
    if tail["exit"] not in (0, 3):
        raise SystemExit(f"sync failed ({tail['exit']}): {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    return summary, seconds, float(tail["peak_mib"])


def p3_resync(env: dict[str, str], records: list[dict[str, Any]], workdir: Path, runs: int) -> None:
    tag = f"p3-{int(time.time())}"
    source = workdir / "p3.jsonl"
    source.write_text("".join(json.dumps({**r, "name": f"{r['name'][:80]}-{tag}"}, ensure_ascii=False) + "\n"
                              for r in records), encoding="utf-8")
    org = f"bench-{tag}"
    run([*OURS, "--url", env["CKAN_URL"], "--token", env["CKAN_API_TOKEN"], "action", "organization_create",
         f"name={org}"])
    common = [str(source), "--source-name", tag, "--default-organization", org, "--clean", "names",
              "--clean", "tags", "--state", str(workdir / "p3.sqlite")]
    first, first_seconds, _ = sync_cli(env, common)
    print(f"    first sync: {first['created']} created, {first['failures']} failures, {first['requests']} requests",
          flush=True)
    with_state, without_state = [], []
    for _ in range(runs):
        with_state.append(sync_cli(env, common))
        without_state.append(sync_cli(env, [*common[:-2], "--no-state"]))
    for label, results in (("with the state file", with_state), ("without state (full pages)", without_state)):
        seconds = statistics.median(r[1] for r in results)
        summary = results[0][0]
        assert summary["write_requests"] == 0 and summary["unchanged"] == len(records), summary
        report("P3", f"re-sync {label}: requests", summary["requests"], "req")
        report("P3", f"re-sync {label}: seconds", seconds, "s", "the first sync", first_seconds,
               "(target: <= 2% of it)" if "with the state" in label else "")
        print(f"        = {100 * seconds / first_seconds:.2f}% of the first sync's {first_seconds:.1f} s", flush=True)
    report("P3", "first sync of 1,839 records", first_seconds, "s")


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


def p6_sync_memory(env: dict[str, str], workdir: Path) -> None:
    tag = f"p6-{int(time.time())}"
    run([*OURS, "--url", env["CKAN_URL"], "--token", env["CKAN_API_TOKEN"], "action", "organization_create",
         f"name={tag}"])
    for count in (1000, 2000, 5000):
        source = workdir / f"p6-{count}.jsonl"
        with open(source, "w") as fh:
            subprocess.run([sys.executable, "-c", SYNTHETIC, str(count), f"{tag}-{count}"], stdout=fh, check=True)
        summary, seconds, peak = sync_cli(env, [str(source), "--source-name", f"{tag}-{count}",
                                                "--default-organization", tag, "--no-state"])
        print(f"    {count} records: {summary['created']} created in {seconds:.1f} s", flush=True)
        report("P6", f"real sync of {count:,} records: peak RSS", peak, "MiB")
    generator = subprocess.Popen([sys.executable, "-c", SYNTHETIC, "300000", f"{tag}-dry"], stdout=subprocess.PIPE)
    summary, seconds, peak = sync_cli(env, ["-", "--source-name", f"{tag}-dry", "--default-organization", tag,
                                            "--dry-run", "--no-state"], stdin=generator.stdout)
    generator.wait()
    print(f"    dry run: {summary['created']} planned creates in {seconds:.1f} s", flush=True)
    report("P6", "dry run of 300,000 records: peak RSS", peak, "MiB", None, None, "(target: < 300 MiB, flat)")


DESTINATION_PORTS = {"CKAN_STACK_DIR": str(REPO / ".ckan-stack-bench-destination"), "CKAN_STACK_CKAN_PORT": "25100",
                     "CKAN_STACK_PG_PORT": "25532", "CKAN_STACK_REDIS_PORT": "26479", "CKAN_STACK_SOLR_PORT": "29083"}


def destination_stack(records: list[dict[str, Any]], with_organizations: bool) -> dict[str, str]:
    """A second bench stack, emptied; with the records' organizations (ckanapi load needs them) or none."""
    env = dict(os.environ, **DESTINATION_PORTS)
    subprocess.run([str(STACK), "reset"], env=env, check=True, capture_output=True)
    out = subprocess.run([str(STACK), "env"], env=env, capture_output=True, text=True, check=True).stdout
    site = dict(line.split("=", 1) for line in out.splitlines())
    if with_organizations:
        from ckan_api_client import CkanLowlevelClient
        from ckan_api_client.concurrency import run_concurrently

        client = CkanLowlevelClient(site["CKAN_URL"], site["CKAN_API_TOKEN"])
        for _ in run_concurrently(organizations_of(records), lambda o: client.call_action("organization_create", o),
                                  concurrency=4):
            pass
    return site


def p8_mirror(env: dict[str, str], records: list[dict[str, Any]], workdir: Path) -> None:
    source = ["--from", env["CKAN_URL"], "--from-token", env["CKAN_API_TOKEN"], "--include-private"]
    target = destination_stack(records, with_organizations=False)
    mirror = [*OURS, "--url", target["CKAN_URL"], "--token", target["CKAN_API_TOKEN"], "-q", "mirror", *source,
              "--state", str(workdir / "p8.sqlite")]
    runs = []
    for label in ("first", "unchanged re-run"):
        started = time.perf_counter()
        out = run(mirror)
        seconds = time.perf_counter() - started
        summary = json.loads(out.stdout.strip().splitlines()[-1])
        runs.append((label, seconds, summary))
        datasets = summary["datasets"]
        print(f"    mirror {label}: {datasets['created']} created, {datasets['unchanged']} unchanged, "
              f"{datasets['failures']} failed, {datasets['requests']} destination requests", flush=True)
    target = destination_stack(records, with_organizations=True)
    auth_src = ["-r", env["CKAN_URL"], "-a", env["CKAN_API_TOKEN"]]
    auth_dst = ["-r", target["CKAN_URL"], "-a", target["CKAN_API_TOKEN"]]
    dumped = workdir / "p8-dump.jsonl"
    started = time.perf_counter()
    run([str(CKANAPI), "dump", "datasets", "--all", "-p", "3", "-q", "-O", str(dumped), *auth_src])
    run([str(CKANAPI), "load", "datasets", "-I", str(dumped), "-p", "3", "-q", *auth_dst])
    theirs = time.perf_counter() - started
    print(f"    ckanapi dump | load: {count_datasets(target)} datasets in the destination", flush=True)
    report("P8", "ckanapi dump --all -p 3 | load -p 3", theirs, "s")
    report("P8", "ours mirror, first run", runs[0][1], "s", "ckanapi dump | load", theirs)
    report("P8", "ours mirror, unchanged re-run", runs[1][1], "s", "ckanapi dump | load", theirs)
    report("P8", "ours mirror, unchanged re-run: destination requests", runs[1][2]["datasets"]["requests"], "req")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=["P2", "P1", "P3", "P4", "P5", "P6", "P7", "P8", "P9"])
    args = parser.parse_args()
    with gzip.open(DEPOSITAR, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    with tempfile.TemporaryDirectory(prefix="ckan-bench-") as tmp:
        workdir = Path(tmp)
        records_file = workdir / "depositar.jsonl"
        records_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        print(f"{len(records)} depositar records; median of {args.runs} runs\n", flush=True)
        env = stack_env()
        if "P2" in args.only:
            env = p2_bulk_create(records_file, records, workdir, args.runs)
        if count_datasets(env) < len(records) - 50:
            env = prepare_empty_site(records, workdir)
            run([*OURS, "--url", env["CKAN_URL"], "--token", env["CKAN_API_TOKEN"], "-q", "-j", "8", "load",
                 "datasets", "-i", str(records_file), "--checkpoint", str(workdir / "cp")])
        if "P1" in args.only:
            p1_full_read(env, workdir, args.runs)
        if "P3" in args.only:
            p3_resync(env, records, workdir, args.runs)
        if "P4" in args.only:
            p4_cpu_per_call(env, args.runs)
        if "P5" in args.only:
            p5_memory(env, workdir)
        if "P7" in args.only:
            p7_datastore(env, args.runs)
        if "P6" in args.only:
            p6_sync_memory(env, workdir)
        if "P8" in args.only:
            p8_mirror(env, records, workdir)
        if "P9" in args.only:
            p9_three_portals(env, records_file, records, workdir, args.runs)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(RESULTS, indent=1))


if __name__ == "__main__":
    main()
