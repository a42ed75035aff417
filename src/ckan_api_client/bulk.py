"""The bulk engine: dump, load, delete and search many records, with bounded concurrency.

Everything here runs over one shared client (one session, one retry policy, one rate limit) and
the one worker loop of :mod:`ckan_api_client.concurrency`. A record that fails never stops the
others: it is reported, with the record itself.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Mapping

from .concurrency import Runner, run_concurrently
from .exceptions import CkanError, InvalidInput, NotFound, ValidationError, outcome_unknown
from .low_level import CkanLowlevelClient
from .objects import ApiObject, Dataset, Group, Organization, diff, owner_org_ref, portable_dataset, portable_group
from .streams import BadLine, TextOutput, final_path, read_jsonl, side_file
from .writes import DEFAULT_ATTEMPTS, CreateOutcome, create_resolving

ENTITY_KINDS: dict[str, type[ApiObject]] = {"dataset": Dataset, "organization": Organization, "group": Group}

__all__ = ["dump", "load", "delete", "search", "download_files", "BulkReport", "RecordError",
           "Interrupted"]


# ---------------------------------------------------------------------------- reports


@dataclass
class RecordError:
    """One record that failed, with where it came from, why, and the record itself (to fix and load again)."""

    line: int | None
    ref: str | None
    operation: str
    error: str
    error_type: str
    field_errors: dict[str, Any] | None = None
    record: Any = None
    """The failed record as read (a dict), or the text of a line that was not JSON."""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class Interrupted(Exception):
    """A bulk operation stopped before the end (Ctrl-C): ``report`` says how far it got, ``where``
    holds what was written (a ``.part`` file to resume from)."""

    def __init__(self, report: "BulkReport", where: str | None) -> None:
        super().__init__(f"{report.operation} interrupted")
        self.report = report
        self.where = where


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


def _error(line: int | None, ref: str | None, operation: str, error: BaseException,
           record: Any = None) -> RecordError:
    fields = error.error_dict if isinstance(error, ValidationError) else None
    return RecordError(line, ref, operation, str(error), type(error).__name__, fields or None, record)


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
         include_private: bool = False, fq: str | None = None, resume: bool = False, concurrency: int = 4,
         files_dir: str | Path | None = None, overwrite_files: bool = False,
         progress: Progress | None = None) -> BulkReport:
    """Write datasets, organizations or groups as JSON Lines to ``path`` (gzip if it ends in .gz; ``-``: stdout).

    All datasets (or those matching ``fq``) come from the paged search, a page per request, in id
    order; named ones from ``*_show`` with bounded concurrency, in the order given. A regular file
    is written as ``NAME.part`` and renamed when complete; ``resume`` continues a ``.part`` left by
    a run cut short, keeping what it holds. ``files_dir`` also downloads the datasets' resource
    files (see :func:`download_files`); the report's figures cover the whole operation.
    Raises :class:`Interrupted` on Ctrl-C, with the ``.part`` kept.
    """
    entity = _check_kind(kind)
    if fq is not None and (entity != "dataset" or ids is not None):
        raise InvalidInput("a search filter (fq) narrows a dump of all datasets only")
    report = BulkReport(f"dump {kind}")
    resources: list[tuple[Any, dict[str, Any]]] = []
    with _Measure(client, report):
        client.check_token()
        output = TextOutput(path, resume=resume)
        # The files to fetch: read back from a finished regular file (so records kept from a resumed
        # run count too); only stdout and special files, which cannot be resumed, are noted as they go.
        collect = files_dir is not None and not output.regular
        done_ids = {ref for pair in output.kept_ids for ref in pair}
        report.count("kept from before", output.kept_count)
        try:
            if ids is None and entity == "dataset":
                last = max((str(i) for i, _ in output.kept_ids if isinstance(i, str)), default=None)
                spool_dir = Path(output.part).parent if output.part is not None else None
                for line in _walk_in_parallel(client, spool_dir, concurrency, include_private, fq, last,
                                              report, progress):
                    output.write_line(line)
                    if collect:
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
                        output.write(shown)
                        report.count("written")
                        if collect and entity == "dataset":
                            resources.extend((shown.get("name"), r) for r in shown.get("resources") or [])
                    if progress:
                        progress(1)
        except KeyboardInterrupt:
            output.abandon()
            raise Interrupted(report, output.where) from None
        except BaseException:
            output.abandon()
            raise
        output.commit()
        if files_dir is not None:
            if output.regular and entity == "dataset":
                resources = [(d.get("name"), r) for _, d in read_jsonl(final_path(path)) if isinstance(d, Mapping)
                             for r in d.get("resources") or []]
            files = download_files(client, resources, files_dir, concurrency=concurrency, overwrite=overwrite_files)
            for file_outcome, n in files.counts.items():
                report.count(f"files {file_outcome}", n)
            report.errors.extend(files.errors)
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


def _walk_in_parallel(client: CkanLowlevelClient, spool_dir: Path | None, concurrency: int,
                      include_private: bool, fq: str | None, after: str | None, report: BulkReport,
                      progress: Progress | None) -> Iterator[str]:
    """Every dataset after ``after`` as a JSON line, in id order, fetched by several keyset walks at once.

    The id space is split into ranges walked concurrently; each range is spooled to a temporary
    file (beside the output when it is a regular file; bounded memory) and yielded in order once
    the ranges before it are done, so the output stays in global id order and a cut-off dump
    resumes from its last id.
    """
    ranges = _id_ranges(max(1, min(concurrency, 8)), after)
    rows = client.page_size or 1000

    def walk(bounds: tuple[str | None, str | None]) -> IO[str]:
        spool = tempfile.TemporaryFile("w+", encoding="utf-8", dir=spool_dir, prefix=".dump-")
        first = bounds == ranges[0]  # only the first range starts after the resume point, exclusive
        for page in client.search_pages(None, rows, fq=fq, include_private=include_private,
                                        after=bounds[0] if first else None, start=None if first else bounds[0],
                                        before=bounds[1]):
            if walks.stopping.is_set():
                break  # another range failed, or the dump was stopped: this walk is not needed
            for dataset in page:
                spool.write(json.dumps(dataset, ensure_ascii=False, separators=(",", ":")) + "\n")
            report.count("written", len(page))
            if progress:
                progress(len(page))
        spool.seek(0)
        return spool

    walks: Runner[tuple[str | None, str | None], IO[str]] = Runner(
        ranges, walk, concurrency=len(ranges), ordered=True, fatal=(Exception,))
    for _, spool in walks:
        assert not isinstance(spool, Exception)  # an error in any range is fatal: raised, never an outcome
        with spool:
            yield from spool


MANIFEST = "manifest.jsonl"


def download_files(client: CkanLowlevelClient, resources: Iterable[tuple[Any, Mapping[str, Any]]],
                   folder: str | Path, *, concurrency: int = 4, overwrite: bool = False) -> BulkReport:
    """Download resource files into ``folder/<resource id>/<name>`` concurrently, checked and resumable.

    Files already there and complete are skipped; a manifest (``manifest.jsonl``) records each
    file's resource, path, size and sha256 (``load(..., files_dir=folder)`` restores them as
    uploads). Nothing is ever written outside ``folder``; a failed download leaves no folder.
    """
    from .files import download_resource, resource_path

    report = BulkReport("download files")
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    todo = [(name, r) for name, r in resources
            if isinstance(r, Mapping) and str(r.get("url") or "").startswith(("http://", "https://"))]

    def fetch(item: tuple[Any, Mapping[str, Any]]) -> Any:
        return download_resource(client, item[1], resource_path(root, item[1]), overwrite=overwrite)

    with _Measure(client, report), open(root / MANIFEST, "a", encoding="utf-8") as manifest:
        for (dataset_name, resource), outcome in run_concurrently(todo, fetch, concurrency=concurrency):
            if isinstance(outcome, Exception):
                report.errors.append(_error(None, str(resource.get("id")), "download", outcome))
                continue
            report.count("skipped" if outcome.skipped else "downloaded")
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


def _with_local_files(portable: dict[str, Any], record: Mapping[str, Any],
                      files: Mapping[str, tuple[Path, int]]) -> list[tuple[int, Path, int]]:
    """Point the uploaded resources that have a local file at that file's name (not the source's
    download URL); return ``(position, path, size)`` of each file to upload after the write."""
    wanted = []
    for position, source in enumerate(record.get("resources") or []):
        if not isinstance(source, Mapping) or source.get("url_type") != "upload" or source.get("id") not in files:
            continue
        path, size = files[str(source["id"])]
        portable["resources"][position]["url"] = path.name
        wanted.append((position, path, size))
    return wanted


def _keep_unchanged_uploads(portable: dict[str, Any], current: Mapping[str, Any],
                            wanted: list[tuple[int, Path, int]]) -> list[tuple[int, Path, int]]:
    """Update resources in place (ids by position); an uploaded file of the same name and size is kept
    as it is on the server. Returns the files that still need uploading."""
    old = [r for r in current.get("resources") or [] if isinstance(r, Mapping)]
    for position, resource in enumerate(portable.get("resources") or []):
        if position < len(old) and old[position].get("id"):
            resource["id"] = old[position]["id"]
    still = []
    for position, path, size in wanted:
        there = old[position] if position < len(old) else {}
        if there.get("url_type") == "upload" and str(there.get("url") or "").endswith("/" + path.name) \
                and str(there.get("size")) == str(size):
            portable["resources"][position].update(url=there["url"], url_type="upload", size=there.get("size"))
        else:
            still.append((position, path, size))
    return still


def load(client: CkanLowlevelClient, kind: str, path: str | Path, *, mode: str = "upsert",
         concurrency: int = 4, resume: bool = False, checkpoint: str | Path | None = None,
         error_log: str | Path | None = None, default_organization: str | None = None,
         files_dir: str | Path | None = None, progress: Progress | None = None) -> BulkReport:
    """Create or update each record of a JSON Lines file (``-``: stdin); one bad record never stops the run.

    Records are made portable first (:func:`~ckan_api_client.objects.portable_dataset`), so a dump
    of one site loads into another: a dataset goes to its ``owner_org`` when that names an
    organization of this site (id or name), else to its embedded organization (by name), else to
    ``default_organization``. ``mode`` is ``upsert`` (create, or update what exists by name),
    ``create`` or ``update``. A checkpoint file (default ``<path>.checkpoint``, beside a regular
    input file only) records finished lines, so ``resume`` skips them; ``error_log`` gets one
    JSON line per failed record, with the record itself. ``files_dir`` is a folder written by
    ``dump(..., files_dir=...)``: the files of uploaded resources are uploaded again, so the copies
    no longer point at the site they came from.
    """
    entity = _check_kind(kind)
    if mode not in ("upsert", "create", "update"):
        raise InvalidInput(f"mode must be upsert, create or update, not {mode!r}")
    if files_dir is not None and entity != "dataset":
        raise InvalidInput("files are restored with datasets only")
    checkpoint_path = Path(checkpoint) if checkpoint else side_file(path, ".checkpoint")
    if resume and checkpoint_path is None:
        raise InvalidInput("resuming a load from standard input or a special file needs an explicit checkpoint file")
    report = BulkReport(f"load {kind}")
    with _Measure(client, report):
        client.check_token()
        files = read_manifest(files_dir) if files_dir is not None else {}
        known_orgs: set[str] = set()
        if entity == "dataset":
            for org in client.list_group_summaries("organization"):
                known_orgs.update(str(org[k]) for k in ("id", "name") if org.get(k))
        marks = _Checkpoint(checkpoint_path, resume)
        log = open(error_log, "a" if resume else "w", encoding="utf-8") if error_log else None
        try:
            _load_records(client, entity, path, mode, concurrency, marks, log, report, known_orgs,
                          default_organization, files, progress)
        except KeyboardInterrupt:
            raise Interrupted(report, None) from None
        finally:
            marks.close()
            if log is not None:
                log.close()
    return report


def _load_records(client: CkanLowlevelClient, entity: str, path: str | Path, mode: str, concurrency: int,
                  marks: _Checkpoint, log: IO[str] | None, report: BulkReport, known_orgs: set[str],
                  default_organization: str | None, files: Mapping[str, tuple[Path, int]],
                  progress: Progress | None) -> None:
    from .files import replace_resource_file

    def tasks() -> Iterator[tuple[int, Any]]:
        for number, value in read_jsonl(path):
            if number in marks.done:
                report.count("skipped (done before)")
                continue
            yield number, value

    show_action = f"{'package' if entity == 'dataset' else entity}_show"
    create_action = f"{'package' if entity == 'dataset' else entity}_create"

    def find(name: str) -> dict[str, Any] | None:
        try:
            found = client.call_action(show_action, {"id": name})
        except NotFound:
            return None
        return found if isinstance(found, dict) and isinstance(found.get("id"), str) else None

    def update(portable: dict[str, Any], name: str, uploads: list[tuple[int, Path, int]],
               attempts: int = DEFAULT_ATTEMPTS) -> tuple[Any, list[tuple[int, Path, int]]]:
        """Update by name; the same update sent again after an unknown outcome changes nothing more."""
        for attempt in range(1, attempts + 1):
            try:
                if entity != "dataset":
                    return client.call_action(f"{entity}_patch", {**portable, "id": name}, read_only=True), []
                if uploads:
                    uploads = _keep_unchanged_uploads(portable, client.get_dataset(name), uploads)
                return client.put_dataset({**portable, "id": name}), uploads
            except CkanError as error:
                if attempt == attempts or not outcome_unknown(error):
                    raise
                report.count("uncertain writes resolved by reading back")
        raise AssertionError("unreachable: the last attempt returns or raises")

    def write(task: tuple[int, Any]) -> str:
        _, record = task
        if isinstance(record, Exception):
            raise InvalidInput(str(record))
        if entity == "dataset":
            portable = portable_dataset(record)
            portable["owner_org"] = owner_org_ref(record, known_orgs.__contains__, default_organization)
            uploads = _with_local_files(portable, record, files)
        else:
            portable, uploads = portable_group(record), []
        name = portable.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInput("the record has no name")
        outcome = "updated"
        if mode == "update":
            written, uploads = update(portable, name, uploads)
        else:
            created = create_resolving(lambda: client.call_action(create_action, portable), lambda: find(name))
            report.count("uncertain writes resolved by reading back", created.uncertain)
            if created.outcome is CreateOutcome.TAKEN:  # the name was in use before this run wrote anything
                if mode == "create":
                    raise ValidationError(409, f"the name {name!r} is already in use (create only)",
                                          action=create_action, error={"name": ["That URL is already in use."]})
                written, uploads = update(portable, name, uploads)
            elif created.outcome is CreateOutcome.CREATED:  # the create was answered: made now
                written, outcome = created.result, "created"
            elif diff(portable, created.result, ENTITY_KINDS[entity]):  # there, but not as the record says
                written, uploads = update(portable, name, uploads)
            else:  # an uncertain attempt, and the object is there as the record says: made now or before
                written, outcome = created.result, "confirmed by reading back"
        if uploads:
            resources = written.get("resources") if isinstance(written, Mapping) else None
            if not isinstance(resources, list) or len(resources) < len(portable.get("resources") or []):
                resources = client.get_dataset(name).get("resources") or []
            for position, file_path, _ in uploads:
                replace_resource_file(client, resources[position]["id"], file_path)
            report.count("files uploaded", len(uploads))
        return outcome

    for (number, record), outcome in run_concurrently(tasks(), write, concurrency=concurrency):
        ref = record.get("name") if isinstance(record, Mapping) else None
        if isinstance(outcome, Exception):
            raw = record.text if isinstance(record, BadLine) else record
            failure = _error(number, ref, f"{mode} {entity}", outcome, raw)
            report.errors.append(failure)
            if log is not None:
                log.write(json.dumps(failure.as_dict(), ensure_ascii=False) + "\n")
                log.flush()
        else:
            report.count(outcome)
            marks.mark(number)
        if progress:
            progress(1)


# ---------------------------------------------------------------------------- delete


def delete(client: CkanLowlevelClient, kind: str, refs: Iterable[str], *, purge: bool = False,
           concurrency: int = 4, progress: Progress | None = None) -> BulkReport:
    """Delete (or purge) datasets, organizations or groups by id or name; missing ones count as such."""
    entity = _check_kind(kind)
    report = BulkReport(f"{'purge' if purge else 'delete'} {kind}")
    action = {"dataset": "dataset_purge" if purge else "package_delete",
              "organization": "organization_purge" if purge else "organization_delete",
              "group": "group_purge" if purge else "group_delete"}[entity]

    def delete_one(ref: str) -> str:
        """Counted by what was seen: an answered delete, a 404 to the first attempt, or a 404 after an
        attempt whose outcome was unknown (then it is gone, but maybe by that attempt: said so)."""
        if not isinstance(ref, str) or not ref:
            raise InvalidInput(f"not an id or name: {ref!r}")
        uncertain = False
        for attempt in range(1, DEFAULT_ATTEMPTS + 1):
            try:
                # Not repeated by the transport once sent: an unknown outcome comes back here to be counted.
                client.call_action(action, {"id": ref}, read_only=False)
                return "purged" if purge else "deleted"
            except NotFound:
                return "gone after an uncertain attempt" if uncertain else "not found"
            except CkanError as error:
                if not outcome_unknown(error) or attempt == DEFAULT_ATTEMPTS:
                    raise
                uncertain = True
        raise AssertionError("unreachable: the last attempt returns or raises")

    with _Measure(client, report):
        client.check_token()
        for ref, outcome in run_concurrently(refs, delete_one, concurrency=concurrency):
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
