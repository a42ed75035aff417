"""The files of many resources: downloaded beside a dump (with a manifest), uploaded again by a load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..blocking.client import CkanLowlevelClient
from ..blocking.concurrency import run_concurrently
from ..core.files import DownloadResult, resource_path
from ..core.streams import read_jsonl
from ..exceptions import InvalidInput
from .report import Failure, Report

__all__ = ["download_files", "read_manifest", "MANIFEST"]

MANIFEST = "manifest.jsonl"


def download_files(client: CkanLowlevelClient, resources: Iterable[tuple[Any, Mapping[str, Any]]],
                   folder: str | Path, *, concurrency: int = 4, overwrite: bool = False,
                   report: Report | None = None) -> Report:
    """Download resource files into ``folder/<resource id>/<name>`` concurrently, checked and resumable.

    ``resources`` are ``(dataset name, resource)`` pairs. Files already there and complete are skipped;
    a manifest (``manifest.jsonl``) records each file's resource, path, size and sha256
    ([`load`][ckan_api_client.engines.load.load] with ``files_dir`` restores them as uploads). Nothing is
    ever written outside ``folder``; a failed download leaves no folder. Counted into ``report``
    (``files downloaded``, ``files skipped``, and each failure) when given.
    """
    report = report or Report("download files")
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    todo = [(name, r) for name, r in resources
            if isinstance(r, Mapping) and str(r.get("url") or "").startswith(("http://", "https://"))]

    def fetch(item: tuple[Any, Mapping[str, Any]]) -> DownloadResult:
        return client.download_resource(item[1], resource_path(root, item[1]), overwrite=overwrite)

    with open(root / MANIFEST, "a", encoding="utf-8") as manifest:
        for (dataset_name, resource), outcome in run_concurrently(todo, fetch, concurrency=concurrency):
            if isinstance(outcome, Exception):
                report.add(Failure.of("download", str(resource.get("id")), outcome))
                continue
            report.count("files skipped" if outcome.skipped else "files downloaded")
            manifest.write(json.dumps({"dataset": dataset_name, "resource": resource.get("id"),
                                       "url_type": resource.get("url_type"),
                                       "path": str(outcome.path.relative_to(root.resolve())),
                                       "size": outcome.size, "sha256": outcome.sha256}, ensure_ascii=False) + "\n")
    return report


def read_manifest(folder: str | Path) -> dict[str, tuple[Path, int]]:
    """The files a dump with files left in ``folder``: resource id → (path, size); the last entry wins."""
    root = Path(folder)
    if not (root / MANIFEST).is_file():
        raise InvalidInput(f"{root} holds no {MANIFEST}: give the folder a dump --with-files wrote")
    files: dict[str, tuple[Path, int]] = {}
    for _, entry in read_jsonl(root / MANIFEST):
        if isinstance(entry, Mapping) and isinstance(entry.get("resource"), str) and entry.get("path"):
            path = (root / str(entry["path"])).resolve()
            if path.is_relative_to(root.resolve()) and path.is_file():
                files[entry["resource"]] = (path, path.stat().st_size)
    return files
