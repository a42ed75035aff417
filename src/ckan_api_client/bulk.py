"""The bulk engine: dump, load, delete and search many records, with bounded concurrency.

Everything here runs over one shared client (one session, one retry policy, one rate limit).

:func:`run_concurrently` is the one worker loop that the sync client and every bulk command
use: at most ``concurrency`` calls in flight, at most ``2 × concurrency`` tasks taken from the
input ahead of time (so a huge input is streamed, not loaded), results yielded as they finish or,
with ``ordered=True``, in input order. A task that raises does not stop the others: its exception
is yielded as its outcome.
"""

from __future__ import annotations

import collections
import gzip
import json
import os
import tempfile
import threading
import time
import zlib
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Mapping, TypeVar

from .exceptions import CkanError, InvalidInput, NotFound, ValidationError, outcome_unknown
from .low_level import CkanLowlevelClient
from .objects import portable_dataset, portable_group

__all__ = ["run_concurrently", "dump", "load", "delete", "search", "download_files", "read_jsonl",
           "JsonlWriter", "BulkReport", "RecordError"]

T = TypeVar("T")
R = TypeVar("R")

def run_concurrently(tasks: Iterable[T], worker: Callable[[T], R], *, concurrency: int = 4,
                     ordered: bool = False) -> Iterator[tuple[T, "R | Exception"]]:
    """Yield ``(task, result)`` for each task, ``result`` being the worker's return or its exception."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    window = concurrency * 2
    iterator = iter(tasks)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ckan-bulk") as pool:
        pending: collections.deque[tuple[T, Future[R]]] = collections.deque()

        def fill() -> None:
            while len(pending) < window:
                try:
                    task = next(iterator)
                except StopIteration:
                    return
                pending.append((task, pool.submit(worker, task)))

        def outcome(future: Future[R]) -> "R | Exception":
            error = future.exception()
            if error is not None:
                if not isinstance(error, Exception):
                    raise error  # KeyboardInterrupt, SystemExit: stop everything
                return error
            return future.result()

        fill()
        while pending:
            if ordered:
                task, future = pending.popleft()
                yield task, outcome(future)
            else:
                done, _ = wait([f for _, f in pending], return_when=FIRST_COMPLETED)
                finished = [(t, f) for t, f in pending if f in done]
                for item in finished:
                    pending.remove(item)
                for task, future in finished:
                    yield task, outcome(future)
            fill()


# ---------------------------------------------------------------------------- JSON Lines files


def open_text(path: Path, mode: str, gz: bool | None = None) -> IO[str]:
    """Open a text file, through gzip when its name ends in .gz (or ``gz`` says so)."""
    if path.suffix == ".gz" if gz is None else gz:
        return gzip.open(path, mode + "t", encoding="utf-8", newline="")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8", newline="")


def read_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed value)`` for each non-blank line; a line that is not JSON gives the
    :class:`ValueError` as its value, so one bad line does not stop the reader."""
    with open_text(Path(path), "r") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError as error:
                yield number, ValueError(f"line {number} is not JSON: {error}")


def _complete_records(path: Path) -> list[dict[str, Any]]:
    """The complete records of a JSON Lines file cut off mid-write (a torn last line is dropped)."""
    records = []
    try:
        with open_text(path, "r") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break
                try:
                    value = json.loads(line)
                except ValueError:
                    break
                if isinstance(value, dict):
                    records.append(value)
    except (EOFError, OSError, zlib.error, UnicodeDecodeError):
        pass  # a gzip stream cut off mid-block: keep what was readable
    return records


class JsonlWriter:
    """Writes one JSON object per line (gzip when the name ends in .gz), atomically on resume."""

    def __init__(self, path: str | Path, *, resume: bool = False) -> None:
        self.path = Path(path)
        self.existing: list[dict[str, Any]] = _complete_records(self.path) if resume and self.path.exists() else []
        # Rewrite what survived into a fresh file: this drops a torn last line (or gzip block).
        self._tmp = self.path.with_name(self.path.name + ".partial")
        self._fh = open_text(self._tmp, "w", gz=self.path.suffix == ".gz")
        for record in self.existing:
            self.write(record)

    def write(self, record: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")

    def write_line(self, line: str) -> None:
        """Write one record already encoded as a JSON line (ending in a newline)."""
        self._fh.write(line)

    def close(self) -> None:
        """Finish: the file is complete and in place."""
        self._fh.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Stop early but keep what was written, so that a resume can continue from it."""
        self._fh.close()
        os.replace(self._tmp, self.path)


# ---------------------------------------------------------------------------- reports


@dataclass
class RecordError:
    """One record that failed, with where it came from and why."""

    line: int | None
    ref: str | None
    operation: str
    error: str
    error_type: str
    field_errors: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


_COUNT_LOCK = threading.Lock()


@dataclass
class BulkReport:
    """What a bulk operation did: counts by outcome, and each failure."""

    operation: str
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[RecordError] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0

    def count(self, outcome: str, n: int = 1) -> None:
        with _COUNT_LOCK:
            self.counts[outcome] = self.counts.get(outcome, 0) + n

    @property
    def failed(self) -> int:
        return len(self.errors)

    def summary(self) -> dict[str, Any]:
        return {"operation": self.operation, **self.counts, "failed": self.failed, "requests": self.requests,
                "retries": self.retries, "seconds": round(self.seconds, 3)}


def _error(line: int | None, ref: str | None, operation: str, error: BaseException) -> RecordError:
    fields = error.error_dict if isinstance(error, ValidationError) else None
    return RecordError(line, ref, operation, str(error), type(error).__name__, fields or None)


class _Measure:
    """Fills a report's request, retry and time figures from the client's transport."""

    def __init__(self, client: CkanLowlevelClient, report: BulkReport) -> None:
        self.stats = client.transport.stats
        self.report = report

    def __enter__(self) -> "_Measure":
        self.started = time.monotonic()
        self.requests, self.retries = self.stats.requests, self.stats.retries
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.report.requests = self.stats.requests - self.requests
        self.report.retries = self.stats.retries - self.retries
        self.report.seconds = time.monotonic() - self.started


Progress = Callable[[int], None]
"""Called with how many items are done since the last call."""

_KINDS = ("datasets", "organizations", "groups")


def _check_kind(kind: str) -> str:
    if kind not in _KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(_KINDS)}, not {kind!r}")
    return kind[:-1] if kind != "datasets" else "dataset"


# ---------------------------------------------------------------------------- dump


def dump(client: CkanLowlevelClient, kind: str, path: str | Path, *, ids: Iterable[str] | None = None,
         include_private: bool = False, resume: bool = False, concurrency: int = 4,
         files_dir: str | Path | None = None, overwrite_files: bool = False,
         progress: Progress | None = None) -> BulkReport:
    """Write datasets, organizations or groups to a JSON Lines file (gzip if it ends in .gz).

    All datasets come from the paged search, a page per request, in id order; named ones from
    ``*_show`` with bounded concurrency, in the order given. ``resume`` continues a file cut off
    mid-way: what it holds is kept and not fetched again, so every record ends up there once.
    ``files_dir`` also downloads the datasets' resource files (see :func:`download_files`).
    """
    entity = _check_kind(kind)
    report = BulkReport(f"dump {kind}")
    writer = JsonlWriter(path, resume=resume)
    done_ids = {r.get("id") for r in writer.existing} | {r.get("name") for r in writer.existing}
    report.count("kept from before", len(writer.existing))
    resources: list[tuple[Any, dict[str, Any]]] = [
        (str(r.get("name")), res) for r in writer.existing for res in r.get("resources") or []]
    try:
        with _Measure(client, report):
            if ids is None and entity == "dataset":
                last = max((str(r["id"]) for r in writer.existing if isinstance(r.get("id"), str)), default=None)
                for line in _walk_in_parallel(client, writer.path, concurrency, include_private, last,
                                              report, progress):
                    writer.write_line(line)
                    if files_dir is not None:
                        dataset = json.loads(line)
                        resources.extend((dataset.get("name"), r) for r in dataset.get("resources") or [])
            else:
                if ids is None:
                    ids = [g["id"] for g in client.list_group_summaries(entity)]
                todo = [i for i in ids if i not in done_ids]
                show = {"dataset": client.get_dataset, "organization": client.get_organization,
                        "group": client.get_group}[entity]
                for ref, shown in run_concurrently(todo, show, concurrency=concurrency, ordered=True):
                    if isinstance(shown, Exception):
                        report.errors.append(_error(None, ref, f"show {entity}", shown))
                    else:
                        writer.write(shown)
                        report.count("written")
                        if entity == "dataset":
                            resources.extend((shown.get("name"), r) for r in shown.get("resources") or [])
                    if progress:
                        progress(1)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    if files_dir is not None:
        files = download_files(client, resources, files_dir, concurrency=concurrency, overwrite=overwrite_files)
        for file_outcome, n in files.counts.items():
            report.count(f"files {file_outcome}", n)
        report.errors.extend(files.errors)
        report.requests += files.requests
    return report


def _id_ranges(count: int, after: str | None) -> list[tuple[str | None, str | None]]:
    """Split the ids after ``after`` into ``count`` ranges at hex digits (CKAN ids are UUIDs).

    Range ``(low, high)`` holds the ids ``low <= id < high`` (the first: ``after < id < high``).
    Any string falls into exactly one range, so ids of another form are walked too, only less
    evenly spread."""
    cuts = [format(i * 16 // count, "x") for i in range(1, count)]
    cuts = sorted({c for c in cuts if after is None or c > after})
    bounds: list[str | None] = [after, *cuts, None]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


def _walk_in_parallel(client: CkanLowlevelClient, near: Path, concurrency: int, include_private: bool,
                      after: str | None, report: BulkReport, progress: Progress | None) -> Iterator[str]:
    """Every dataset after ``after`` as a JSON line, in id order, fetched by several keyset walks at once.

    The id space is split into ranges walked concurrently; each range is spooled to a temporary
    file beside the output (bounded memory) and yielded in order once the ranges before it are
    done, so the output stays in global id order and a cut-off dump resumes from its last id.
    """
    ranges = _id_ranges(max(1, min(concurrency, 8)), after)
    rows = client.page_size or 1000

    def walk(bounds: tuple[str | None, str | None]) -> IO[str]:
        spool = tempfile.TemporaryFile("w+", encoding="utf-8", dir=near.parent, prefix=".dump-")
        first = bounds == ranges[0]  # only the first range starts after the resume point, exclusive
        for page in client.search_pages(None, rows, include_private=include_private,
                                        after=bounds[0] if first else None, start=None if first else bounds[0],
                                        before=bounds[1]):
            for dataset in page:
                spool.write(json.dumps(dataset, ensure_ascii=False, separators=(",", ":")) + "\n")
            report.count("written", len(page))
            if progress:
                progress(len(page))
        spool.seek(0)
        return spool

    for _, spool in run_concurrently(ranges, walk, concurrency=len(ranges), ordered=True):
        if isinstance(spool, Exception):
            raise spool
        with spool:
            yield from spool


def download_files(client: CkanLowlevelClient, resources: Iterable[tuple[Any, Mapping[str, Any]]],
                   folder: str | Path, *, concurrency: int = 4, overwrite: bool = False) -> BulkReport:
    """Download resource files into ``folder/<resource id>/<name>`` concurrently, checked and resumable.

    Files already there and complete are skipped; a manifest (``manifest.jsonl``) records each
    file's path, size and sha256. Nothing is ever written outside ``folder``.
    """
    from .files import download_resource, resource_path

    report = BulkReport("download files")
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    todo = [(name, r) for name, r in resources
            if isinstance(r, Mapping) and str(r.get("url") or "").startswith(("http://", "https://"))]

    def fetch(item: tuple[Any, Mapping[str, Any]]) -> Any:
        return download_resource(client, item[1], resource_path(root, item[1]), overwrite=overwrite)

    with _Measure(client, report), open(root / "manifest.jsonl", "a", encoding="utf-8") as manifest:
        for (dataset_name, resource), outcome in run_concurrently(todo, fetch, concurrency=concurrency):
            if isinstance(outcome, Exception):
                report.errors.append(_error(None, str(resource.get("id")), "download", outcome))
                continue
            report.count("skipped" if outcome.skipped else "downloaded")
            manifest.write(json.dumps({"dataset": dataset_name, "resource": resource.get("id"),
                                       "path": str(outcome.path.relative_to(root.resolve())),
                                       "size": outcome.size, "sha256": outcome.sha256}, ensure_ascii=False) + "\n")
    return report


# ---------------------------------------------------------------------------- load


class _Checkpoint:
    """The line numbers of a load that are done, appended as they finish, so a resume skips them."""

    def __init__(self, path: Path | None, resume: bool) -> None:
        self.path = path
        self.done: set[int] = set()
        if path is not None and resume and path.exists():
            for line in path.read_text(encoding="utf-8").split():
                if line.isdigit():
                    self.done.add(int(line))
        self._fh = open(path, "a" if resume else "w", encoding="utf-8") if path is not None else None

    def mark(self, line: int) -> None:
        if self._fh is not None:
            self._fh.write(f"{line}\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _name_taken(error: ValidationError) -> bool:
    text = json.dumps(error.error_dict.get("name", ""))
    return "already" in text or "in use" in text


def load(client: CkanLowlevelClient, kind: str, path: str | Path, *, mode: str = "upsert",
         concurrency: int = 4, resume: bool = False, checkpoint: str | Path | None = None,
         error_log: str | Path | None = None, progress: Progress | None = None) -> BulkReport:
    """Create or update each record of a JSON Lines file; one bad record never stops the run.

    Records are made portable first (:func:`~ckan_api_client.objects.portable_dataset`): the
    owner organization and groups are named by name, so a dump of one site loads into another.
    ``mode`` is ``upsert`` (create, or update what exists by name), ``create`` or ``update``.
    A checkpoint file (default ``<path>.checkpoint``) records finished lines, so ``resume`` skips
    them; ``error_log`` gets one JSON line per failed record.
    """
    entity = _check_kind(kind)
    if mode not in ("upsert", "create", "update"):
        raise InvalidInput(f"mode must be upsert, create or update, not {mode!r}")
    source = Path(path)
    checkpoint_path = Path(checkpoint) if checkpoint else source.with_name(source.name + ".checkpoint")
    marks = _Checkpoint(checkpoint_path, resume)
    report = BulkReport(f"load {kind}")
    log = open(error_log, "a" if resume else "w", encoding="utf-8") if error_log else None

    def tasks() -> Iterator[tuple[int, Any]]:
        for number, value in read_jsonl(source):
            if number in marks.done:
                report.count("skipped (done before)")
                continue
            yield number, value

    create_action = f"{'package' if entity == 'dataset' else entity}_create"

    def upsert(portable: dict[str, Any], name: str, step: str) -> str:
        if step in ("upsert", "create"):
            try:
                client.call_action(create_action, portable)
                return "created"
            except ValidationError as error:
                if step == "create" or not _name_taken(error):
                    raise
        if entity == "dataset":
            client.put_dataset({**portable, "id": name})
        else:
            client.call_action(f"{entity}_patch", {**portable, "id": name}, read_only=True)
        return "updated"

    def exists(name: str) -> bool:
        try:
            client.call_action(f"{'package' if entity == 'dataset' else entity}_show", {"id": name})
            return True
        except NotFound:
            return False

    def write(task: tuple[int, Any], attempts: int = 5) -> str:
        _, record = task
        if isinstance(record, Exception):
            raise InvalidInput(str(record))
        portable = portable_dataset(record) if entity == "dataset" else portable_group(record)
        name = portable.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInput("the record has no name")
        step = mode
        for attempt in range(1, attempts + 1):
            try:
                outcome = upsert(portable, name, step)
                return "created" if step == "ensure" else outcome
            except CkanError as error:
                if attempt == attempts or not outcome_unknown(error):
                    raise
                # The write may have landed: read back before anything is sent again.
                report.count("uncertain writes resolved by reading back")
                if not exists(name):
                    continue  # it did not land: the same step again
                if step == "update":
                    continue  # updating again with the same content is harmless
                if mode == "create":
                    return "created"
                step = "ensure"  # our create landed: make sure the content is right with an update
        raise AssertionError("unreachable")

    try:
        with _Measure(client, report):
            for (number, record), outcome in run_concurrently(tasks(), write, concurrency=concurrency):
                ref = record.get("name") if isinstance(record, Mapping) else None
                if isinstance(outcome, Exception):
                    failure = _error(number, ref, f"{mode} {entity}", outcome)
                    report.errors.append(failure)
                    if log is not None:
                        log.write(json.dumps(failure.as_dict(), ensure_ascii=False) + "\n")
                        log.flush()
                else:
                    report.count(outcome)
                    marks.mark(number)
                if progress:
                    progress(1)
    finally:
        marks.close()
        if log is not None:
            log.close()
    return report


# ---------------------------------------------------------------------------- delete


def delete(client: CkanLowlevelClient, kind: str, refs: Iterable[str], *, purge: bool = False,
           concurrency: int = 4, progress: Progress | None = None) -> BulkReport:
    """Delete (or purge) datasets, organizations or groups by id or name; missing ones count as such."""
    entity = _check_kind(kind)
    report = BulkReport(f"{'purge' if purge else 'delete'} {kind}")
    action = {"dataset": "dataset_purge" if purge else "package_delete",
              "organization": "organization_purge" if purge else "organization_delete",
              "group": "group_purge" if purge else "group_delete"}[entity]

    def remove(ref: str) -> str:
        if not isinstance(ref, str) or not ref:
            raise InvalidInput(f"not an id or name: {ref!r}")
        try:
            client.call_action(action, {"id": ref}, read_only=True)  # deleting twice changes nothing
        except NotFound:
            return "not found"
        return "purged" if purge else "deleted"

    with _Measure(client, report):
        for ref, outcome in run_concurrently(refs, remove, concurrency=concurrency):
            if isinstance(outcome, Exception):
                report.errors.append(_error(None, str(ref), action, outcome))
            else:
                report.count(outcome)
            if progress:
                progress(1)
    return report


def search(client: CkanLowlevelClient, *, q: str = "*:*", fq: str | None = None, include_private: bool = False,
           include_drafts: bool = False, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Every dataset matching a search, a page per request, in a stable (id) order."""
    count = 0
    for page in client.search_pages(None, client.page_size or 1000, q=q, fq=fq, include_private=include_private,
                                    include_drafts=include_drafts):
        for dataset in page:
            if limit is not None and count >= limit:
                return
            count += 1
            yield dataset
