"""Benchmarks: ckan-api-client side by side with ckanapi 4.11 and bare requests, on a local CKAN.

Run through ``bench/run`` (which brings up a dedicated stack and installs ckanapi in its own
venv). Each figure is the median of several runs; each line prints the ratio to its anchor.

P1  full read of the 1,839 depositar datasets: our dump vs ``ckanapi dump --all -p 3``, vs
    ``ckanapi search datasets``, and vs the floor (the same search pages with bare requests)
P2  bulk create of the same records into an empty CKAN: ``load -j 3`` and ``-j 8`` vs
    ``ckanapi load datasets -p 3`` and vs the floor (bare requests package_create, 8 in flight)
P8  mirror of the 1,839 depositar datasets into a second stack vs ``ckanapi dump datasets --all |
    ckanapi load datasets`` on the same pair, and the re-run of the unchanged mirror: requests, seconds
P9  the full read of three portals, one async client reading them at once vs the sync client walking
    them one after another: recorded answers replayed by loopback servers (the client's overlap, not
    CKAN's CPU), and the real 2.12, 2.11 and 2.10 bench stacks (three CKANs sharing this machine)
P4  client CPU per call: 2,000 package_show through our client vs a bare requests.Session + json, and
    through the async client vs a bare httpx.AsyncClient loop
P5  peak memory (max RSS) uploading and downloading a 512 MiB resource file, vs ckanapi's upload
P7  DataStore rows per second, loading and reading 50,000 rows, vs bare requests
P3  sync of the 1,839 depositar records, then re-syncs of the unchanged source with the state file and
    without it: requests and seconds, as a share of the first full sync (target: <= 2% of its time)
P6  peak memory (VmHWM) of the sync: a dry run of 300,000 synthetic records streamed from stdin, and
    real syncs of 1k, 2k and 5k records (target: flat, under 300 MB at 300k)
P10 DCAT harvest of the 1,839 vs ckanext-dcat's harvester; P11 memory of big DCAT exports and harvests
    (see bench/dcat_bench.py)

``--rtt 0 100`` runs P1, P2, P8 and P9 once per round trip: at 100 ms every portal is reached through
``bench/latency_proxy.py`` (a portal 100 ms away, like ``tc netem``), and P2 creates ``--limit``
records (default 300) instead of all. The others run on loopback only. Beyond loopback, P2, P8 and
ckanapi's P1 run once (a run takes minutes there); our P1, its floor and P9 still run ``--runs`` times
(a second or two each): on this 2-core machine one run moves by a third.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (CKANAPI, CKANAPI_PYTHON, DEPOSITAR, NET, OURS, PEAK, REPO,  # noqa: E402
                    RESULTS, STACK, SYNTHETIC, cli_measured, count_datasets, create_organizations, label, median_of,
                    prepare_empty_site, remote, report, run, stack_env, timed)
from dcat_bench import p10_harvest, p11_big_catalogues  # noqa: E402
from replay import ReplayPortal  # noqa: E402

BARE_CREATE = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
import requests
url, token, path, jobs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
records = [json.loads(line) for line in open(path, encoding="utf-8")]
sessions = {}
def create(record):
    import threading
    session = sessions.setdefault(threading.get_ident(), requests.Session())
    response = session.post(url + "/api/3/action/package_create", data=json.dumps(record),
                            headers={"Authorization": token, "Content-Type": "application/json"})
    return response.status_code
with ThreadPoolExecutor(jobs) as pool:
    codes = list(pool.map(create, records))
print(sum(code == 200 for code in codes))
"""


def p2_bulk_create(records: list[dict[str, Any]], workdir: Path, runs: int, limit: int | None) -> None:
    """Bulk create into an emptied bench site: ours at -j 3 and -j 8, the bare floor at 8, ckanapi -p 3."""
    chosen = records[:limit] if limit else records
    records_file = workdir / f"p2-{len(chosen)}.jsonl"
    records_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chosen), encoding="utf-8")
    # Ours at -j 8 last: the site is then left as bench_site loads it, for the figures after P2 (the bare floor's
    # and ckanapi's loads keep the records' uploads without their files: P8 would mirror another site).
    results: dict[str, list[float]] = {"ckanapi load -p 3": [], "bare -j 8": [], "ours -j 3": [], "ours -j 8": []}
    for _ in range(runs):
        for name in results:
            site = prepare_empty_site(chosen)
            with remote(site) as (env,):
                url, token = env["CKAN_URL"], env["CKAN_API_TOKEN"]
                if name.startswith("ours"):
                    cmd = [*OURS, "--url", url, "--token", token, "-q", "-j", name[-1], "load", "datasets", "-I",
                           str(records_file), "--checkpoint", str(workdir / "cp")]
                elif name.startswith("bare"):
                    cmd = [sys.executable, "-c", BARE_CREATE, url, token, str(records_file), name[-1]]
                else:
                    cmd = [str(CKANAPI), "load", "datasets", "-I", str(records_file), "-p", "3", "-q", "-r", url,
                           "-a", token]
                seconds = timed(lambda: run(cmd))
            loaded = count_datasets(site)
            print(f"    {label(name)}: {seconds:.1f}s, {loaded} datasets in CKAN", flush=True)
            results[name].append(seconds)
    what = f"{len(chosen)} records"
    anchor = statistics.median(results["ckanapi load -p 3"])
    floor = statistics.median(results["bare -j 8"])
    report("P2", label(f"ckanapi load datasets -p 3, {what}"), anchor, "s")
    report("P2", label(f"floor: bare package_create, 8 in flight, {what}"), floor, "s")
    for name in ("ours -j 3", "ours -j 8"):
        report("P2", label(f"ours load {name[5:]}, {what}"), statistics.median(results[name]), "s", "ckanapi -p 3",
               anchor, "(target: >= 2.5x)" if NET.rtt else "(target: >= 2x)")
    report("P2", label(f"ours load -j 8, {what}"), statistics.median(results["ours -j 8"]), "s", "bare -j 8 floor",
           floor, "(target: >= 0.9x)")


def bench_site(records_file: Path, records: list[dict[str, Any]]) -> dict[str, str]:
    """The bench site holding the depositar records (a few CKAN refuses stay out: 1,835 of the 1,839), reset and
    loaded when it holds anything else."""
    env = stack_env()
    if not len(records) - 50 <= count_datasets(env) <= len(records):
        env = prepare_empty_site(records)
        run([*OURS, "--url", env["CKAN_URL"], "--token", env["CKAN_API_TOKEN"], "-q", "-j", "8", "load",
             "datasets", "-I", str(records_file), "--checkpoint", str(records_file) + ".cp"])
    return env


def p1_full_read(site: dict[str, str], workdir: Path, runs: int, client_runs: int) -> None:
    """The full read: ours and the bare floor ``client_runs`` times each, taking turns, and beyond loopback
    the same two on loopback in the same turns (a drift of the machine's speed, which moves a run by a
    third here, falls on all alike); ckanapi ``runs`` times (it takes 20-80 s a run)."""
    out = workdir / "p1.jsonl"
    with remote(site) as (env,):
        url, token = env["CKAN_URL"], env["CKAN_API_TOKEN"]
        auth = ["-r", url, "-a", token]
        times: dict[str, list[float]] = {}
        targets = {"": url, **({"loopback ": site["CKAN_URL"]} if NET.rtt else {})}
        for turn in range(-1, client_runs):  # turn -1 is a warm-up, untimed
            for where, target in (targets.items() if turn % 2 == 0 else reversed(targets.items())):
                took = {"ours": timed(lambda: run([*OURS, "--url", target, "--token", token, "-q", "dump", "datasets",
                                                   "--all", "--include-private", "-O", str(out)])),
                        "bare": timed(lambda: run([sys.executable, "-c", FLOOR_CODE, target, token]))}
                for who, seconds in took.items():
                    if turn >= 0:
                        times.setdefault(where + who, []).append(seconds)
        ours, bare = statistics.median(times["ours"]), statistics.median(times["bare"])
        written = sum(1 for _ in open(out, encoding="utf-8"))
        search = median_of(runs, lambda: run([str(CKANAPI), "search", "datasets", "include_private:true", "-O",
                                              str(workdir / "p1-search.jsonl"), *auth]))
        dump = median_of(max(1, runs // 2), lambda: run([str(CKANAPI), "dump", "datasets", "--all", "-p", "3",
                                                         "-q", "-O", str(workdir / "p1-dump.jsonl"), *auth]))
    print(f"    our dump wrote {written} datasets", flush=True)
    report("P1", label("floor: bare requests, same pages, one walk"), bare, "s")
    report("P1", label("ckanapi dump datasets --all -p 3"), dump, "s")
    report("P1", label("ckanapi search datasets"), search, "s")
    report("P1", label("ours dump datasets --all"), ours, "s", "ckanapi dump", dump, "(target: >= 20x)")
    report("P1", label("ours dump datasets --all"), ours, "s", "ckanapi search", search)
    report("P1", label("ours dump vs floor (time ratio)"), ours / bare, "x", None, None, "(target: <= 1.3)")
    if NET.rtt:
        local, local_bare = statistics.median(times["loopback ours"]), statistics.median(times["loopback bare"])
        report("P1", label("ours dump on loopback, in the same turns"), local, "s")
        report("P1", label("ours dump vs ours on loopback (time ratio)"), ours / local, "x", None, None,
               "(target: <= 1.2)")
        report("P1", label("floor vs floor on loopback (time ratio)"), bare / local_bare, "x")


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
    from ckan_api_client import AsyncCkanLowlevelClient
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
    # CPU time on a 2-core machine that also runs the CKAN swings by a third from run to run; the
    # number of Python function calls per API call does not, and shows what the client adds.
    counted = {mode: python_calls_per_call(env, dataset, mode) for mode in cpu}
    for ours_mode, bare_mode, what in (("ours", "bare", "requests"), ("ours-async", "bare-async", "httpx")):
        report("P4", f"bare {what} loop: Python calls per API call", counted[bare_mode], "calls")
        report("P4", f"{ours_mode}: Python calls per API call", counted[ours_mode], "calls", f"bare {what} loop",
               counted[bare_mode])


def python_calls_per_call(env: dict[str, str], dataset: str, mode: str, calls: int = 200) -> float:
    """Python function calls (cProfile's count, the same in every run) per API call of a P4 loop: a run of
    ``calls`` calls minus a run of none, so imports and set-up do not count."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "p4.py"
        script.write_text(P4_CODE, encoding="utf-8")
        totals = []
        for count in (calls, 0):
            profile = Path(tmp) / f"p4-{count}.prof"
            run([sys.executable, "-m", "cProfile", "-o", str(profile), str(script), env["CKAN_URL"],
                 env["CKAN_API_TOKEN"], dataset, str(count), mode])
            totals.append(int(pstats.Stats(str(profile)).total_calls))  # type: ignore[attr-defined]
    return (totals[0] - totals[1]) / calls


P5_OURS = """
import sys
from ckan_api_client import CkanHighlevelClient
url, token, dataset, path, mode = sys.argv[1:6]
high = CkanHighlevelClient(url, token, timeout=600)
if mode == "upload":
    res = high.add_resource(dataset, {"name": "big"}, file=path)
    print(res.id)
else:
    res = high.get_resource(sys.argv[6])
    high.client.download_resource(res.to_api(), path, overwrite=True)
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
from ckan_api_client import DataStore
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


def sync_cli(env: dict[str, str], args: list[str], stdin: Any = None) -> tuple[dict[str, Any], float, float]:
    """Run ``ckan-api-client sync`` in a fresh process: (its summary, seconds, peak RSS in MiB)."""
    return cli_measured(["--url", env["CKAN_URL"], "--token", env["CKAN_API_TOKEN"], "-q", "sync", *args], stdin=stdin)


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
    print(f"    first sync: {first['counts'].get('created', 0)} created, {first['failed']} failures, {first['requests']} requests",
          flush=True)
    with_state, without_state = [], []
    for _ in range(runs):
        with_state.append(sync_cli(env, common))
        without_state.append(sync_cli(env, [*common[:-2], "--no-state"]))
    for label, results in (("with the state file", with_state), ("without state (full pages)", without_state)):
        seconds = statistics.median(r[1] for r in results)
        summary = results[0][0]
        assert summary["write_requests"] == 0 and summary["counts"].get("unchanged") == len(records), summary
        report("P3", f"re-sync {label}: requests", summary["requests"], "req")
        report("P3", f"re-sync {label}: seconds", seconds, "s", "the first sync", first_seconds,
               "(target: <= 2% of it)" if "with the state" in label else "")
        print(f"        = {100 * seconds / first_seconds:.2f}% of the first sync's {first_seconds:.1f} s", flush=True)
    report("P3", "first sync of 1,839 records", first_seconds, "s")


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
        print(f"    {count} records: {summary['counts'].get('created', 0)} created in {seconds:.1f} s", flush=True)
        report("P6", f"real sync of {count:,} records: peak RSS", peak, "MiB")
    generator = subprocess.Popen([sys.executable, "-c", SYNTHETIC, "300000", f"{tag}-dry"], stdout=subprocess.PIPE)
    summary, seconds, peak = sync_cli(env, ["-", "--source-name", f"{tag}-dry", "--default-organization", tag,
                                            "--dry-run", "--no-state"], stdin=generator.stdout)
    generator.wait()
    print(f"    dry run: {summary['counts'].get('created', 0)} planned creates in {seconds:.1f} s", flush=True)
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
        create_organizations(site, records)
    return site


def requests_to(summary: dict[str, Any], site: dict[str, str]) -> int:
    """The requests a run's summary counted for one site (by its URL, proxied or not)."""
    by_site = summary["details"].get("requests_by_site", {})
    return int(sum(n for url, n in by_site.items() if url.rstrip("/") == site["CKAN_URL"].rstrip("/")))


UPLOADS = 20


def with_uploads(site: dict[str, str]) -> int:
    """The bench site with ``UPLOADS`` uploaded files of 1 MiB (one each in as many datasets): the mirror copies
    them (ckanapi's dump | load leaves them pointing at the source). How many the site holds."""
    import io

    from ckan_api_client import CkanLowlevelClient

    with CkanLowlevelClient(site["CKAN_URL"], site["CKAN_API_TOKEN"]) as client:
        held = client.call_action("package_search", {"fq": "res_name:\"bench upload\"", "rows": 0,
                                                     "include_private": True})["count"]
        names = [d["name"] for d in client.call_action("package_search", {"rows": UPLOADS, "sort": "name asc",
                                                                          "include_private": True})["results"]]
        for name in names[held:]:
            client.upload_resource(name, (f"bench-upload-{name[:40]}.bin", io.BytesIO(os.urandom(1 << 20))),
                                   name="bench upload", format="BIN")
    return int(max(held, len(names)))


def p8_mirror(site: dict[str, str], records: list[dict[str, Any]], workdir: Path) -> None:
    """Our mirror of the bench site (and its uploaded files) into an empty second stack, then its unchanged
    re-run, vs ckanapi dump | load."""
    uploads = with_uploads(site)
    target = destination_stack(records, with_organizations=False)
    state = workdir / f"p8-{NET.rtt:g}.sqlite"
    runs = []
    with remote(site, target) as (source, destination):
        mirror = [*OURS, "--url", destination["CKAN_URL"], "--token", destination["CKAN_API_TOKEN"], "-q",
                  "mirror", "--from", source["CKAN_URL"], "--from-token", source["CKAN_API_TOKEN"],
                  "--include-private", "--state", str(state)]
        for name in ("first run", "unchanged re-run"):
            started = time.perf_counter()
            summary = json.loads(run(mirror).stdout.strip().splitlines()[-1])
            seconds = time.perf_counter() - started
            counts = summary["counts"]
            sent = {"source": requests_to(summary, source), "destination": requests_to(summary, destination)}
            runs.append((seconds, summary, sent))
            print(f"    mirror {label(name)}: {counts.get('created', 0)} created, {counts.get('unchanged', 0)} "
                  f"unchanged, {counts.get('files copied', 0)} of {uploads} files copied, "
                  f"{counts.get('source datasets read', 0)} source datasets read in full, "
                  f"{summary['failed']} failed, {sent['destination']} destination and {sent['source']} source "
                  f"requests, {seconds:.1f} s", flush=True)
    target = destination_stack(records, with_organizations=True)
    with remote(site, target) as (source, destination):
        dumped = workdir / "p8-dump.jsonl"
        started = time.perf_counter()
        run([str(CKANAPI), "dump", "datasets", "--all", "-p", "3", "-q", "-O", str(dumped), "-r",
             source["CKAN_URL"], "-a", source["CKAN_API_TOKEN"]])
        run([str(CKANAPI), "load", "datasets", "-I", str(dumped), "-p", "3", "-q", "-r", destination["CKAN_URL"],
             "-a", destination["CKAN_API_TOKEN"]])
        theirs = time.perf_counter() - started
    print(f"    ckanapi dump | load: {count_datasets(target)} datasets in the destination", flush=True)
    report("P8", label("ckanapi dump --all -p 3 | load -p 3"), theirs, "s")
    report("P8", label("ours mirror, first run"), runs[0][0], "s", "ckanapi dump | load", theirs,
           "(target: >= 2x)")
    report("P8", label("ours mirror, unchanged re-run"), runs[1][0], "s", "ckanapi dump | load", theirs,
           "(target: <= 3 s)" if NET.rtt else "(target: <= 2 s)")
    for side in ("source", "destination"):
        report("P8", label(f"ours mirror, unchanged re-run: {side} requests"), runs[1][2][side], "req", None,
               None, "(target: <= 8)")
    report("P8", label("ours mirror, unchanged re-run: source datasets read in full"),
           runs[1][1]["counts"].get("source datasets read", 0), "", None, None, "(target: 0)")


P9_STACKS = {
    "2.11.6": {"CKAN_STACK_CKAN_PORT": "25201", "CKAN_STACK_PG_PORT": "25633", "CKAN_STACK_REDIS_PORT": "26581",
               "CKAN_STACK_SOLR_PORT": "29185"},
    "2.10.11": {"CKAN_STACK_CKAN_PORT": "25202", "CKAN_STACK_PG_PORT": "25634", "CKAN_STACK_REDIS_PORT": "26582",
                "CKAN_STACK_SOLR_PORT": "29186"},
}

P9_READ = """
import asyncio, json, sys, time
from ckan_api_client import AsyncCkanLowlevelClient, CkanLowlevelClient
sites, mode = json.loads(sys.argv[1]), sys.argv[2]
async def read(url, token):
    async with AsyncCkanLowlevelClient(url, token) as client:
        return sum([1 async for _ in client.iter_datasets()])
async def bare_read(url, token):
    # The floor: the same four id ranges walked at once with a bare httpx.AsyncClient and json, nothing else.
    import httpx
    from ckan_api_client.core.entities import id_ranges
    async with httpx.AsyncClient(timeout=60) as session:
        async def walk(low, high, first):
            count, last = 0, None
            while True:
                after = last or (low if first else None)
                opening = '{"%s"' % after if after else ('["%s"' % low if low else "[*")
                query = {"q": "*:*", "sort": "id asc", "rows": 1000, "include_private": True,
                         "fq": "id:%s TO %s" % (opening, '"%s"}' % high if high else "*]")}
                response = await session.post(url + "/api/3/action/package_search", json=query,
                                              headers={"Authorization": token})
                response.raise_for_status()
                page = json.loads(response.content)["result"]["results"]
                count += len(page)
                if len(page) < 1000:
                    return count
                last = page[-1]["id"]
        ranges = id_ranges(4)
        return sum(await asyncio.gather(*(walk(low, high, i == 0) for i, (low, high) in enumerate(ranges))))
async def warm(url, token):
    async with AsyncCkanLowlevelClient(url, token) as client:
        await client.call_action("status_show")
# Both HTTP stacks warmed before the clock (httpx imports its backends at the first request): what is
# measured is the reading, not the first use of a library.
with CkanLowlevelClient(*sites[0]) as client:
    client.call_action("status_show")
asyncio.run(warm(*sites[0]))
started = time.perf_counter()
alone = []
if mode == "sync":
    counts = []
    for url, token in sites:
        with CkanLowlevelClient(url, token) as client:
            counts.append(sum(1 for _ in client.iter_datasets()))
elif mode in ("alone", "bare-alone"):
    counts = []
    for url, token in sites:
        began = time.perf_counter()
        counts.append(asyncio.run((bare_read if mode == "bare-alone" else read)(url, token)))
        alone.append(time.perf_counter() - began)
else:
    async def main():
        return await asyncio.gather(*((bare_read if mode == "bare" else read)(url, token) for url, token in sites))
    counts = asyncio.run(main())
print(json.dumps({"seconds": time.perf_counter() - started, "counts": list(counts), "slowest_alone": max(alone or [0])}))
"""


def p9_stacks(records_file: Path, records: list[dict[str, Any]], workdir: Path) -> list[dict[str, str]]:
    """The 2.11 and 2.10 bench stacks, each holding the depositar records."""
    sites = []
    for version, ports in P9_STACKS.items():
        stack = dict(os.environ, CKAN_VERSION=version, CKAN_STACK_DIR=str(REPO / ".ckan-stack-bench-p9"), **ports)
        subprocess.run([str(STACK), "up"], env=stack, check=True, capture_output=True)
        out = subprocess.run([str(STACK), "env"], env=stack, capture_output=True, text=True, check=True).stdout
        site = dict(line.split("=", 1) for line in out.splitlines())
        if count_datasets(site) < len(records) - 50:
            print(f"    loading the records into the {version} stack", flush=True)
            create_organizations(site, records)
            run([*OURS, "--url", site["CKAN_URL"], "--token", site["CKAN_API_TOKEN"], "-q", "-j", "8", "load",
                 "datasets", "-I", str(records_file), "--checkpoint", str(workdir / f"cp-{version}")])
        sites.append(site)
    return sites


def p9_three_portals(site: dict[str, str], records_file: Path, records: list[dict[str, Any]], workdir: Path,
                     runs: int) -> None:
    """Three portals read in full, replayed (the client's overlap alone) and real (three CKANs on 2 cores)."""
    with gzip.open(DEPOSITAR, "rt", encoding="utf-8") as fh:
        datasets = [json.loads(line) for line in fh if line.strip()]
    real = [site, *p9_stacks(records_file, records, workdir)]
    with ExitStack() as stack:
        replayed = []
        for _ in range(3):
            portal = stack.enter_context(ReplayPortal(datasets))
            replayed.append({"CKAN_URL": f"http://127.0.0.1:{portal.port}", "CKAN_API_TOKEN": "replayed"})
        for kind, portals in (("replayed", replayed), ("real stacks", real)):
            with remote(*portals) as reached:
                sites = json.dumps([(p["CKAN_URL"], p["CKAN_API_TOKEN"]) for p in reached])
                modes = ["sync", "async", "alone", *(["bare", "bare-alone"] if kind == "replayed" else [])]
                results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
                for _ in range(runs):
                    for mode in results:
                        results[mode].append(json.loads(run([sys.executable, "-c", P9_READ, sites, mode]).stdout))
            print(f"    {kind}: datasets read per portal: {results['async'][-1]['counts']}", flush=True)
            one_after_another = statistics.median(r["seconds"] for r in results["sync"])
            at_once = statistics.median(r["seconds"] for r in results["async"])
            slowest = statistics.median(r["slowest_alone"] for r in results["alone"])
            report("P9", label(f"{kind}: sync client, one after another"), one_after_another, "s")
            report("P9", label(f"{kind}: async client, slowest portal alone"), slowest, "s")
            report("P9", label(f"{kind}: async client, three at once"), at_once, "s", "sync, one after another",
                   one_after_another, "(target: >= 2.5x)" if kind == "replayed" else "")
            report("P9", label(f"{kind}: three at once vs slowest alone (time ratio)"), at_once / slowest, "x",
                   None, None, "(target: <= 1.2)" if kind == "replayed" else "")
            if kind == "replayed":  # the floor: what bare httpx + json reach on the same pages, at once and alone
                bare_at_once = statistics.median(r["seconds"] for r in results["bare"])
                bare_alone = statistics.median(r["slowest_alone"] for r in results["bare-alone"])
                report("P9", label("replayed: bare httpx + json, three at once"), bare_at_once, "s")
                report("P9", label("replayed: bare httpx + json, slowest alone"), bare_alone, "s")
                report("P9", label("replayed: bare, three at once vs slowest alone"), bare_at_once / bare_alone, "x")
                report("P9", label("replayed: ours at once vs bare at once (time ratio)"), at_once / bare_at_once, "x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*",
                        default=["P2", "P1", "P8", "P9", "P4", "P5", "P7", "P3", "P6", "P10", "P11"])
    parser.add_argument("--rtt", type=float, nargs="+", default=[0.0],
                        help="round trips in milliseconds, one pass each for P1, P2, P8 and P9 (e.g. 0 100)")
    parser.add_argument("--bandwidth", type=float, help="bytes per second per direction through the delay proxy")
    parser.add_argument("--limit", type=int, default=300, help="records P2 creates when the round trip is not 0")
    args = parser.parse_args()
    NET.bandwidth = args.bandwidth
    with gzip.open(DEPOSITAR, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    with tempfile.TemporaryDirectory(prefix="ckan-bench-") as tmp:
        workdir = Path(tmp)
        records_file = workdir / "depositar.jsonl"
        records_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        print(f"{len(records)} depositar records; median of {args.runs} runs\n", flush=True)
        for rtt in sorted(args.rtt):
            NET.rtt = rtt / 1000
            runs = args.runs if not NET.rtt else 1
            if NET.rtt:
                print(f"\n--- every portal {rtt:g} ms away (bench/latency_proxy.py) ---", flush=True)
            if "P2" in args.only:
                p2_bulk_create(records, workdir, runs, args.limit if NET.rtt else None)
            site = bench_site(records_file, records)
            if "P1" in args.only:
                p1_full_read(site, workdir, runs, args.runs)
            if "P8" in args.only:
                p8_mirror(site, records, workdir)
            if "P9" in args.only:
                p9_three_portals(site, records_file, records, workdir, args.runs)  # a few seconds a run
        NET.rtt = 0.0
        if 0 not in args.rtt:
            return
        site = bench_site(records_file, records)
        if "P4" in args.only:
            p4_cpu_per_call(site, args.runs)
        if "P5" in args.only:
            p5_memory(site, workdir)
        if "P7" in args.only:
            p7_datastore(site, args.runs)
        if "P3" in args.only:
            p3_resync(site, records, workdir, args.runs)
        if "P6" in args.only:
            p6_sync_memory(site, workdir)
        if "P10" in args.only:
            p10_harvest(workdir)
        if "P11" in args.only:
            p11_big_catalogues(workdir)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(RESULTS, indent=1))


if __name__ == "__main__":
    main()
