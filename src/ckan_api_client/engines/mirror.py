"""Mirror one CKAN portal into another: organizations, groups, datasets, uploaded files and DataStore
tables, deletions too; the first run copies everything, later runs only what changed.

``Mirror(source_client, destination_client).run()`` builds on the sync engine
([`sync`][ckan_api_client.engines.sync]): the source portal is one more kind of source, its dataset
ids the source ids, so everything the sync engine promises holds here too (ownership markers, so
datasets the mirror did not create are never touched; a state file; updates of only the changed
fields; the delete guard; a dry run streamed; a run killed midway finishes when run again).

What it adds:

* **organizations and groups** first: name, title, description, image_url and extras; an uploaded
  image is copied. One that exists on the destination without the mirror's marker is used as it is,
  never changed. Members and users are not copied: they are people, not catalog.
* **uploaded files**: a resource whose file was uploaded to the source is downloaded (streamed to a
  temporary file, checked against its declared size and hash) and uploaded to the destination, so
  the copy no longer points at the source. A file is copied again only when its size, hash or
  modification time changed ([`CopyTracker`][ckan_api_client.engines.mirror.CopyTracker]); a copy is recorded only once it is complete,
  so a run killed midway copies it again instead of leaving it half done. A file the source cannot
  give (an upload whose file is not in its storage, as after a dump loaded elsewhere) is said, not
  failed, and asked again only when the source's resource changes.
* **DataStore tables** of datastore-active resources: the fields with their types, then the rows,
  read with keyset paging and written in chunks (``datastore=False`` to skip).
* **identity**: when the destination key is a sysadmin's, dataset, resource, organization and group
  ids are kept, so links to them keep working; on CKAN 2.12 the source's ``metadata_modified`` too.
  Otherwise names are the identity, and the report says so.
* **incremental reads**: once a dataset is copied, the state keeps the source's ``metadata_modified``
  of that copy; the next run walks the source in compact pages (ids and times only), reads in full only
  the datasets whose time differs (new or changed), and deletes the copies of those gone from it. An
  unchanged source costs a compact page per 1,000 datasets on each side and no writes, whatever
  happened in earlier runs: a dataset that failed is tried again, one that met a lasting conflict (its
  name or id held by a dataset the mirror does not own) is reported and tried again only when the
  source changes it (or with ``retry_conflicts``).
* **parts**: a mirror of a part of the source (``organization``, ``fq``) owns its copies as that part,
  so two parts mirrored into one portal, under one ``name`` or not, never delete each other's copies.

The configuration is [`Mirror`][ckan_api_client.engines.mirror.Mirror]; each run is a [`MirrorRun`][ckan_api_client.engines.mirror.MirrorRun].
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import unquote, urlsplit

from ..blocking.client import CkanLowlevelClient
from ..blocking.concurrency import alongside
from ..blocking.datastore import DataStore
from ..core import entities
from ..core.entities import all_of
from ..core.operation import Call
from ..core.site import same_site
from ..core.writes import create_resolving, revise
from ..exceptions import CkanError, InvalidInput, NotAuthorized, NotFound, OperationFailure, ServerError
from .planning import DeleteLimit, instant
from .report import CONFLICT, Failure, Measure, Report
from .state import SyncState, open_state, resolve_state_path
from .sync import PlannedWrite, SynchronizationClient

__all__ = ["Mirror", "MirrorRun", "MIRROR_KEY"]

logger = logging.getLogger("ckan_api_client.mirror")

MIRROR_KEY = "mirror_source"
"""The extra that marks an organization or group the mirror created (its value: the mirror's name)."""
_GROUP_FIELDS = ("title", "description", "image_url")
COMPACT = "id,metadata_modified"
FULL_BATCH = 100
"""Source datasets read in full per search, by id, in an incremental run."""
MISSING = "missing at the source:"
"""Marks, in the state, an upload whose file the source could not give (then the copy's resource id)."""


class Mirror:
    """Copies the ``source`` portal into ``destination`` and keeps it in step; see the module documentation.

    ``name`` names this mirror on the destination (ownership markers and state; default
    ``mirror:<source host and path>``). ``fq`` or ``organization`` mirror a part of the source (the copies
    are then owned as ``<name> [<part>]``); ``include_private`` also private datasets and drafts (the source
    key must see them; a draft is copied as a draft, and published when the source publishes it).
    ``retry_conflicts`` tries again the datasets that met a lasting conflict though their source did not
    change; ``refresh_groups`` compares every organization and group again.
    """

    def __init__(self, source: CkanLowlevelClient, destination: CkanLowlevelClient, *, name: str | None = None,
                 include_private: bool = False, fq: str | None = None, organization: str | None = None,
                 datastore: bool = True, files: bool = True, concurrency: int = 4,
                 state: bool | str | os.PathLike[str] = True, max_delete: str | int | DeleteLimit = "50%",
                 page_size: int = 1000, retry_conflicts: bool = False, refresh_groups: bool = False) -> None:
        if same_site(source.base_url, destination.base_url):
            raise InvalidInput(f"the source and the destination are the same portal ({destination.base_url}): a "
                               "mirror copies one portal into another")
        self.source = source
        self.destination = destination
        parts = urlsplit(source.base_url)
        self.name = name or f"mirror:{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"
        self.part = " ".join(p for p in (f"organization:{organization}" if organization else "",
                                         f"fq:{fq}" if fq else "") if p)
        self.owner = f"{self.name} [{self.part}]" if self.part else self.name
        """What the copies are marked with: the mirror's name, and the part of the source it copies."""
        self.include_private = include_private
        self.filters = all_of(fq, f'organization:"{organization}"' if organization else None)
        self.organization = organization
        self.datastore = datastore
        self.files = files
        self.concurrency = concurrency
        self.max_delete = max_delete
        self.page_size = page_size
        self.retry_conflicts = retry_conflicts
        self.refresh_groups = refresh_groups
        self.state_path = resolve_state_path(state, destination.base_url, self.owner)

    def run(self, *, dry_run: bool = False, progress: Callable[[PlannedWrite, str], None] | None = None,
            report: Report | None = None) -> Report:
        """Copy what changed since the last successful run (everything, the first time)."""
        report = report or Report("")
        report.operation, report.dry_run = "mirror", dry_run
        with Measure(report, self.source.transport, self.destination.transport):
            with alongside(self.destination.check_token) as destination_checked:  # the two portals at once
                self.source.check_token()
                destination_checked.result()
            # One connection to the state for the run, opened before anything is written: a file that is not
            # this mirror's state stops it here. It holds the source's time of each copy, files and tables.
            state = open_state(self.state_path, self.destination.base_url, self.owner) if self.state_path else None
            try:
                MirrorRun(self, state, report).run(dry_run, progress)
            finally:
                if state is not None:
                    state.close()
        return report



@dataclass(frozen=True)
class _Upload:
    position: int
    resource_id: str
    url: str
    fingerprint: str
    source: dict[str, Any]


class CopyTracker:
    """What a run's datasets need besides their metadata: the uploaded files and DataStore tables of each
    source dataset, and its ``metadata_modified`` (recorded in the state once the dataset is copied)."""

    def __init__(self, files: bool, tables: bool) -> None:
        self.files, self.tables = files, tables
        self.uploads: dict[str, list[_Upload]] = {}
        self.datastore: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.modified: dict[str, str] = {}
        self._lock = threading.Lock()

    def note(self, record: dict[str, Any]) -> dict[str, Any]:
        """Note a source record's files, tables and time; point its uploaded resources at their copies' file names."""
        sid = str(record.get("id"))
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
            if self.tables and resource.get("datastore_active"):
                found_tables.append((position, dict(resource)))
        with self._lock:
            if found_uploads:
                self.uploads[sid] = found_uploads
            if found_tables:
                self.datastore[sid] = found_tables
            self.modified[sid] = str(record.get("metadata_modified") or "")
        return record

    def take(self, sid: str) -> tuple[list[_Upload], list[tuple[int, dict[str, Any]]], str | None]:
        """The files, tables and source time noted for a dataset, handed out once."""
        with self._lock:
            return self.uploads.pop(sid, []), self.datastore.pop(sid, []), self.modified.pop(sid, None)

    def time_of(self, sid: str) -> str | None:
        with self._lock:
            return self.modified.get(sid)


class MirrorRun:
    """One mirror run: organizations and groups, then the datasets through the sync engine, with each
    dataset's files and tables copied after its metadata is written."""

    def __init__(self, config: Mirror, state: SyncState | None, report: Report) -> None:
        self.config = config
        self.source, self.destination = config.source, config.destination
        self.state = state
        self.report = report
        self.sysadmin = _is_sysadmin(self.destination)
        self.keep_modified = self.sysadmin and self.destination.capabilities.at_least(2, 12)
        report.details["identity"] = ("ids kept" + (", and metadata_modified" if self.keep_modified else "")) \
            if self.sysadmin else "names are the identity: the destination key is not a sysadmin's, so ids " \
                                  "cannot be kept"
        if config.part:
            report.details["part"] = config.part
        self.incremental = state is not None and state.has_copies("source:")
        report.details["incremental"] = self.incremental
        self.copies = CopyTracker(config.files, config.datastore)
        self.remembered: set[str] = set()

    def run(self, dry_run: bool, progress: Callable[[PlannedWrite, str], None] | None) -> None:
        config = self.config
        present: set[str] | None = None
        if self.incremental:
            present, changed = self.changed_in_source()
            records: Iterable[dict[str, Any]] = self.read_in_full(changed)
        else:
            records = self.source_records()
        if not dry_run:
            self.copy_all_groups()
        sync = SynchronizationClient(
            self.destination, config.owner, concurrency=config.concurrency, source_id="id",
            page_size=config.page_size, state=self.state.path if self.state is not None else False,
            transform=self.read,
            max_delete=config.max_delete, organization_strategy="map", group_strategy="map",
            keep_fields=("state", *(("id",) if self.sysadmin else ()),
                         *(("metadata_modified",) if self.keep_modified else ())),
            after_write=self.after_write, refetch=self.refetch)
        if dry_run:
            for write in sync.plan(records, self.report, present=present):
                if progress is not None:
                    progress(write, write.operation)
            return
        sync.sync(records, progress=progress, present=present, report=self.report)
        self.remember_conflicts()

    def refetch(self, ids: list[str]) -> Iterator[dict[str, Any]]:
        """Source datasets not copied on the destination (deleted there by hand), in full: to copy again; not
        the remembered conflicts, which have no copy to lose and are not tried again."""
        return self.read_in_full([i for i in ids if i not in self.remembered])

    def read(self, record: dict[str, Any]) -> dict[str, Any]:
        self.report.count("source datasets read")
        return self.copies.note(record)

    def after_write(self, source_id: str, written: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Copy the dataset's files and tables, then record the source's time of this copy; the dataset as it
        is after that (None: unchanged)."""
        resources = [r for r in written.get("resources") or [] if isinstance(r, Mapping)]
        uploads, tables, source_modified = self.copies.take(source_id)
        changed = False
        for upload in uploads:
            changed |= self.copy_file(upload, resources)
        for position, resource in tables:
            if position < len(resources):
                changed |= self.copy_table(resource, str(resources[position]["id"]))
        if self.state is not None and source_modified:
            self.state.record_copy(f"source:{source_id}", instant(source_modified), str(written.get("id")))
            self.state.forget_copy(f"conflict:{source_id}")
        if not changed:
            return None
        if self.keep_modified and source_modified:  # the copies' writes moved it: the source's time again
            return self.destination.run(revise(str(written["id"]), None, {"metadata_modified": source_modified}))
        return self.destination.get_dataset(str(written["id"]))

    def remember_conflicts(self) -> None:
        """A lasting conflict (a name or id held by a dataset the mirror does not own) is a stable state: kept in
        the state with the source's time, and not tried again until the source changes the dataset."""
        if self.state is None:
            return
        for conflict in self.report.conflicts:
            modified = self.copies.time_of(str(conflict.source_id)) if conflict.source_id else None
            if modified:
                self.state.record_copy(f"conflict:{conflict.source_id}", instant(modified), conflict.reason)

    # ------------------------------------------------------------------ the source

    def source_records(self) -> Iterator[dict[str, Any]]:
        """Every dataset of the part mirrored, in full pages (a first run, or one without a state)."""
        for page in self.source.search_pages(None, self.config.page_size, fq=self.config.filters,
                                             include_private=self.config.include_private,
                                             include_drafts=self.config.include_private):
            yield from page

    def changed_in_source(self) -> tuple[set[str], list[str]]:
        """Every source dataset of the part (compact pages: ids and times), and those to read in full: new,
        changed since their copy, or not copied yet; a remembered conflict is reported, not tried again."""
        assert self.state is not None
        present: set[str] = set()
        changed: list[str] = []
        for page in self.source.search_pages(COMPACT, self.config.page_size, fq=self.config.filters,
                                             include_private=self.config.include_private,
                                             include_drafts=self.config.include_private):
            times = {d["id"]: instant(d.get("metadata_modified")) for d in page}
            copied = self.state.copies_of([f"source:{i}" for i in times])
            conflicts = self.state.copies_of([f"conflict:{i}" for i in times]) if not self.config.retry_conflicts \
                else {}
            for dataset_id, modified in times.items():
                present.add(dataset_id)
                if (copied.get(f"source:{dataset_id}") or ("",))[0] == modified:
                    continue
                remembered = conflicts.get(f"conflict:{dataset_id}")
                if remembered is not None and remembered[0] == modified:
                    self.remembered.add(dataset_id)
                    self.report.add(Failure(CONFLICT, "create", dataset_id, f"{remembered[1]} (as in an earlier "
                                            "run; tried again when the source changes it, or with --retry-conflicts)",
                                            source_id=dataset_id))
                    continue
                changed.append(dataset_id)
        return present, changed

    def read_in_full(self, ids: list[str]) -> Iterator[dict[str, Any]]:
        """The datasets with these ids, in full, a search of ``FULL_BATCH`` ids at a time."""
        for start in range(0, len(ids), FULL_BATCH):
            batch = ids[start:start + FULL_BATCH]
            query = "id:(" + " OR ".join(f'"{i}"' for i in batch) + ")"
            for page in self.source.search_pages(None, FULL_BATCH, fq=query, include_private=True,
                                                 include_drafts=self.config.include_private):
                yield from page

    # ------------------------------------------------------------------ organizations and groups

    def copy_all_groups(self) -> None:
        """Organizations, then groups. An incremental run compares them all only when the source's list of their
        names changed (one request each side) or when asked (``refresh_groups``); otherwise it copies only the
        new ones, and those the datasets it writes use are found as they are."""
        for kind in ("organization", "group"):
            names = self.source_group_names(kind)
            key = f"{kind}s of the source"
            fingerprint = hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:24]
            if self.incremental and not self.config.refresh_groups and self.state is not None and \
                    self.state.get_meta(key) == fingerprint:
                self.report.count(f"{kind}s unchanged (not compared)", len(names))
                continue
            self.copy_groups(kind)
            if self.state is not None and not [f for f in self.report.errors if f.operation == f"copy {kind}"]:
                self.state.set_meta(key, fingerprint)

    def source_group_names(self, kind: str) -> list[str]:
        """The names of the source's organizations or groups (of the part mirrored), in one request."""
        if self.config.filters:
            return sorted(self.part_facets(kind))
        names = self.source.call_action(f"{kind}_list", {"all_fields": False, "limit": 1000}, method="GET")
        return sorted(str(n) for n in names) if isinstance(names, list) else []

    def part_facets(self, kind: str) -> dict[str, int]:
        facet = "organization" if kind == "organization" else "groups"
        result = self.source.call_action("package_search", {
            "fq": self.config.filters, "rows": 0, "facet.field": [facet], "facet.limit": -1,
            "include_private": self.config.include_private, "include_drafts": self.config.include_private})
        facets = (result.get("facets") or {}).get(facet) if isinstance(result, dict) else None
        return dict(facets) if isinstance(facets, dict) else {}

    def copy_groups(self, kind: str) -> None:
        """Create what the destination lacks, update what this mirror made; leave the others alone."""
        present = {str(g["name"]): g for g in self.destination.list_group_summaries(kind, extras=True)}
        for group in self.source_groups(kind):
            name = str(group["name"])
            try:
                self.report.count(self.copy_group(kind, group, present.get(name)))
            except CkanError as error:
                self.report.add(Failure.of(f"copy {kind}", name, error))

    def copy_group(self, kind: str, group: dict[str, Any], there: dict[str, Any] | None) -> str:
        """Copy one organization or group; the outcome to count."""
        wanted = self.group_payload(group)
        if there is None:
            if self.sysadmin:
                wanted["id"] = group["id"]
            created = self.destination.run(create_resolving(
                Call(f"{kind}_create", wanted), lambda: entities.find_group_of(kind, str(group["name"]))))
            if _uploaded_image(group):  # the image goes up as a file once the group exists
                self.write_group(kind, "patch", {**wanted, "id": created.result["id"]}, group)
            return f"{kind}s created" if created.uncertain == 0 else f"{kind}s created (resolved)"
        if _extras_of(there).get(MIRROR_KEY) not in (self.config.name, self.config.owner):
            return f"{kind}s left as they were (not the mirror's)"
        if any(there.get(k) != wanted.get(k) for k in ("title", "description")) or \
                _extras_of(there) != _extras_of(wanted) or _image_changed(there, group):
            self.write_group(kind, "patch", {**wanted, "id": there["id"]}, group)
            return f"{kind}s updated"
        return f"{kind}s unchanged"

    def source_groups(self, kind: str) -> Iterator[dict[str, Any]]:
        """Every organization or group of the source; for a part of it, those its datasets use."""
        if self.config.filters:
            for name in sorted(self.part_facets(kind)):
                found = self.source.run(entities.find_group_of(kind, name))
                if found is not None:
                    yield found
            return
        yield from self.source.list_group_summaries(kind, extras=True)

    def group_payload(self, group: Mapping[str, Any]) -> dict[str, Any]:
        extras = {**_extras_of(group), MIRROR_KEY: self.config.name}  # shared by the parts of one mirror
        payload: dict[str, Any] = {"name": group["name"], **{k: group.get(k) or "" for k in _GROUP_FIELDS},
                                   "extras": [{"key": k, "value": v} for k, v in sorted(extras.items())]}
        if _uploaded_image(group):
            payload.pop("image_url")  # the file goes up as image_upload
        return payload

    def write_group(self, kind: str, how: str, payload: dict[str, Any], source: Mapping[str, Any]) -> Any:
        """``{kind}_create`` or ``_patch``; an image uploaded to the source is copied as a file. An image
        that cannot be fetched does not hold the organization back: one the source does not have (404) is
        said (nothing a later run could copy), another error is a failure of its own."""
        if not _uploaded_image(source):
            return self.destination.call_action(f"{kind}_{how}", payload)
        with tempfile.TemporaryDirectory(prefix="ckan-mirror-") as tmp:
            image = {"id": "image", "url": source.get("image_display_url"), "format": "image"}
            try:
                path = self.source.download_resource(image, Path(tmp) / _file_name(str(source["image_url"])))
            except CkanError as error:
                if isinstance(error, NotFound):
                    self.report.count("images missing at the source")
                    self.report.note(Failure("note", f"copy image of {kind}", str(source["name"]),
                                             f"the source has no file at its image_url ({error})"))
                else:
                    self.report.add(Failure.of(f"copy image of {kind}", str(source["name"]), error))
                return self.destination.call_action(f"{kind}_{how}", {**payload, "image_url": ""})
            fields = {k: v for k, v in payload.items() if not isinstance(v, (list, dict))}
            result = self.destination.call_action(f"{kind}_{how}", fields, files={"image_upload": path.path})
            if payload.get("extras"):  # a multipart form carries no lists: the extras go in a second call
                result = self.destination.call_action(f"{kind}_patch", {"id": result["id"],
                                                                        "extras": payload["extras"]})
            return result

    # ------------------------------------------------------------------ files and tables

    def copy_file(self, upload: _Upload, resources: list[Mapping[str, Any]]) -> bool:
        """Copy one uploaded file, unless the destination has this very version already; True if copied.

        A file the source cannot give (404, or the 500 CKAN answers when an upload's file is not in its
        storage, as after a dump loaded elsewhere) does not hold the dataset back: it is said, remembered with
        this version of the resource, and asked again only when the source's resource changes."""
        if upload.position >= len(resources):
            raise OperationFailure(f"the copy of resource {upload.resource_id} is missing")
        target = resources[upload.position]
        key = f"file:{upload.resource_id}"
        done = self.state.get_copy(key) if self.state is not None else None
        if done == (upload.fingerprint, str(target["id"])) and target.get("url_type") == "upload":
            self.report.count("files unchanged")
            return False
        if done == (upload.fingerprint, f"{MISSING}{target['id']}"):
            self.report.count("files missing at the source")
            return False
        with tempfile.TemporaryDirectory(prefix="ckan-mirror-") as tmp:
            try:
                local = self.source.download_resource(upload.source, Path(tmp) / _file_name(upload.url))
            except (NotFound, ServerError) as error:
                self.report.count("files missing at the source")
                self.report.note(Failure("note", "copy file", upload.resource_id, "the source's resource is an upload "
                                         f"but the source cannot give its file ({error}): nothing to copy"))
                if self.state is not None:
                    self.state.record_copy(key, upload.fingerprint, f"{MISSING}{target['id']}")
                return False
            self.destination.replace_resource_file(str(target["id"]), local.path)
        if upload.source.get("last_modified"):  # CKAN stamps an upload with its own time: the source's again
            self.destination.call_action("resource_patch", {"id": target["id"],
                                                            "last_modified": upload.source["last_modified"]})
        if self.state is not None:
            self.state.record_copy(key, upload.fingerprint, str(target["id"]))
        self.report.count("files copied")
        self.report.count("file bytes copied", local.size)
        return True

    def copy_table(self, resource: Mapping[str, Any], target_id: str) -> bool:
        """Copy a DataStore table (fields with their types, then the rows) unless this version is there. A
        resource flagged ``datastore_active`` whose table the source does not have is said, not failed."""
        try:
            info = self.source.call_action("datastore_info", {"id": resource["id"]})
        except NotFound:
            self.report.count("tables missing at the source")
            self.report.note(Failure("note", "copy table", str(resource["id"]), "the source's resource is flagged "
                                     "datastore_active but the source has no DataStore table for it: nothing to copy"))
            return False
        fields = [f for f in info.get("fields") or [] if isinstance(f, dict) and f.get("id") != "_id"]
        meta = info.get("meta") or {}
        # The table's own facts: its rows, its size on disk, the last write the resource records.
        fingerprint = f"{meta.get('count')}|{meta.get('size')}|{resource.get('last_modified')}"
        key = f"table:{resource['id']}"
        done = self.state.get_copy(key) if self.state is not None else None
        target_store = DataStore(self.destination)
        there = target_store.exists(target_id)
        if done == (fingerprint, target_id) and there:
            self.report.count("tables unchanged")
            return False
        if there:
            target_store.delete_table(target_id)
        rows = DataStore(self.source).iter_records(str(resource["id"]), include_id=False)
        target_store.create(target_id, fields=[{"id": f["id"], "type": f.get("type", "text")} for f in fields],
                            records=rows)
        if self.state is not None:
            self.state.record_copy(key, fingerprint, target_id)
        self.report.count("tables copied")
        return True


def _is_sysadmin(client: CkanLowlevelClient) -> bool:
    """Only sysadmins may read the site's configuration options."""
    try:
        client.call_action("config_option_list", method="GET")
    except (NotAuthorized, NotFound):
        return False
    return True


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
