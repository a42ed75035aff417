"""Dump datasets, organizations or groups to JSON Lines, resumable, with their files if asked.

All datasets (or those matching a filter) come from keyset-paged searches, the id space walked in
several ranges at once and written in id order; named records (and every organization or group)
from ``*_show`` with bounded concurrency, in the order given. A regular file is written as
``NAME.part`` and renamed when complete; ``resume`` continues a ``.part`` left by a run cut short.
"""

from __future__ import annotations

import json
import tempfile
from concurrent.futures import Future
from contextlib import closing, suppress
from pathlib import Path
from typing import IO, Any, Callable, Generator, Iterable, Iterator, Mapping, NamedTuple

from ..blocking.client import CkanLowlevelClient
from ..blocking.concurrency import Runner, alongside, run_concurrently
from ..core.entities import id_ranges, range_bounds
from ..core.objects import entity_of
from ..core.streams import TextOutput, final_path, read_jsonl
from ..exceptions import CkanError, InvalidInput
from .files import download_files
from .report import Failure, Interrupted, Measure, Progress, Report

__all__ = ["dump"]

MAX_WALKS = 8
"""The most id ranges a dump of all datasets walks at once."""


def dump(client: CkanLowlevelClient, kind: str, path: str | Path, *, ids: Iterable[str] | None = None,
         include_private: bool = False, include_drafts: bool = False, fq: str | None = None, resume: bool = False,
         concurrency: int = 4, files_dir: str | Path | None = None, overwrite_files: bool = False,
         progress: Progress | None = None, report: Report | None = None) -> Report:
    """Write datasets, organizations or groups as JSON Lines to ``path`` (gzip if it ends in .gz; ``-``: stdout).

    ``ids`` names the records to dump (default: all). ``fq`` narrows a dump of all datasets;
    ``include_private`` and ``include_drafts`` widen it to what the token may see. A regular
    file appears under its name only when complete; ``resume`` continues a ``.part`` left by a run cut
    short, keeping what it holds. ``files_dir`` also downloads the datasets' resource files (see
    [`download_files`][ckan_api_client.engines.files.download_files]); the report's figures cover the whole
    operation. Raises [`Interrupted`][ckan_api_client.engines.report.Interrupted] on Ctrl-C, with the ``.part`` kept.
    """
    entity = entity_of(kind)
    if fq is not None and (entity != "dataset" or ids is not None):
        raise InvalidInput("a search filter (fq) narrows a dump of all datasets only")
    report = report or Report("")
    report.operation = f"dump {kind}"
    with Measure(report, client.transport), alongside(client.check_token) as checked:
        # The token is checked while the first pages come; nothing is written before it passes, so an
        # unknown token never leaves an anonymous dump.
        token_check: Future[None] | None = checked
        output = TextOutput(path, resume=resume)
        report.count("kept from before", output.kept_count)
        report.details["output"] = str(path)
        resources: list[tuple[Any, dict[str, Any]]] = []
        try:
            if ids is None and entity == "dataset":
                lines = all_datasets(client, output, concurrency, Visibility(include_private, include_drafts), fq,
                                     report, progress)
            else:
                lines = named_records(client, entity, output, ids, concurrency, report, progress)
            with closing(lines):  # on any failure the walks stop here, not when the collector finds them
                for line, dataset in lines:
                    if token_check is not None:
                        token_check.result()
                        token_check = None
                    output.write_line(line)
                    if files_dir is not None and not output.regular and dataset is not None:
                        # stdout or a special file cannot be read back: note the files as they go
                        resources.extend((dataset.get("name"), r) for r in dataset.get("resources") or [])
            if token_check is not None:  # nothing was written: the token is checked all the same
                token_check.result()
        except KeyboardInterrupt:
            output.abandon()
            raise Interrupted(report, output.where) from None
        except BaseException:
            if token_check is not None and token_check.done() and token_check.exception() is not None:
                output.discard()  # the token was refused before a line was written: nothing is left behind
            else:
                output.abandon()
            raise
        output.commit()
        if files_dir is not None and entity == "dataset":
            if output.regular:  # read back, so that records kept from a resumed run count too
                resources = [(d.get("name"), r) for _, d in read_jsonl(final_path(path)) if isinstance(d, Mapping)
                             for r in d.get("resources") or []]
            download_files(client, resources, files_dir, concurrency=concurrency, overwrite=overwrite_files,
                           report=report)
    return report


def _json_line(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


class Visibility(NamedTuple):
    """Which datasets a search may return beyond the public, active ones (each needs a token that sees them)."""

    include_private: bool = False
    include_drafts: bool = False


def all_datasets(client: CkanLowlevelClient, output: TextOutput, concurrency: int, visibility: Visibility,
                 fq: str | None, report: Report, progress: Progress | None
                 ) -> Generator[tuple[str, dict[str, Any] | None], None, None]:
    """Every dataset after the last one kept, as a JSON line (and the dataset, when it must be noted).

    A progress bar's total is counted beside the walks, not before them: every request of the start goes out
    at once (the command line opened a connection ahead for each)."""
    def count_for_the_bar() -> None:
        if progress is None or not progress.wants_total:
            return
        query = {"rows": 0, **visibility._asdict(), **({"fq": fq} if fq else {})}
        with suppress(CkanError):  # only the bar needs it; a search that fails fails the walks too
            found = client.call_action("package_search", query)
            if isinstance(found, dict) and isinstance(found.get("count"), int):
                progress.total(max(0, found["count"] - output.kept_count))

    last = max((str(i) for i, _ in output.kept_ids if isinstance(i, str)), default=None)
    spool_dir = Path(output.part).parent if output.part is not None else None
    with alongside(count_for_the_bar):
        for line in walk_in_parallel(client, spool_dir, concurrency, visibility, fq, last, report, progress):
            yield line, (None if output.regular else json.loads(line))


def named_records(client: CkanLowlevelClient, entity: str, output: TextOutput, ids: Iterable[str] | None,
                  concurrency: int, report: Report, progress: Progress | None
                  ) -> Generator[tuple[str, dict[str, Any] | None], None, None]:
    """The named records (every one of the kind when ``ids`` is None), shown concurrently, in order."""
    done = {ref for pair in output.kept_ids for ref in pair}
    if ids is None:
        ids = [g["id"] for g in client.list_group_summaries(entity)]
    show = {"dataset": client.get_dataset, "organization": client.get_organization, "group": client.get_group}[entity]
    todo = [i for i in ids if i not in done]
    if progress is not None:
        progress.total(len(todo))
    for ref, shown in run_concurrently(todo, show, concurrency=concurrency, ordered=True):
        if isinstance(shown, Exception):
            report.add(Failure.of(f"show {entity}", ref, shown))
        else:
            report.count("written")
            yield _json_line(shown), (shown if entity == "dataset" else None)
        if progress is not None:
            progress.advance(1)


def walk_in_parallel(client: CkanLowlevelClient, spool_dir: Path | None, concurrency: int,
                     visibility: Visibility, fq: str | None, after: str | None, report: Report,
                     progress: Progress | None) -> Iterator[str]:
    """Every dataset after ``after`` as a JSON line, in id order, fetched by several keyset walks at once.

    The id space is split into ranges walked concurrently; each range is spooled to a temporary
    file (beside the output when it is a regular file; bounded memory) and yielded in order once
    the ranges before it are done, so the output stays in global id order and a cut-off dump
    resumes from its last id.
    """
    ranges = id_ranges(max(1, min(concurrency, MAX_WALKS)), after)
    rows = client.page_size or 1000

    def walk(bounds: tuple[str | None, str | None]) -> IO[str]:
        spool = tempfile.TemporaryFile("w+", encoding="utf-8", dir=spool_dir, prefix=".dump-")
        for page in client.search_pages(None, rows, fq=fq, **visibility._asdict(),
                                        **range_bounds(ranges, ranges.index(bounds))):
            if walks.stopping.is_set():
                break  # another range failed, or the dump was stopped: this walk is not needed
            for dataset in page:
                spool.write(_json_line(dataset))
            report.count("written", len(page))
            if progress is not None:
                progress.advance(len(page))
        spool.seek(0)
        return spool

    walks: Runner[tuple[str | None, str | None], IO[str]] = Runner(
        ranges, walk, concurrency=len(ranges), ordered=True, fatal=(Exception,))
    for _, spool in walks:
        assert not isinstance(spool, Exception)  # an error in any range is fatal: raised, never an outcome
        with spool:
            yield from spool
