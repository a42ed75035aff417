"""Mirror one CKAN portal into another: organizations, groups, datasets, uploaded files and DataStore
tables, deletions too; the first run copies everything, later runs only what changed.

``Mirror(source_client, destination_client).run()`` builds on the sync engine
(:mod:`ckan_api_client.syncing`): the source portal is one more kind of source, its dataset ids the
source ids, so everything the sync client promises holds here too (ownership markers, so datasets
the mirror did not create are never touched; a state file; updates of only the changed fields; the
delete guard; a dry run streamed; a run killed midway finishes when run again).

What it adds:

* **organizations and groups** first: name, title, description, image_url and extras; an uploaded
  image is copied. One that exists on the destination without the mirror's marker is used as it is,
  never changed. Members and users are not copied: they are people, not catalog.
* **uploaded files**: a resource whose file was uploaded to the source is downloaded (streamed to a
  temporary file, checked against its declared size and hash) and uploaded to the destination, so
  the copy no longer points at the source. A file is copied again only when its size, hash or
  modification time changed; a copy is recorded only once it is complete, so a run killed midway
  copies it again instead of leaving it half done.
* **DataStore tables** of datastore-active resources: the fields with their types, then the rows,
  read with keyset paging and written in chunks (``datastore=False`` to skip).
* **identity**: when the destination key is a sysadmin's, dataset, resource, organization and group
  ids are kept, so links to them keep working; on CKAN 2.12 the source's ``metadata_modified`` too.
  Otherwise names are the identity, and the report says so.
* **incremental reads**: after a successful run, the next reads only the source datasets modified
  since (a ``metadata_modified`` range, with an overlap for clocks and slow indexing), and finds
  the source's deletions with an id-only walk.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import unquote, urlsplit

from .datastore import DataStore
from .exceptions import CkanError, NotAuthorized, NotFound, OperationFailure
from .files import download_resource, replace_resource_file
from .low_level import CkanLowlevelClient
from .planning import instant
from .state import SyncState, resolve_state_path
from .syncing import PlannedWrite, SynchronizationClient, SyncReport
from .writes import create_resolving, revise_dataset

__all__ = ["Mirror", "MirrorReport", "MIRROR_KEY"]

logger = logging.getLogger("ckan_api_client.mirror")

MIRROR_KEY = "mirror_source"
"""The extra that marks an organization or group the mirror created (its value: the mirror's name)."""
DEFAULT_OVERLAP = 600.0
"""Seconds read again before the last run's newest change: clocks differ, and indexing lags."""
_GROUP_FIELDS = ("title", "description", "image_url")
MARK = "mirror_mark"
"""The state's key for the source's newest metadata_modified seen by the last successful run."""


@dataclass
class MirrorReport:
    """What a mirror run did: the dataset sync's report, and the groups, files and tables around it."""

    sync: SyncReport
    identity: str = ""
    """How copies are matched to their originals: "ids kept", or why names are the identity."""
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)
    """(what, why) of each organization, group, file or table that could not be copied."""
    incremental: bool = False
    """True when only the datasets changed since the last successful run were read in full."""
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def fail(self, what: str, why: str) -> None:
        with self._lock:
            self.failures.append((what, why))
        logger.warning("mirror: %s failed: %s", what, why)

    @property
    def ok(self) -> bool:
        return not self.failures and self.sync.ok

    def summary(self) -> dict[str, Any]:
        return {"identity": self.identity, "incremental": self.incremental, **self.counts,
                "datasets": self.sync.summary(), "failures": len(self.failures),
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class _Upload:
    position: int
    resource_id: str
    url: str
    fingerprint: str
    source: dict[str, Any]


class Mirror:
    """Copies the ``source`` portal into ``destination`` and keeps it in step; see the module documentation.

    ``name`` names this mirror on the destination (ownership markers and state; default
    ``mirror:<source host and path>``). ``fq`` or ``organization`` mirror a part of the source;
    ``include_private`` also private datasets and drafts (the source key must see them).
    """

    def __init__(self, source: CkanLowlevelClient, destination: CkanLowlevelClient, *, name: str | None = None,
                 include_private: bool = False, fq: str | None = None, organization: str | None = None,
                 datastore: bool = True, files: bool = True, concurrency: int = 4,
                 state: bool | str | os.PathLike[str] = True, overlap: float = DEFAULT_OVERLAP,
                 max_delete: str | int = "50%", page_size: int = 1000) -> None:
        self.source = source
        self.destination = destination
        parts = urlsplit(source.base_url)
        self.name = name or f"mirror:{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"
        self.include_private = include_private
        self.filters = " ".join(f"+({f})" for f in (fq, f'organization:"{organization}"' if organization else None)
                                if f) or None
        self.organization = organization
        self.datastore = datastore
        self.files = files
        self.concurrency = concurrency
        self.overlap = overlap
        self.max_delete = max_delete
        self.page_size = page_size
        self.state_path = resolve_state_path(state, destination.base_url, self.name)

    # ------------------------------------------------------------------ running

    def run(self, *, dry_run: bool = False,
            progress: Callable[[PlannedWrite, str], None] | None = None) -> MirrorReport:
        """Copy what changed since the last successful run (everything, the first time)."""
        started = time.monotonic()
        self.source.check_token()
        self.destination.check_token()
        sysadmin = self._is_sysadmin(self.destination)
        keep_modified = sysadmin and self.destination.capabilities.at_least(2, 12)
        report = MirrorReport(SyncReport(dry_run=dry_run))
        report.identity = ("ids kept" + (", and metadata_modified" if keep_modified else "")) if sysadmin else \
            "names are the identity: the destination key is not a sysadmin's, so ids cannot be kept"
        # One connection to the state for the run, opened before anything is written: a file that is not
        # this mirror's state stops it here. It holds the incremental mark and the record of each copy.
        state = SyncState(self.state_path, self.destination.base_url, self.name) if self.state_path else None
        try:
            return self._run(state, sysadmin, keep_modified, report, dry_run, progress, started)
        finally:
            if state is not None:
                state.close()

    def _run(self, state: SyncState | None, sysadmin: bool, keep_modified: bool, report: MirrorReport,
             dry_run: bool, progress: Callable[[PlannedWrite, str], None] | None, started: float) -> MirrorReport:
        mark = state.get_meta(MARK) if state is not None else None
        report.incremental = mark is not None
        newest = [mark or ""]
        uploads: dict[str, list[_Upload]] = {}
        tables: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        modified: dict[str, str] = {}
        """The source's metadata_modified of the datasets with files or tables (put back after copying them)."""
        lock = threading.Lock()
        if not dry_run:
            self._copy_groups("organization", sysadmin, report)
            self._copy_groups("group", sysadmin, report)

        def transform(record: dict[str, Any]) -> dict[str, Any]:
            """Note the files and tables to copy; point uploaded resources at their copies' file names."""
            sid = str(record.get("id"))
            report.count("source datasets read")
            with lock:
                newest[0] = max(newest[0], instant(record.get("metadata_modified")))
            found_uploads, found_tables = [], []
            for position, resource in enumerate(record.get("resources") or []):
                if not isinstance(resource, dict):
                    continue
                if self.files and resource.get("url_type") == "upload" and resource.get("url"):
                    found_uploads.append(_Upload(position, str(resource.get("id")), str(resource["url"]),
                                                 _fingerprint(resource), dict(resource)))
                    resource["url"] = _file_name(str(resource["url"]))
                    resource["url_type"] = "upload"
                    resource.pop("last_modified", None)  # CKAN sets it on upload; the fingerprint has it
                if self.datastore and resource.get("datastore_active"):
                    found_tables.append((position, dict(resource)))
            with lock:
                if found_uploads:
                    uploads[sid] = found_uploads
                if found_tables:
                    tables[sid] = found_tables
                if (found_uploads or found_tables) and record.get("metadata_modified"):
                    modified[sid] = str(record["metadata_modified"])
            return record

        def after_write(source_id: str, written: Mapping[str, Any]) -> Mapping[str, Any] | None:
            resources = [r for r in written.get("resources") or [] if isinstance(r, Mapping)]
            changed = False
            for upload in uploads.pop(source_id, []):
                changed |= self._copy_file(upload, resources, state, report)
            for position, resource in tables.pop(source_id, []):
                if position < len(resources):
                    changed |= self._copy_table(resource, str(resources[position]["id"]), state, report)
            source_modified = modified.pop(source_id, None)
            if not changed:
                return None
            if keep_modified and source_modified:  # the copies' writes moved it: the source's time again
                return revise_dataset(self.destination, str(written["id"]), None,
                                      {"metadata_modified": source_modified})
            return self.destination.get_dataset(str(written["id"]))

        sync = SynchronizationClient(
            self.destination, self.name, concurrency=self.concurrency, source_id="id", page_size=self.page_size,
            state=self.state_path or False, transform=transform, max_delete=self.max_delete,
            organization_strategy="map", group_strategy="map",
            keep_fields=("state", *(("id",) if sysadmin else ()), *(("metadata_modified",) if keep_modified else ())),
            after_write=after_write)
        present = self._source_ids() if mark is not None else None
        records = self._source_records(mark)
        if dry_run:
            report.sync = SyncReport(dry_run=True)
            for write in sync.plan(records, report.sync, present=present):
                if progress is not None:
                    progress(write, write.operation)
        else:
            report.sync = sync.sync(records, progress=progress, present=present)
            if report.ok and newest[0] and state is not None:
                state.set_meta(MARK, newest[0])
        report.seconds = time.monotonic() - started
        return report

    @staticmethod
    def _is_sysadmin(client: CkanLowlevelClient) -> bool:
        """Only sysadmins may read the site's configuration options."""
        try:
            client.call_action("config_option_list", method="GET")
        except (NotAuthorized, NotFound):
            return False
        return True

    # ------------------------------------------------------------------ the source

    def _search_filter(self, since: str | None) -> str | None:
        parts = [self.filters] if self.filters else []
        if since is not None:
            parts.append(f"+metadata_modified:[{since}Z TO *]")
        return " ".join(parts) or None

    def _source_records(self, mark: str | None) -> Iterator[dict[str, Any]]:
        """The source's datasets, in full pages: all of them, or those modified since ``mark`` (minus the overlap)."""
        since = None
        if mark is not None:  # CKAN keeps metadata_modified in UTC
            earlier = datetime.datetime.fromisoformat(mark[:19]) - datetime.timedelta(seconds=self.overlap)
            since = earlier.strftime("%Y-%m-%dT%H:%M:%S")
        for page in self.source.search_pages(None, self.page_size, fq=self._search_filter(since),
                                             include_private=self.include_private,
                                             include_drafts=self.include_private):
            yield from page

    def _source_ids(self) -> set[str]:
        """Every dataset id the source holds now (an id-only walk): what is not there was deleted."""
        return {d["id"] for page in self.source.search_pages("id", 1000, fq=self._search_filter(None),
                                                             include_private=self.include_private,
                                                             include_drafts=self.include_private) for d in page}

    # ------------------------------------------------------------------ organizations and groups

    def _copy_groups(self, kind: str, sysadmin: bool, report: MirrorReport) -> None:
        """Create what the destination lacks, update what this mirror made; leave the others alone."""
        present = {str(g["name"]): g for g in _all_groups(self.destination, kind)}  # a listing, not a show each
        for group in self._source_groups(kind):
            name = str(group["name"])
            try:
                there = present.get(name)
                wanted = self._group_payload(group)
                if there is None:
                    if sysadmin:
                        wanted["id"] = group["id"]
                    created = create_resolving(lambda: self._write_group(kind, "create", wanted, group, report),
                                               lambda: self._show(self.destination, kind, name))
                    report.count(f"{kind}s created" if created.uncertain == 0 else f"{kind}s created (resolved)")
                elif _extras_of(there).get(MIRROR_KEY) != self.name:
                    report.count(f"{kind}s left as they were (not the mirror's)")
                elif any(there.get(k) != wanted.get(k) for k in ("title", "description")) or \
                        _extras_of(there) != _extras_of(wanted) or _image_changed(there, group):
                    self._write_group(kind, "patch", {**wanted, "id": there["id"]}, group, report)
                    report.count(f"{kind}s updated")
                else:
                    report.count(f"{kind}s unchanged")
            except CkanError as error:
                report.fail(f"{kind} {name}", str(error))

    def _source_groups(self, kind: str) -> Iterator[dict[str, Any]]:
        """Every organization or group of the source; for a part of it, those its datasets use."""
        if self.filters:
            facet = "organization" if kind == "organization" else "groups"
            result = self.source.call_action("package_search", {
                "fq": self.filters, "rows": 0, "facet.field": [facet], "facet.limit": -1,
                "include_private": self.include_private, "include_drafts": self.include_private})
            for name in sorted((result.get("facets") or {}).get(facet) or {}):
                found = self._show(self.source, kind, name)
                if found is not None:
                    yield found
            return
        yield from _all_groups(self.source, kind)

    def _group_payload(self, group: Mapping[str, Any]) -> dict[str, Any]:
        extras = {**_extras_of(group), MIRROR_KEY: self.name}
        payload: dict[str, Any] = {"name": group["name"], **{k: group.get(k) or "" for k in _GROUP_FIELDS},
                                   "extras": [{"key": k, "value": v} for k, v in sorted(extras.items())]}
        if _uploaded_image(group):
            payload.pop("image_url")  # the file goes up as image_upload
        return payload

    def _write_group(self, kind: str, how: str, payload: dict[str, Any], source: Mapping[str, Any],
                     report: MirrorReport) -> Any:
        """``{kind}_create`` or ``_patch``; an image uploaded to the source is copied as a file. An image
        that cannot be fetched does not hold the organization back: it is reported on its own."""
        if not _uploaded_image(source):
            return self.destination.call_action(f"{kind}_{how}", payload)
        with tempfile.TemporaryDirectory(prefix="ckan-mirror-") as tmp:
            image = {"id": "image", "url": source.get("image_display_url"), "format": "image"}
            try:
                path = download_resource(self.source, image, Path(tmp) / _file_name(str(source["image_url"])))
            except CkanError as error:
                report.fail(f"image of {kind} {source['name']}", str(error))
                return self.destination.call_action(f"{kind}_{how}", {**payload, "image_url": ""})
            fields = {k: v for k, v in payload.items() if not isinstance(v, (list, dict))}
            result = self.destination.call_action(f"{kind}_{how}", fields, files={"image_upload": path.path})
            if payload.get("extras"):  # a multipart form carries no lists: the extras go in a second call
                result = self.destination.call_action(f"{kind}_patch", {"id": result["id"],
                                                                        "extras": payload["extras"]})
            return result

    @staticmethod
    def _show(client: CkanLowlevelClient, kind: str, ref: str) -> dict[str, Any] | None:
        try:
            found = client.call_action(f"{kind}_show", {"id": ref, "include_datasets": False,
                                                         "include_users": False})
        except NotFound:
            return None
        return found if isinstance(found, dict) and isinstance(found.get("id"), str) else None

    # ------------------------------------------------------------------ files and tables

    def _copy_file(self, upload: _Upload, resources: list[Mapping[str, Any]], state: SyncState | None,
                   report: MirrorReport) -> bool:
        """Copy one uploaded file, unless the destination has this very version already; True if copied."""
        if upload.position >= len(resources):
            raise OperationFailure(f"the copy of resource {upload.resource_id} is missing")
        target = resources[upload.position]
        key = f"file:{upload.resource_id}"
        done = state.get_copy(key) if state is not None else None
        if done == (upload.fingerprint, str(target["id"])) and target.get("url_type") == "upload":
            report.count("files unchanged")
            return False
        with tempfile.TemporaryDirectory(prefix="ckan-mirror-") as tmp:
            local = download_resource(self.source, upload.source,
                                      Path(tmp) / _file_name(upload.url))  # streamed, size and hash checked
            replace_resource_file(self.destination, str(target["id"]), local.path)
        if upload.source.get("last_modified"):  # CKAN stamps an upload with its own time: the source's again
            self.destination.call_action("resource_patch", {"id": target["id"],
                                                            "last_modified": upload.source["last_modified"]})
        if state is not None:
            state.record_copy(key, upload.fingerprint, str(target["id"]))
        report.count("files copied")
        report.count("file bytes copied", local.size)
        return True

    def _copy_table(self, resource: Mapping[str, Any], target_id: str, state: SyncState | None,
                    report: MirrorReport) -> bool:
        """Copy a DataStore table (fields with their types, then the rows) unless this version is there."""
        source_store = DataStore(self.source)
        info = self.source.call_action("datastore_info", {"id": resource["id"]})
        fields = [f for f in info.get("fields") or [] if isinstance(f, dict) and f.get("id") != "_id"]
        meta = info.get("meta") or {}
        # The table's own facts: its rows, its size on disk, the last write the resource records.
        fingerprint = f"{meta.get('count')}|{meta.get('size')}|{resource.get('last_modified')}"
        key = f"table:{resource['id']}"
        done = state.get_copy(key) if state is not None else None
        target_store = DataStore(self.destination)
        there = target_store.exists(target_id)
        if done == (fingerprint, target_id) and there:
            report.count("tables unchanged")
            return False
        if there:
            target_store.delete_table(target_id)
        rows = source_store.iter_records(str(resource["id"]), include_id=False)
        target_store.create(target_id, fields=[{"id": f["id"], "type": f.get("type", "text")} for f in fields],
                            records=rows)
        if state is not None:
            state.record_copy(key, fingerprint, target_id)
        report.count("tables copied")
        return True


def _all_groups(client: CkanLowlevelClient, kind: str) -> Iterator[dict[str, Any]]:
    """Every organization or group of a portal with its extras, a page at a time (CKAN caps such pages at 25)."""
    offset = 0
    while True:
        page = client.call_action(f"{kind}_list", {
            "all_fields": True, "include_extras": True, "include_dataset_count": False, "include_users": False,
            "include_groups": False, "include_tags": False, "sort": "name asc", "limit": 25, "offset": offset})
        if not isinstance(page, list) or not page:
            return
        yield from (g for g in page if isinstance(g, dict) and g.get("name"))
        offset += len(page)


def _fingerprint(resource: Mapping[str, Any]) -> str:
    """What identifies one version of an uploaded file: its size, hash and modification time."""
    parts = [str(resource.get(k) or "") for k in ("size", "hash", "last_modified")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _file_name(url: str) -> str:
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return name or "file"


def _extras_of(group: Mapping[str, Any]) -> dict[str, Any]:
    return {e["key"]: e.get("value") for e in group.get("extras") or []
            if isinstance(e, Mapping) and isinstance(e.get("key"), str)}


def _uploaded_image(group: Mapping[str, Any]) -> bool:
    """An image uploaded to the portal: ``image_url`` is a bare file name, ``image_display_url`` its URL."""
    image = str(group.get("image_url") or "")
    return bool(image) and not image.startswith(("http://", "https://")) and \
        str(group.get("image_display_url") or "").startswith(("http://", "https://"))


def _image_changed(there: Mapping[str, Any], source: Mapping[str, Any]) -> bool:
    if _uploaded_image(source):
        return _file_name(str(there.get("image_url") or "")) != _file_name(str(source.get("image_url")))
    return str(there.get("image_url") or "") != str(source.get("image_url") or "")
