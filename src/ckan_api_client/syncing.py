"""The synchronization client: harvest a source collection of datasets into a CKAN, at any size.

``SynchronizationClient(client, source_name).sync(records)`` makes the portal hold exactly the
source's datasets, and touches nothing else:

* every dataset it creates carries two extras, ``sync_source`` (the source name) and
  ``sync_source_id`` (the record's stable id in the source): that is what "owned" means; a dataset
  it does not own is never modified or deleted (a name collision is a reported conflict);
* the source is read as a stream (any iterable; JSON Lines from the command line) and spooled to
  a temporary file: the run keeps only ids, names and content hashes in memory;
* with its state (:mod:`ckan_api_client.state`, an SQLite file per portal and source), a run reads
  the owned datasets as compact search pages only, and reads a dataset in full only when its source
  record changed or it was edited on the portal (then it is restored, and reported as such). An
  unchanged source costs ``ceil(owned / page size)`` search requests and no writes. Without the
  state, a run reads the owned datasets in full pages and is as correct, only slower;
* what to write is decided by the pure functions of :mod:`ckan_api_client.planning`, and written
  through :mod:`ckan_api_client.writes` (a create whose outcome is unknown is resolved by reading
  back; an update sends only the changed fields, matched on ``metadata_modified``);
* a source with unreadable records deletes nothing; a run that would delete more than
  ``max_delete`` (default 50% of what the source owns), or everything for an empty source, raises
  :class:`~ckan_api_client.exceptions.MassDeleteRefused` before writing anything;
* organizations and groups named by the source are mapped by name, created if missing
  (``organization_strategy="create"``), only mapped (``"map"``: missing ones make their datasets
  fail), or required (``"fail"``: nothing is written if one is missing);
* :meth:`~SynchronizationClient.plan` streams the plan of a dry run, one :class:`PlannedWrite`
  at a time; a run killed midway and run again finishes the job and duplicates nothing.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence

from .concurrency import run_concurrently
from .exceptions import (CkanError, ConcurrentModification, InvalidInput, MassDeleteRefused, NotFound,
                         OperationFailure, ValidationError)
from .high_level import CkanHighlevelClient
from .low_level import CkanLowlevelClient
from .objects import Change, Dataset, diff, format_diff
from .planning import (CLEANERS, SOURCE_ID_KEY, SOURCE_KEY, Cleaner, DeleteLimit, Planned, PortalEntry, Rejected,
                       SourceEntry, Step, content_hash, delete_refusal, deletes_planned, instant, plan_sync, prepare)
from .state import StateEntry, SyncState, resolve_state_path
from .writes import CreateOutcome, create_resolving, name_taken, remove, revise_dataset

__all__ = ["SynchronizationClient", "SyncReport", "PlannedWrite", "Failure", "SOURCE_KEY", "SOURCE_ID_KEY"]

logger = logging.getLogger("ckan_api_client.sync")

Strategy = Literal["create", "map", "fail"]

COMPACT_FIELDS = f"id,name,metadata_modified,extras_{SOURCE_KEY},extras_{SOURCE_ID_KEY}"
_WRITE_ACTIONS = ("package_create", "package_revise", "package_update", "package_patch", "package_delete",
                  "dataset_purge", "organization_create", "group_create", "resource_create", "resource_update")


@dataclass
class PlannedWrite:
    """One step of a sync: what it writes (or would write, in a dry run), and why."""

    operation: Literal["create", "update", "unchanged", "delete", "conflict", "withheld"]
    source_id: str
    name: str
    dataset_id: str | None = None
    reason: str = ""
    changes: list[Change] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def diff_text(self) -> str:
        return format_diff(self.changes)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"operation": self.operation, "source_id": self.source_id, "name": self.name}
        if self.dataset_id:
            out["dataset_id"] = self.dataset_id
        if self.reason:
            out["reason"] = self.reason
        if self.changes:
            out["diff"] = [str(c) for c in self.changes]
        return out


@dataclass
class Failure:
    """A record that could not be synced (or a note on one), and why."""

    source_id: str | None
    name: str | None
    operation: str
    reason: str


@dataclass
class SyncReport:
    """What a sync did (or, in a dry run, would do)."""

    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    conflicts: list[Failure] = field(default_factory=list)
    invalid: list[Failure] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    """Names of datasets edited on the portal and put back as the source has them."""
    notes: list[Failure] = field(default_factory=list)
    """What the cleaners changed in a record, and why."""
    refused: str | None = None
    requests: int = 0
    search_requests: int = 0
    write_requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.counts[what] = self.counts.get(what, 0) + n

    @property
    def created(self) -> int:
        return self.counts.get("created", 0)

    @property
    def updated(self) -> int:
        return self.counts.get("updated", 0)

    @property
    def unchanged(self) -> int:
        return self.counts.get("unchanged", 0)

    @property
    def deleted(self) -> int:
        return self.counts.get("deleted", 0)

    @property
    def resolved(self) -> int:
        """Writes whose outcome was unknown (connection lost, gateway error), resolved by reading back."""
        return self.counts.get("resolved by reading back", 0)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.conflicts and not self.invalid

    def summary(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, **{k: self.counts.get(k, 0) for k in (
            "created", "updated", "unchanged", "deleted", "withheld")},
            "restored": len(self.restored), "conflicts": len(self.conflicts), "invalid": len(self.invalid),
            "failures": len(self.failures), "cleaned": len(self.notes), "requests": self.requests,
            "search_requests": self.search_requests, "write_requests": self.write_requests, "retries": self.retries,
            "resolved_by_reading_back": self.resolved, "seconds": round(self.seconds, 3)}


class _Spool:
    """JSON lines in a temporary file, read back by offset from any thread (``os.pread``): keeps records
    out of memory."""

    def __init__(self, near: Path | None = None) -> None:
        self._fh: IO[bytes] = tempfile.TemporaryFile(prefix="ckan-sync-", dir=near)
        self._end = 0

    def add(self, value: Any) -> tuple[int, int]:
        data = (json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        self._fh.write(data)
        where = (self._end, len(data))
        self._end += len(data)
        return where

    def get(self, offset: int, length: int) -> Any:
        self._fh.flush()
        return json.loads(os.pread(self._fh.fileno(), length, offset))

    def close(self) -> None:
        self._fh.close()


@dataclass
class _Run:
    """What one sync holds while it runs: the two indexes and their spools, the state, the report."""

    report: SyncReport
    source: dict[str, SourceEntry]
    portal: dict[str, list[PortalEntry]]
    spool: _Spool
    portal_spool: _Spool | None
    state: SyncState | None
    readable: int = 0
    unreadable: int = 0
    organizations: dict[str, str] | None = None
    """Organization id and name → its id on the portal, listed once when a write needs them."""
    groups: dict[str, str] | None = None
    """Group id and name → its name on the portal."""
    described: dict[str, dict[str, str]] = field(default_factory=dict)
    """Organizations and groups as the source describes them, to create the missing ones with."""

    def close(self) -> None:
        self.spool.close()
        if self.portal_spool is not None:
            self.portal_spool.close()
        if self.state is not None:
            self.state.close()


class SynchronizationClient:
    """Harvests a source collection into a CKAN; see the module documentation.

    ``state`` is the state file: ``True`` (the default) for one under the user's state directory
    (``~/.local/state/ckan-api-client/sync/``), a path, or ``False`` for none. ``transform`` is
    called with each source record (a copy) and returns the record to sync (or None to leave it
    out); ``cleaners`` are opt-in fixes for what CKAN refuses (names of :data:`~planning.CLEANERS`:
    ``"tags"``, ``"emails"``, ``"oversized"``, or callables), each change reported per record.
    ``keep_fields`` keeps server fields of the records (``id``, ``metadata_modified``: the mirror,
    with a sysadmin's key). ``after_write(source_id, dataset)`` runs after a dataset was created,
    updated or found as wanted, before the state records it: if it raises, the record fails and
    the next run comes back to it (the mirror copies files and tables there); if it changed the
    dataset, it returns the dataset as it is now.
    """

    def __init__(
        self,
        client: CkanHighlevelClient | CkanLowlevelClient,
        source_name: str,
        *,
        organization_strategy: Strategy = "create",
        group_strategy: Strategy = "create",
        default_organization: str | None = None,
        concurrency: int = 4,
        source_id: str | Callable[[Mapping[str, Any]], Any] = "id",
        fold_unknown_fields: bool | None = None,
        page_size: int = 1000,
        max_delete: str | int | DeleteLimit = "50%",
        allow_empty_source: bool = False,
        state: bool | str | os.PathLike[str] = True,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        cleaners: Sequence[str | Cleaner] = (),
        keep_fields: Sequence[str] = (),
        after_write: Callable[[str, Mapping[str, Any]], Mapping[str, Any] | None] | None = None,
    ) -> None:
        if not isinstance(source_name, str) or not source_name.strip():
            raise InvalidInput("source_name must be a non-empty string")
        for label, strategy in (("organization_strategy", organization_strategy), ("group_strategy", group_strategy)):
            if strategy not in ("create", "map", "fail"):
                raise InvalidInput(f"{label} must be 'create', 'map' or 'fail', not {strategy!r}")
        self.high = client if isinstance(client, CkanHighlevelClient) else CkanHighlevelClient(client=client)
        self.client = self.high.client
        self.source_name = source_name
        self.organization_strategy = organization_strategy
        self.group_strategy = group_strategy
        self.default_organization = default_organization
        self.concurrency = concurrency
        self.source_id = source_id
        self._fold = fold_unknown_fields
        self.page_size = page_size
        self.max_delete = DeleteLimit.parse(max_delete)
        self.allow_empty_source = allow_empty_source
        self.state_path = resolve_state_path(state, self.client.base_url, source_name)
        self.transform = transform
        self.keep_fields = tuple(keep_fields)
        self.after_write = after_write
        self.cleaners: list[Cleaner] = []
        for cleaner in cleaners:
            if callable(cleaner):
                self.cleaners.append(cleaner)
            elif cleaner in CLEANERS:
                self.cleaners.append(CLEANERS[cleaner])
            else:
                raise InvalidInput(f"no cleaner called {cleaner!r}: the built-in ones are {', '.join(CLEANERS)}")

    # ------------------------------------------------------------------ ownership

    def owns(self, dataset: Mapping[str, Any]) -> bool:
        """True when ``dataset`` carries this source's ownership marker."""
        return self._marker(dataset, SOURCE_KEY) == self.source_name and bool(self._marker(dataset, SOURCE_ID_KEY))

    @staticmethod
    def _marker(dataset: Mapping[str, Any], key: str) -> Any:
        if key in dataset:  # a compact search result carries its extras as top-level fields
            return dataset[key]
        for extra in dataset.get("extras") or []:
            if isinstance(extra, Mapping) and extra.get("key") == key:
                return extra.get("value")
        return None

    def _owned_pages(self, fields: str | None) -> Iterator[list[dict[str, Any]]]:
        query = f"extras_{SOURCE_KEY}:{json.dumps(self.source_name, ensure_ascii=False)}"
        for page in self.client.search_pages(fields, self.page_size, fq=query, include_drafts=True):
            yield [d for d in page if self.owns(d)]  # the search narrows; the exact marker decides

    def owned_datasets(self) -> dict[str, list[dict[str, Any]]]:
        """The datasets this source owns, in full, by source id (a search page at a time)."""
        owned: dict[str, list[dict[str, Any]]] = {}
        for page in self._owned_pages(None):
            for dataset in page:
                owned.setdefault(str(self._marker(dataset, SOURCE_ID_KEY)), []).append(dataset)
        return owned

    @property
    def fold_unknown_fields(self) -> bool:
        if self._fold is None:
            self._fold = not self.client.capabilities.has_extension("scheming_datasets")
        return self._fold

    # ------------------------------------------------------------------ running

    def sync(self, source_datasets: Iterable[Any], *, dry_run: bool = False,
             progress: Callable[[PlannedWrite, str], None] | None = None,
             present: Iterable[str] | None = None) -> SyncReport:
        """Make the portal hold exactly the source's datasets; return what was done (or, dry, planned).

        ``present`` names source ids that exist in the source although ``source_datasets`` leaves
        them out (they did not change since the last run): they are neither read nor deleted."""
        report = SyncReport(dry_run=dry_run)
        for write in self._run(source_datasets, report, dry_run=dry_run, progress=progress, present=present):
            pass
        return report

    def plan(self, source_datasets: Iterable[Any], report: SyncReport | None = None, *,
             present: Iterable[str] | None = None) -> Iterator[PlannedWrite]:
        """The dry run's plan, streamed: one :class:`PlannedWrite` per source record and per delete.

        Nothing is written. ``report`` (optional) is filled with the counts as the plan goes."""
        return self._run(source_datasets, report or SyncReport(dry_run=True), dry_run=True, progress=None,
                         present=present)

    def _run(self, source_datasets: Iterable[Any], report: SyncReport, *, dry_run: bool,
             progress: Callable[[PlannedWrite, str], None] | None,
             present: Iterable[str] | None = None) -> Iterator[PlannedWrite]:
        started = time.monotonic()
        stats = self.client.transport.stats
        requests_before, retries_before, actions_before = stats.requests, stats.retries, stats.snapshot()
        self.client.check_token()  # a token the portal does not know would act as anonymous: stop first
        run = self._start(report)
        try:
            self._read_source(run, source_datasets, present)
            self._read_portal(run)
            deletes = 0 if run.unreadable else deletes_planned(run.source, run.portal)
            owned = sum(len(c) for c in run.portal.values())
            report.refused = delete_refusal(deletes, owned, run.readable, self.max_delete, self.allow_empty_source)
            if report.refused and not dry_run:
                raise MassDeleteRefused(f"nothing was written: {report.refused}")
            steps = plan_sync(run.source, run.portal, unreadable=run.unreadable)
            if dry_run:
                yield from self._dry(run, steps)
            else:
                # A first pass over the (pure, cheap) plan: which organizations and groups the writes name.
                writing = [run.source[s.source_id] for s in plan_sync(run.source, run.portal,
                                                                      unreadable=run.unreadable)
                           if s.step in (Step.CREATE, Step.CHECK)]
                self._prepare_groups(run, {e.organization for e in writing if e.organization},
                                     {g for e in writing for g in e.groups})
                del writing
                for write, status in run_concurrently(steps, lambda step: self._apply(run, step),
                                                      concurrency=self.concurrency):
                    outcome = status if isinstance(status, PlannedWrite) else self._failed(run, write, status)
                    if progress is not None:
                        progress(outcome, "failed" if isinstance(status, Exception) else outcome.operation)
                    yield outcome
        finally:
            run.close()
            after = stats.snapshot()
            report.requests = stats.requests - requests_before
            report.retries = stats.retries - retries_before
            report.search_requests = after.get("package_search", 0) - actions_before.get("package_search", 0)
            report.write_requests = sum(after.get(a, 0) - actions_before.get(a, 0) for a in _WRITE_ACTIONS)
            report.seconds = time.monotonic() - started

    def _start(self, report: SyncReport) -> _Run:
        state = SyncState(self.state_path, self.client.base_url, self.source_name) if self.state_path else None
        return _Run(report, {}, {}, _Spool(), None, state)

    # ------------------------------------------------------------------ reading both sides

    def _read_source(self, run: _Run, records: Iterable[Any], present: Iterable[str] | None) -> None:
        """Stream the source: prepare each record, spool it, keep its id, name and hash."""
        fold = self.fold_unknown_fields
        for record in records:
            prepared = prepare(record, source_name=self.source_name, source_id=self.source_id,
                               fold_unknown_fields=fold, default_organization=self.default_organization,
                               transform=self.transform, cleaners=self.cleaners, keep_fields=self.keep_fields)
            if isinstance(prepared, Rejected):
                if prepared.source_id is None:
                    run.unreadable += 1  # its id is unknown: it might be any owned dataset
                else:
                    run.readable += 1
                run.report.invalid.append(Failure(prepared.source_id, prepared.name, "read", prepared.reason))
                continue
            run.readable += 1
            if prepared.source_id in run.source:
                run.report.invalid.append(Failure(prepared.source_id, prepared.name, "read",
                                                  "a second record with the same source id"))
                continue
            for group_name, fields in prepared.described.items():
                run.described.setdefault(group_name, fields)
            for note in prepared.notes:
                run.report.notes.append(Failure(prepared.source_id, prepared.name, "clean", note))
                logger.info("%s: %s", prepared.name, note)
            offset, length = run.spool.add(prepared.dataset)
            run.source[prepared.source_id] = SourceEntry(
                prepared.name, content_hash(prepared.dataset), offset, length, prepared.organization,
                prepared.groups)
        # A record that has a source id but cannot be synced keeps its dataset: never deleted for it.
        # So does one the source still holds but did not send this time (unchanged since the last run).
        for failure in run.report.invalid:
            if failure.source_id is not None and failure.source_id not in run.source:
                run.source[failure.source_id] = SourceEntry(failure.name or "", "")
        for sid in present or ():
            if sid not in run.source:
                run.readable += 1
                run.source[sid] = SourceEntry("", "")

    def _read_portal(self, run: _Run) -> None:
        """The owned datasets: compact pages checked against the state; full pages (spooled) without one."""
        compact = run.state is not None and len(run.state) > 0
        if not compact:
            run.portal_spool = _Spool()
        for page in self._owned_pages(COMPACT_FIELDS if compact else None):
            known = run.state.lookup(str(self._marker(d, SOURCE_ID_KEY)) for d in page) \
                if compact and run.state is not None else {}
            for dataset in page:
                sid = str(self._marker(dataset, SOURCE_ID_KEY))
                modified = instant(dataset.get("metadata_modified"))
                entry = known.get(sid)
                trusted = entry is not None and entry.dataset_id == dataset["id"] and \
                    entry.metadata_modified == modified
                offset, length = run.portal_spool.add(dataset) if run.portal_spool is not None else (-1, 0)
                run.portal.setdefault(sid, []).append(PortalEntry(
                    dataset["id"], str(dataset.get("name") or ""), modified,
                    entry.content_hash if trusted and entry is not None else None,
                    edited=entry is not None and not trusted, offset=offset, length=length))
        for sid in [sid for sid, wanted in run.source.items() if not wanted.content_hash]:
            del run.source[sid]  # the placeholders of unsyncable records: they only protected their datasets
            run.portal.pop(sid, None)

    # ------------------------------------------------------------------ organizations and groups

    def _prepare_groups(self, run: _Run, needed_orgs: set[str], needed_groups: set[str]) -> None:
        """List the portal's organizations and groups once (when a write names any), and create (or
        refuse) the missing ones."""
        run.organizations = self._group_index("organization", "id") if needed_orgs else {}
        run.groups = self._group_index("group", "name") if needed_groups else {}
        for kind, needed, known, strategy in (("organization", needed_orgs, run.organizations,
                                                self.organization_strategy),
                                               ("group", needed_groups, run.groups, self.group_strategy)):
            missing = sorted(ref for ref in needed if ref not in known)
            if not missing or strategy == "map":
                continue
            if strategy == "fail":
                raise OperationFailure(f"{len(missing)} {kind}(s) named by the source do not exist on the portal: "
                                       f"{', '.join(missing[:20])}")
            for ref in missing:
                if _looks_like_uuid(ref):
                    continue  # an id from another portal means nothing here: its datasets fail, named
                try:
                    fields = {"name": ref, **run.described.get(ref, {})}
                    created = create_resolving(lambda: self.client.call_action(f"{kind}_create", fields),
                                               lambda: self._find_group(kind, ref))
                    run.report.count("resolved by reading back", created.uncertain)
                    known[ref] = created.result["id" if kind == "organization" else "name"]
                except CkanError as error:
                    run.report.failures.append(Failure(None, ref, f"create {kind}", str(error)))

    def _group_index(self, kind: str, value: str) -> dict[str, str]:
        """Every organization or group, by id and by name, to its ``value`` (id or name)."""
        index: dict[str, str] = {}
        for summary in self.client.list_group_summaries(kind):
            index[summary["id"]] = index[summary["name"]] = summary[value]
        return index

    def _find_group(self, kind: str, ref: str) -> dict[str, Any] | None:
        try:
            found = self.client.call_action(f"{kind}_show", {"id": ref, "include_datasets": False})
        except NotFound:
            return None
        return found if isinstance(found, dict) and isinstance(found.get("id"), str) else None

    def _bind(self, run: _Run, wanted: SourceEntry, dataset: dict[str, Any]) -> dict[str, Any]:
        """The prepared dataset with its organization and groups as this portal knows them."""
        orgs, groups = run.organizations or {}, run.groups or {}
        if wanted.organization is not None:
            if wanted.organization not in orgs:
                raise OperationFailure(f"organization {wanted.organization} does not exist on the portal")
            dataset["owner_org"] = orgs[wanted.organization]
        missing = [g for g in wanted.groups if g not in groups]
        if missing:
            raise OperationFailure(f"group {missing[0]} does not exist on the portal")
        dataset["groups"] = [{"name": groups[g]} for g in wanted.groups]
        return dataset

    # ------------------------------------------------------------------ one step

    def _desired(self, run: _Run, sid: str) -> dict[str, Any]:
        wanted = run.source[sid]
        dataset: dict[str, Any] = run.spool.get(wanted.offset, wanted.length)
        return dataset

    def _current(self, run: _Run, step: Planned) -> dict[str, Any]:
        """The dataset as it is on the portal: from the full pages read without a state, else package_show."""
        entry = run.portal[step.source_id][0]
        if entry.offset >= 0 and run.portal_spool is not None:
            spooled: dict[str, Any] = run.portal_spool.get(entry.offset, entry.length)
            return spooled
        return self.client.get_dataset(entry.dataset_id)

    def _apply(self, run: _Run, step: Planned) -> PlannedWrite:
        if step.step is Step.CREATE:
            return self._create(run, step)
        if step.step is Step.CHECK:
            return self._check(run, step, self._current(run, step))
        if step.step is Step.DELETE:
            if remove(self.client, "package_delete", step.dataset_id or ""):
                run.report.count("deleted")
            else:
                run.report.count("already gone")
            if run.state is not None:
                run.state.forget(step.source_id)
            return PlannedWrite("delete", step.source_id, step.name, step.dataset_id, step.reason)
        run.report.count(step.step.value)
        return PlannedWrite(step.step.value, step.source_id, step.name, step.dataset_id,
                            step.reason)

    def _create(self, run: _Run, step: Planned) -> PlannedWrite:
        wanted = run.source[step.source_id]
        payload = self._bind(run, wanted, self._desired(run, step.source_id))
        try:
            created = create_resolving(lambda: self.client.call_action("package_create", payload),
                                       lambda: self._find_owned(step.name, step.source_id))
        except ValidationError as error:
            if name_taken(error):  # held by a dataset this source does not own: never overwritten
                run.report.conflicts.append(Failure(step.source_id, step.name, "create",
                                                    f"the name {step.name!r} is taken by a dataset this source "
                                                    "does not own"))
                return PlannedWrite("conflict", step.source_id, step.name, reason="name taken")
            raise
        run.report.count("resolved by reading back", created.uncertain)
        if created.outcome is CreateOutcome.TAKEN:  # ours already, though the search did not list it yet
            return self._check(run, step, created.result)
        written = created.result
        if created.outcome is CreateOutcome.RESOLVED:
            written = self.client.get_dataset(written["id"])  # what the lost answer would have said
        self._remember(run, step.source_id, wanted, written)
        run.report.count("created")
        return PlannedWrite("create", step.source_id, step.name, created.result.get("id"), step.reason,
                            payload=payload)

    def _check(self, run: _Run, step: Planned, current: dict[str, Any], attempt: int = 1) -> PlannedWrite:
        """Compare with the dataset as it is; send only what differs, matched on its metadata_modified."""
        wanted = run.source[step.source_id]
        desired = self._bind(run, wanted, self._desired(run, step.source_id))
        changes = diff(desired, current, kind=Dataset)
        if not changes:
            self._remember(run, step.source_id, wanted, current)
            run.report.count("unchanged")
            return PlannedWrite("unchanged", step.source_id, step.name, current["id"], step.reason)
        changed = {change.path[0] for change in changes}
        to_set = {k: desired[k] for k in changed if k in desired}
        if "metadata_modified" in self.keep_fields and desired.get("metadata_modified"):
            to_set["metadata_modified"] = desired["metadata_modified"]  # kept as the source has it (CKAN 2.12)
        removed = [k for k in changed if k not in desired]
        if isinstance(to_set.get("resources"), list):
            # Keep resource ids by position, so CKAN updates resources in place instead of replacing them.
            old = [r for r in current.get("resources") or [] if isinstance(r, Mapping)]
            to_set["resources"] = [{**r, "id": old[i]["id"]} if i < len(old) and "id" in old[i] else r
                                   for i, r in enumerate(to_set["resources"])]
        try:
            saved = revise_dataset(self.client, current["id"], current.get("metadata_modified"), to_set, removed,
                                   current=current, retry=True)
        except ConcurrentModification:
            if attempt > 2:
                raise
            # Edited meanwhile, or an earlier attempt of ours landed: compare again with a fresh copy.
            fresh = self.client.get_dataset(current["id"])
            if not self.owns(fresh):
                raise OperationFailure(f"dataset {current['id']} is no longer owned by {self.source_name}") from None
            return self._check(run, step, fresh, attempt + 1)
        self._remember(run, step.source_id, wanted, saved)
        run.report.count("updated")
        if step.reason == "edited on the portal":
            with run.report._lock:
                run.report.restored.append(step.name)
        return PlannedWrite("update", step.source_id, step.name, current["id"], step.reason, changes, desired)

    def _remember(self, run: _Run, sid: str, wanted: SourceEntry, dataset: Mapping[str, Any]) -> None:
        """The write is done (or nothing was needed): run the after-write hook, then record it in the state."""
        if self.after_write is not None:
            dataset = self.after_write(sid, dataset) or dataset
        if run.state is not None and dataset.get("id") and dataset.get("metadata_modified"):
            run.state.record(sid, StateEntry(str(dataset["id"]), str(dataset.get("name") or wanted.name),
                                             wanted.content_hash, instant(dataset["metadata_modified"])))

    def _failed(self, run: _Run, step: Planned, error: Exception) -> PlannedWrite:
        reason = str(error) if isinstance(error, CkanError) else f"{type(error).__name__}: {error}"
        run.report.failures.append(Failure(step.source_id, step.name, step.step.value, reason))
        logger.warning("sync %s of %s failed: %s", step.step.value, step.name, reason)
        return PlannedWrite("conflict" if step.step is Step.CONFLICT else
                            step.step.value, step.source_id, step.name, step.dataset_id, reason)

    def _find_owned(self, name: str, source_id: str) -> dict[str, Any] | None:
        try:
            found = self.client.get_dataset(name)
        except NotFound:
            return None
        if self.owns(found) and self._marker(found, SOURCE_ID_KEY) == source_id and found.get("state") == "active":
            return found
        return None

    # ------------------------------------------------------------------ dry runs

    def _dry(self, run: _Run, steps: Iterator[Planned]) -> Iterator[PlannedWrite]:
        """Each step as it would be written: creates checked for taken names, checks read and compared."""
        batch: list[Planned] = []

        def creates() -> Iterator[PlannedWrite]:
            taken = self._taken_names([s.name for s in batch])
            for create in batch:
                holder = taken.get(create.name)
                if holder is not None:
                    run.report.conflicts.append(Failure(create.source_id, create.name, "create",
                                                        f"the name {create.name!r} is taken by dataset {holder}, "
                                                        "which this source does not own"))
                    yield PlannedWrite("conflict", create.source_id, create.name, holder, "name taken")
                else:
                    run.report.count("created")
                    yield PlannedWrite("create", create.source_id, create.name, reason=create.reason,
                                       payload=self._desired(run, create.source_id))
            batch.clear()

        for step in steps:
            if step.step is Step.CREATE:
                batch.append(step)
                if len(batch) >= 50:
                    yield from creates()
            elif step.step is Step.CHECK:
                yield self._dry_check(run, step)
            else:
                run.report.count({"delete": "deleted"}.get(step.step.value, step.step.value))
                yield PlannedWrite(step.step.value, step.source_id, step.name,
                                   step.dataset_id, step.reason)
        if batch:
            yield from creates()

    def _dry_check(self, run: _Run, step: Planned) -> PlannedWrite:
        wanted = run.source[step.source_id]
        desired = self._desired(run, step.source_id)
        if run.organizations is None or run.groups is None:  # listed once, when a comparison first needs them
            run.organizations = self._group_index("organization", "id")
            run.groups = self._group_index("group", "name")
        orgs, groups = run.organizations, run.groups
        # An organization still to be created is surely a change; groups go by their names here.
        desired["owner_org"] = orgs.get(wanted.organization) if wanted.organization else None
        desired["groups"] = [{"name": groups.get(g, g)} for g in wanted.groups]
        changes = diff(desired, self._current(run, step), kind=Dataset)
        if not changes:
            run.report.count("unchanged")
            return PlannedWrite("unchanged", step.source_id, step.name, step.dataset_id, step.reason)
        run.report.count("updated")
        if step.reason == "edited on the portal":
            run.report.restored.append(step.name)
        return PlannedWrite("update", step.source_id, step.name, step.dataset_id, step.reason, changes, desired)


    def _taken_names(self, names: list[str]) -> dict[str, str]:
        """Name → id of the active datasets that hold these names and that this source does not own."""
        taken: dict[str, str] = {}
        if not names:
            return taken
        query = "name:(" + " OR ".join(json.dumps(n, ensure_ascii=False) for n in names) + ")"
        fields = f"id,name,extras_{SOURCE_KEY},extras_{SOURCE_ID_KEY}"
        for page in self.client.search_pages(fields, 1000, fq=query, include_drafts=True):
            for dataset in page:
                if not self.owns(dataset):
                    taken[dataset["name"]] = dataset["id"]
        return taken


def _looks_like_uuid(value: str) -> bool:
    return len(value) == 36 and value.count("-") == 4
