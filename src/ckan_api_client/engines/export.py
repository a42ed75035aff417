"""Export a portal's datasets: as a DCAT catalogue (DCAT-AP 3 in RDF, or DCAT-US ``data.json``) or as
Frictionless Data Packages with their files; from the portal (all, or a Solr filter) or from a dump file.

Both are resumable, as ``dump`` is: the DCAT document is written through ``NAME.part`` in batches, each
batch recorded in ``NAME.part.done`` (where it ends, the last dataset written), so a run cut short and
run again with ``resume`` continues after the last complete batch; a Data Package is complete once its
``datapackage.json`` is written, and a package of an unchanged dataset is not written again.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from ..blocking.client import CkanLowlevelClient
from ..blocking.concurrency import run_concurrently
from ..core.streams import final_path, is_regular_target, is_stdio, read_jsonl, require_folder
from ..exceptions import InvalidInput
from .delete import search
from .report import Failure, Interrupted, Measure, Progress, Report

__all__ = ["export_dcat", "export_datapackages", "datasets_from"]

BATCH = 200
"""Datasets written between two checkpoints of a DCAT export."""


def datasets_from(client: CkanLowlevelClient | None, input_path: str | Path | None, *, fq: str | None = None,
                  include_private: bool = False, after: str | None = None, skip: int = 0,
                  report: Report | None = None) -> Iterator[dict[str, Any]]:
    """The datasets to export: every one of a dump file (after the first ``skip``), or of the portal (those
    matching ``fq``, after the id ``after``, in id order)."""
    if input_path is not None:
        for index, (number, record) in enumerate(read_jsonl(input_path)):
            if index < skip:
                continue
            unreadable = Failure.of_line("read", None, number, record)
            if unreadable is not None:
                if report is not None:
                    report.add(unreadable)
                continue
            yield record
        return
    assert client is not None
    filters = " ".join(f for f in (fq, f'id:{{"{after}" TO *]' if after else None) if f) or None
    yield from search(client, fq=filters, include_private=include_private)


class Checkpointed:
    """Text written in batches through ``NAME.part``: each batch ends at a point the file may be cut back to
    (a whole gzip member when the name ends in ``.gz``), recorded with the last dataset's id in ``NAME.part.done``."""

    def __init__(self, path: str | Path, resume: bool) -> None:
        self.path = Path(path)
        self.final = final_path(path)
        self.part = self.final.with_name(self.final.name + ".part")
        self.done = self.final.with_name(self.final.name + ".part.done")
        self.gz = self.final.name.endswith(".gz")
        self.count, self.last_id = 0, None
        self.buffer = io.StringIO()
        offset = 0
        if resume and self.part.exists() and self.done.exists():
            lines = self.done.read_text(encoding="utf-8").split("\n")
            entries = [json.loads(line) for line in lines if line.strip()]
            if entries:
                offset, self.count, self.last_id = entries[-1]["offset"], entries[-1]["count"], entries[-1]["last_id"]
        elif resume:
            raise InvalidInput(f"nothing to resume: no {self.part.name} with its checkpoint beside {self.final}")
        with open(self.part, "r+b" if offset else "wb") as fh:
            fh.truncate(offset)
        if not offset:
            self.done.write_text("", encoding="utf-8")
        self.resumed = offset > 0

    def write(self, text: str) -> None:
        self.buffer.write(text)

    def checkpoint(self, count: int, last_id: str | None) -> None:
        """Put the buffered text on disk as a whole piece, and record where it ends."""
        data = self.buffer.getvalue().encode("utf-8")
        self.buffer = io.StringIO()
        with open(self.part, "ab") as fh:
            fh.write(gzip.compress(data, mtime=0) if self.gz else data)
            offset = fh.tell()
        self.count, self.last_id = count, last_id
        with open(self.done, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"offset": offset, "count": count, "last_id": last_id}) + "\n")

    def commit(self) -> None:
        os.replace(self.part, self.final)
        self.done.unlink(missing_ok=True)


def export_dcat(client: CkanLowlevelClient | None, path: str | Path, *, input_path: str | Path | None = None,
                fq: str | None = None, include_private: bool = False, profile: str = "dcat-ap-3", fmt: str = "turtle",
                base_url: str | None = None, title: str | None = None, resume: bool = False,
                progress: Progress | None = None, report: Report | None = None) -> Report:
    """Write the datasets (of the portal, or of the dump ``input_path``) as one DCAT catalogue at ``path``
    (``-``: stdout; ``.gz``: gzip), in constant memory; resumable (see the module documentation)."""
    from ..dcat import PROFILES, catalog_writer
    from ..dcat.serialize import CatalogInfo

    if profile not in PROFILES:
        raise InvalidInput(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    report = report or Report("")
    report.operation = f"export {profile}"
    site = client.base_url if client is not None else None
    info = CatalogInfo(base_url or site, title or (f"CKAN at {site}" if site else "CKAN catalogue"))
    require_folder(path)
    with Measure(report, *((client.transport,) if client is not None else ())):
        if client is not None:
            client.check_token()
        out = Checkpointed(path, resume) if is_regular_target(path) else None
        stream: IO[str] = out if out is not None else _stream(path)  # type: ignore[assignment]
        count = out.count if out is not None else 0
        report.count("kept from before", count)
        writer = catalog_writer(stream, profile=profile, fmt=fmt, info=info,
                                begun=out is not None and out.resumed, written=count)
        records = datasets_from(client, input_path, fq=fq, include_private=include_private,
                                after=out.last_id if out is not None and client is not None else None,
                                skip=count if input_path is not None else 0, report=report)
        try:
            for dataset in records:
                writer.write(dataset)
                count += 1
                report.count("written")
                if progress is not None:
                    progress.advance(1)
                if out is not None and count % BATCH == 0:
                    out.checkpoint(count, str(dataset.get("id") or ""))
            writer.close()
        except KeyboardInterrupt:
            raise Interrupted(report, str(out.part) if out is not None else None) from None
        if out is not None:
            out.checkpoint(count, None)
            out.commit()
        else:
            stream.flush()
    return report


def _stream(path: str | Path) -> IO[str]:
    """Standard output, or a special file (a pipe, /dev/stdout): written straight through, no resume."""
    return sys.stdout if is_stdio(path) else open(path, "w", encoding="utf-8")


def export_datapackages(client: CkanLowlevelClient, folder: str | Path, *, ids: Iterable[str] | None = None,
                        fq: str | None = None, include_private: bool = False, concurrency: int = 4,
                        progress: Progress | None = None, report: Report | None = None) -> Report:
    """One Data Package per dataset under ``folder/<dataset name>/`` (files and tables beside its
    ``datapackage.json``); a package of an unchanged dataset is kept as it is."""
    from ..datapackage import is_current, write_package

    report = report or Report("")
    report.operation = "export datapackage"
    root = Path(folder)
    with Measure(report, client.transport):
        client.check_token()
        # Ids are read by the workers, so one that is not there is a failure of its own, not of the run.
        datasets: Iterable[str | Mapping[str, Any]] = list(ids) if ids is not None else \
            search(client, fq=fq, include_private=include_private)

        def one(item: str | Mapping[str, Any]) -> str:
            dataset = client.get_dataset(item) if isinstance(item, str) else item
            target = root / str(dataset.get("name") or dataset.get("id"))
            if is_current(target, dataset):
                return "packages unchanged"
            files, tables = write_package(client, dataset, target, overwrite=True)
            report.count("files", files)
            report.count("tables", tables)
            return "packages written"

        for item, outcome in run_concurrently(datasets, one, concurrency=concurrency):
            if isinstance(outcome, Exception):
                report.add(Failure.of("export", item if isinstance(item, str) else str(item.get("name")), outcome))
            else:
                report.count(outcome)
            if progress is not None:
                progress.advance(1)
    return report
