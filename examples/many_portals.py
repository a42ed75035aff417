"""Mirror many portals at once on Dask distributed: one independent, resumable job per source portal.

An aggregator keeps copies of hundreds of portals. Each job is a plain function of a small dict
(URLs, tokens, a state file): it holds no connection between runs, and a job lost with its worker
is simply run again — its state file makes the re-run finish the work without duplicates.

    pip install 'ckan-api-client[dask]'
    python examples/many_portals.py jobs.json          # a JSON list of jobs, see mirror_job()

Against a cluster, pass its scheduler address: ``mirror_many(jobs, scheduler="tcp://host:8786")``.
"""

from __future__ import annotations

import json
import socket
import sys
from typing import Any


def mirror_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one mirror: ``source``/``source_token`` into ``destination``/``destination_token``.

    Optional: ``name``, ``fq``, ``organization``, ``include_private``, ``state``: where the job's state lives.
    Give a location every worker can reach (a path on a shared filesystem, or a URL: ``s3://bucket/x.sqlite``
    with s3fs, ``file:///shared/x.sqlite``), so that the job of the next night finds it on whatever worker it
    lands; the default (the worker's home directory) only serves a single machine. Returns a small summary
    (never raises for a failed portal: one unreachable portal must not stop the others)."""
    from ckan_api_client import CkanError, CkanLowlevelClient, Mirror

    where = {"source": job["source"], "worker": socket.gethostname() + ":" + str(_worker_id())}
    try:
        with CkanLowlevelClient(job["source"], job.get("source_token")) as source, \
                CkanLowlevelClient(job["destination"], job.get("destination_token")) as destination:
            report = Mirror(source, destination, name=job.get("name"), fq=job.get("fq"),
                            organization=job.get("organization"), include_private=job.get("include_private", False),
                            state=job.get("state", True)).run()
    except CkanError as error:
        return {**where, "ok": False, "error": str(error)}
    return {**where, "ok": report.ok, **report.summary()}


def _worker_id() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"


def mirror_many(jobs: list[dict[str, Any]], *, workers: int = 2, scheduler: str | None = None) -> list[dict[str, Any]]:
    """Run the jobs on Dask: a ``LocalCluster`` of ``workers`` processes, or the cluster at ``scheduler``."""
    from distributed import Client, LocalCluster

    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                   host="127.0.0.1", dashboard_address=None)
    try:
        with Client(scheduler or cluster) as client:
            futures = client.map(mirror_job, jobs, pure=False, retries=1)  # a job lost with its worker runs again
            return list(client.gather(futures))
    finally:
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        for result in mirror_many(json.load(fh)):
            print(json.dumps(result, ensure_ascii=False))
