"""The sync engine: harvest a source collection of datasets into a CKAN, at any size.

``SynchronizationClient(client, source_name).sync(records)`` makes the portal hold exactly the
source's datasets, and touches nothing else:

* every dataset it creates carries two extras, ``sync_source`` (the source name) and
  ``sync_source_id`` (the record's stable id in the source): that is what "owned" means; a dataset
  it does not own is never modified or deleted (a name or id held by one is a reported conflict);
* the source is read as a stream (any iterable; JSON Lines from the command line) and spooled to
  a temporary file: the run keeps only ids, names and content hashes in memory;
* with its state ([`state`][ckan_api_client.engines.state], an SQLite file per portal and source), a
  run reads the owned datasets as compact search pages only, and reads a dataset in full only when
  its source record changed or it was edited on the portal (then it is restored, and reported as
  such). An unchanged source costs ``ceil(owned / page size)`` search requests and no writes.
  Without the state, a run reads the owned datasets in full pages and is as correct, only slower;
* what to write is decided by the pure functions of [`planning`][ckan_api_client.engines.planning], and
  written through the write protocol of [`writes`][ckan_api_client.core.writes] (a create whose outcome
  is unknown is resolved by reading back; an update sends only the changed fields, matched on
  ``metadata_modified``);
* a source with unreadable records deletes nothing; a run that would delete more than
  ``max_delete`` (default 50% of what the source owns), or everything for an empty source, raises
  [`MassDeleteRefused`][ckan_api_client.exceptions.MassDeleteRefused] before writing anything;
* organizations and groups named by the source are mapped by name, created if missing
  (``organization_strategy="create"``), only mapped (``"map"``: missing ones make their datasets
  fail), or required (``"fail"``: nothing is written if one is missing);
* [`plan`][ckan_api_client.engines.sync.SynchronizationClient.plan] streams the plan of a dry run, one [`PlannedWrite`][ckan_api_client.engines.sync.PlannedWrite]
  at a time; a run killed midway and run again finishes the job and duplicates nothing.

The configuration is [`SynchronizationClient`][ckan_api_client.engines.sync.SynchronizationClient]; each run is a [`SyncRun`][ckan_api_client.engines.sync.SyncRun].
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence

from ..blocking.client import CkanHighlevelClient, CkanLowlevelClient
from ..blocking.concurrency import alongside, run_concurrently, until_failed
from ..core import codec, entities
from ..core.objects import Change, Dataset, diff, format_diff
from ..core.operation import Call, Operation
from ..core.writes import CreateOutcome, Removal, create_resolving, remove, revise, taken
from ..exceptions import (CkanError, ConcurrentModification, InvalidInput, MassDeleteRefused, OperationFailure,
                          ValidationError)
from .planning import (CLEANERS, SOURCE_ID_KEY, SOURCE_KEY, Cleaner, DeleteLimit, Planned, PortalEntry, Rejected,
                       SourceEntry, Step, content_hash, delete_refusal, deletes_planned, instant, plan_sync, prepare)
from .report import CONFLICT, FAILED, INVALID, Failure, Measure, Report
from .state import StateEntry, SyncState, open_state, resolve_state_path

__all__ = ["SynchronizationClient", "SyncRun", "PlannedWrite", "SOURCE_KEY", "SOURCE_ID_KEY", "marker"]

logger = logging.getLogger("ckan_api_client.sync")

Strategy = Literal["create", "map", "fail"]

COMPACT_FIELDS = f"id,name,metadata_modified,extras_{SOURCE_KEY},extras_{SOURCE_ID_KEY}"

FREE_NAME_TRIES = 20
"""Names tried for one dataset when names are free (``name``, ``name-2``, ... ``name-20``)."""


def numbered(name: str, number: int) -> str:
    """``name-<number>``, within CKAN's 100 characters."""
    suffix = f"-{number}"
    return name[:100 - len(suffix)].rstrip("-") + suffix


@dataclass
class PlannedWrite:
    """One step of a sync: what it writes (or would write, in a dry run), and why."""

    operation: Literal["create", "update", "unchanged", "delete", "conflict", "withheld", "failed"]
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


def marker(dataset: Mapping[str, Any], key: str) -> Any:
    """An ownership marker of a dataset: a top-level field of a compact search result, else an extra."""
    if key in dataset:
        return dataset[key]
    for extra in dataset.get("extras") or []:
        if isinstance(extra, Mapping) and extra.get("key") == key:
            return extra.get("value")
    return None


class SynchronizationClient:
    """Harvests a source collection into a CKAN; see the module documentation.

    ``state`` is the state file: ``True`` (the default) for one under the user's state directory
    (``~/.local/state/ckan-api-client/sync/``), a path, or ``False`` for none. ``transform`` is
    called with each source record (a copy) and returns the record to sync (or None to leave it
    out); ``cleaners`` are opt-in fixes for what CKAN refuses (names of
    [`CLEANERS`][ckan_api_client.engines.planning.CLEANERS]: ``"names"``, ``"tags"``, ``"emails"``,
    ``"oversized"``, or callables), each change reported per record. ``keep_fields`` keeps server
    fields of the records (``id``, ``metadata_modified``: the mirror, with a sysadmin's key).
    ``after_write(source_id, dataset)`` runs after a dataset was created, updated or found as wanted,
    before the state records it: if it raises, the record fails and the next run comes back to it
    (the mirror copies files and tables there); if it changed the dataset, it returns the dataset as
    it is now. ``free_names`` says names are not the identity (the harvest makes them from titles): a dataset keeps
    the name it has on the portal when its record's changes, and a name taken by a dataset the source does
    not own is numbered (``-2``, ``-3``, ...) rather than a conflict. ``refetch(ids)``
    gives the records of source ids named ``present`` whose dataset is missing from the portal (deleted there
    by hand) or was edited there: they are created again, or put back.
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
        free_names: bool = False,
        refetch: Callable[[list[str]], Iterable[Any]] | None = None,
    ) -> None:
        if not isinstance(source_name, str) or not source_name.strip():
            raise InvalidInput("source_name must be a non-empty string")
        for label, strategy in (("organization_strategy", organization_strategy), ("group_strategy", group_strategy)):
            if strategy not in ("create", "map", "fail"):
                raise InvalidInput(f"{label} must be 'create', 'map' or 'fail', not {strategy!r}")
        self.client = client.client if isinstance(client, CkanHighlevelClient) else client
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
        self.free_names = free_names
        self.refetch = refetch
        self.cleaners = [_cleaner(c) for c in cleaners]

    def owns(self, dataset: Mapping[str, Any]) -> bool:
        """True when ``dataset`` carries this source's ownership marker."""
        return marker(dataset, SOURCE_KEY) == self.source_name and bool(marker(dataset, SOURCE_ID_KEY))

    def owned_pages(self, fields: str | None) -> Iterator[list[dict[str, Any]]]:
        """The datasets this source owns, a search page at a time (``fields``: ``fl``, or None for full)."""
        query = f"extras_{SOURCE_KEY}:{json.dumps(self.source_name, ensure_ascii=False)}"
        for page in self.client.search_pages(fields, self.page_size, fq=query, include_drafts=True):
            yield [d for d in page if self.owns(d)]  # the search narrows; the exact marker decides

    def owned_datasets(self) -> dict[str, list[dict[str, Any]]]:
        """The datasets this source owns, in full, by source id (a search page at a time)."""
        owned: dict[str, list[dict[str, Any]]] = {}
        for page in self.owned_pages(None):
            for dataset in page:
                owned.setdefault(str(marker(dataset, SOURCE_ID_KEY)), []).append(dataset)
        return owned

    @property
    def fold_unknown_fields(self) -> bool:
        if self._fold is None:
            self._fold = not self.client.capabilities.has_extension("scheming_datasets")
        return self._fold

    def sync(self, source_datasets: Iterable[Any], *, dry_run: bool = False,
             progress: Callable[[PlannedWrite, str], None] | None = None,
             present: Iterable[str] | None = None, report: Report | None = None) -> Report:
        """Make the portal hold exactly the source's datasets; return what was done (or, dry, planned).

        ``present`` names source ids that exist in the source although ``source_datasets`` leaves
        them out (they did not change since the last run): they are neither read nor deleted."""
        report = report or Report("sync", dry_run=dry_run)
        for write in self.steps(source_datasets, report, dry_run=dry_run, progress=progress, present=present):
            pass
        return report

    def plan(self, source_datasets: Iterable[Any], report: Report | None = None, *,
             present: Iterable[str] | None = None) -> Iterator[PlannedWrite]:
        """The dry run's plan, streamed: one [`PlannedWrite`][ckan_api_client.engines.sync.PlannedWrite] per source record and per delete.

        Nothing is written. ``report`` (optional) is filled with the counts as the plan goes."""
        return self.steps(source_datasets, report or Report("sync", dry_run=True), dry_run=True, present=present)

    def steps(self, source_datasets: Iterable[Any], report: Report, *, dry_run: bool,
              progress: Callable[[PlannedWrite, str], None] | None = None,
              present: Iterable[str] | None = None) -> Iterator[PlannedWrite]:
        """Each write of a run as it is made (or, dry, planned)."""
        # A token the portal does not know would act as anonymous: it is checked while the source is read
        # (which stops as soon as the check fails), and the portal is read only once it passed.
        with Measure(report, self.client.transport), alongside(self.client.check_token) as token_checked:
            run = SyncRun(self, report)
            try:
                run.read_source(until_failed(source_datasets, token_checked), present)
                token_checked.result()
                run.read_portal()
                run.guard(dry_run)
                yield from (run.dry() if dry_run else run.write(progress))
            finally:
                run.close()


def _cleaner(cleaner: str | Cleaner) -> Cleaner:
    if callable(cleaner):
        return cleaner
    if cleaner in CLEANERS:
        return CLEANERS[cleaner]
    raise InvalidInput(f"no cleaner called {cleaner!r}: the built-in ones are {', '.join(CLEANERS)}")


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
        return codec.loads(os.pread(self._fh.fileno(), length, offset))

    def close(self) -> None:
        self._fh.close()


class SyncRun:
    """One sync run: both sides read into small indexes (ids, names, hashes; the records spooled), the
    state, the plan, and each write through the write protocol."""

    def __init__(self, config: SynchronizationClient, report: Report) -> None:
        self.config = config
        self.client = config.client
        self.report = report
        self.source: dict[str, SourceEntry] = {}
        self.portal: dict[str, list[PortalEntry]] = {}
        self.spool = _Spool()
        self.portal_spool: _Spool | None = None
        self.state = open_state(config.state_path, self.client.base_url, config.source_name) \
            if config.state_path else None
        self.readable = 0
        self.unreadable = 0
        self.organizations: dict[str, str] | None = None
        """Organization id and name → its id on the portal, listed once when a write needs them."""
        self.groups: dict[str, str] | None = None
        """Group id and name → its name on the portal."""
        self.described: dict[str, dict[str, str]] = {}
        """Organizations and groups as the source describes them, to create the missing ones with."""
        self.present_only: set[str] = set()
        """Source ids the source holds but did not send (unchanged since the last run)."""

    def close(self) -> None:
        self.spool.close()
        if self.portal_spool is not None:
            self.portal_spool.close()
        if self.state is not None:
            self.state.close()

    # ------------------------------------------------------------------ reading both sides

    def read_source(self, records: Iterable[Any], present: Iterable[str] | None) -> None:
        """Stream the source: prepare each record, spool it, keep its id, name and hash."""
        config = self.config
        fold = config.fold_unknown_fields
        for record in records:
            prepared = prepare(record, source_name=config.source_name, source_id=config.source_id,
                               fold_unknown_fields=fold, default_organization=config.default_organization,
                               transform=config.transform, cleaners=config.cleaners, keep_fields=config.keep_fields)
            if isinstance(prepared, Rejected):
                if prepared.source_id is None:
                    self.unreadable += 1  # its id is unknown: it might be any owned dataset
                else:
                    self.readable += 1
                self.report.add(Failure(INVALID, "read", prepared.name, prepared.reason, prepared.source_id))
                continue
            self.readable += 1
            if prepared.source_id in self.source:
                self.report.add(Failure(INVALID, "read", prepared.name, "a second record with the same source id",
                                        prepared.source_id))
                continue
            for group_name, fields in prepared.described.items():
                self.described.setdefault(group_name, fields)
            for note in prepared.notes:
                self.report.note(Failure("note", "clean", prepared.name, note, prepared.source_id))
                logger.info("%s: %s", prepared.name, note)
            offset, length = self.spool.add(prepared.dataset)
            self.source[prepared.source_id] = SourceEntry(
                prepared.name, content_hash(prepared.dataset), offset, length, prepared.organization,
                prepared.groups)
        # A record that has a source id but cannot be synced keeps its dataset: never deleted for it.
        # So does one the source still holds but did not send this time (unchanged since the last run).
        for failure in self.report.of_kind(INVALID):
            if failure.source_id is not None and failure.source_id not in self.source:
                self.source[failure.source_id] = SourceEntry(failure.ref or "", "")
        for sid in present or ():
            if sid not in self.source:
                self.readable += 1
                self.source[sid] = SourceEntry("", "")
                self.present_only.add(sid)

    def read_portal(self) -> None:
        """The owned datasets: compact pages checked against the state; full pages (spooled) without one."""
        compact = self.state is not None and len(self.state) > 0
        if not compact:
            self.portal_spool = _Spool()
        for page in self.config.owned_pages(COMPACT_FIELDS if compact else None):
            known = self.state.lookup(str(marker(d, SOURCE_ID_KEY)) for d in page) \
                if compact and self.state is not None else {}
            for dataset in page:
                sid = str(marker(dataset, SOURCE_ID_KEY))
                modified = instant(dataset.get("metadata_modified"))
                entry = known.get(sid)
                trusted = entry is not None and entry.dataset_id == dataset["id"] and \
                    entry.metadata_modified == modified
                offset, length = self.portal_spool.add(dataset) if self.portal_spool is not None else (-1, 0)
                self.portal.setdefault(sid, []).append(PortalEntry(
                    dataset["id"], str(dataset.get("name") or ""), modified,
                    entry.content_hash if trusted and entry is not None else None,
                    edited=entry is not None and not trusted, offset=offset, length=length))
        # Unchanged at the source but gone from the portal, or edited there by hand: read again, to create
        # or to put back.
        stale = sorted(sid for sid in self.present_only
                       if sid not in self.portal or any(entry.edited for entry in self.portal[sid]))
        if stale and self.config.refetch is not None:
            for sid in stale:
                del self.source[sid]
                self.present_only.discard(sid)
            self.readable -= len(stale)
            self.read_source(self.config.refetch(stale), None)
        for sid in [sid for sid, wanted in self.source.items() if not wanted.content_hash]:
            del self.source[sid]  # placeholders: they only protected their datasets
            if sid in self.present_only and sid in self.portal:
                self.report.count("unchanged")  # unchanged at the source (not sent), as it was on the portal
            self.portal.pop(sid, None)

    def guard(self, dry_run: bool) -> None:
        """The delete guard, before any write: a broken source must not delete what it owns."""
        deletes = 0 if self.unreadable else deletes_planned(self.source, self.portal)
        owned = sum(len(c) for c in self.portal.values())
        self.report.refused = delete_refusal(deletes, owned, self.readable, self.config.max_delete,
                                             self.config.allow_empty_source)
        if self.report.refused and not dry_run:
            raise MassDeleteRefused(f"nothing was written: {self.report.refused}")

    def plan(self) -> Iterator[Planned]:
        return plan_sync(self.source, self.portal, unreadable=self.unreadable)

    # ------------------------------------------------------------------ writing

    def write(self, progress: Callable[[PlannedWrite, str], None] | None) -> Iterator[PlannedWrite]:
        """Apply the plan, several steps at once; each step's outcome as it finishes."""
        # A first pass over the (pure, cheap) plan: which organizations and groups the writes name.
        writing = [self.source[s.source_id] for s in self.plan() if s.step in (Step.CREATE, Step.CHECK)]
        self.prepare_groups({e.organization for e in writing if e.organization}, {g for e in writing for g in e.groups})
        del writing
        for step, status in run_concurrently(self.plan(), self.apply, concurrency=self.config.concurrency):
            outcome = status if isinstance(status, PlannedWrite) else self.failed(step, status)
            if progress is not None:
                progress(outcome, outcome.operation)
            yield outcome

    def apply(self, step: Planned) -> PlannedWrite:
        if step.step is Step.CREATE:
            return self.create(step)
        if step.step is Step.CHECK:
            return self.check(step, self.current(step))
        if step.step is Step.DELETE:
            removal = self.client.run(remove("package_delete", step.dataset_id or ""))
            self.report.count("deleted" if removal is Removal.DONE else "already gone")
            if self.state is not None:
                self.state.forget(step.source_id)
            return PlannedWrite("delete", step.source_id, step.name, step.dataset_id, step.reason)
        if step.step is Step.CONFLICT:
            self.report.add(Failure(CONFLICT, "create", step.name, step.reason, step.source_id))
        self.report.count(step.step.value)
        return PlannedWrite(step.step.value, step.source_id, step.name, step.dataset_id, step.reason)

    def create(self, step: Planned) -> PlannedWrite:
        wanted = self.source[step.source_id]
        payload = self.bind(wanted, self.desired(step.source_id))
        first_name = str(payload.get("name") or step.name)
        for number in range(1, (FREE_NAME_TRIES if self.config.free_names else 1) + 1):
            if number > 1:
                payload["name"] = numbered(first_name, number)
            try:
                created = self.client.run(create_resolving(Call("package_create", payload),
                                                           lambda: self.owned_copy(payload, step)))
                break
            except ValidationError as error:
                held = taken(error)
                if held == {"name"} and self.config.free_names and number < FREE_NAME_TRIES:
                    continue  # a name is only a label here: the next number
                if held:  # held by a dataset this source does not own: never overwritten
                    what = " and ".join(f"{key} {payload.get(key, step.name)!r}" for key in sorted(held, reverse=True))
                    reason = f"the {what} is taken by a dataset this source does not own"
                    self.report.add(Failure(CONFLICT, "create", step.name, reason, step.source_id))
                    return PlannedWrite("conflict", step.source_id, step.name, reason=reason)
                raise
        if payload.get("name") != first_name:
            self.report.note(Failure("note", "create", first_name, f"the name {first_name!r} is taken by a dataset "
                                     f"this source does not own: created as {payload['name']!r}", step.source_id))
        self.report.count("resolved by reading back", created.uncertain)
        if created.outcome is CreateOutcome.TAKEN:  # ours already, though the search did not list it yet
            return self.check(step, created.result)
        written = created.result
        if created.outcome is CreateOutcome.RESOLVED:
            written = self.client.get_dataset(written["id"])  # what the lost answer would have said
        self.remember(step.source_id, wanted, written)
        self.report.count("created")
        return PlannedWrite("create", step.source_id, step.name, created.result.get("id"), step.reason,
                            payload=payload)

    def owned_copy(self, payload: Mapping[str, Any], step: Planned) -> Operation[dict[str, Any] | None]:
        """The dataset a create of ``payload`` made, if it is there and ours (by its id when the create
        gives one, else by name); a deleted copy of ours counts: the check brings it back."""
        found = yield from entities.find_dataset(str(payload.get("id") or payload.get("name") or step.name))
        if found is not None and self.config.owns(found) and marker(found, SOURCE_ID_KEY) == step.source_id:
            return found
        return None

    def check(self, step: Planned, current: dict[str, Any], attempt: int = 1) -> PlannedWrite:
        """Compare with the dataset as it is; send only what differs, matched on its metadata_modified."""
        wanted = self.source[step.source_id]
        desired = self.bind(wanted, self.desired(step.source_id))
        if self.config.free_names and current.get("name"):
            desired["name"] = current["name"]
        changes = diff(desired, current, kind=Dataset)
        if not changes and current.get("state") != "deleted":
            self.remember(step.source_id, wanted, current)
            self.report.count("unchanged")
            return PlannedWrite("unchanged", step.source_id, step.name, current["id"], step.reason)
        to_set, removed = self.changed_fields(desired, current, changes)
        try:
            saved = self.client.run(revise(current["id"], current.get("metadata_modified"), to_set, removed,
                                           current=current, retry=True))
        except ConcurrentModification:
            if attempt > 2:
                raise
            # Edited meanwhile, or an earlier attempt of ours landed: compare again with a fresh copy.
            fresh = self.client.get_dataset(current["id"])
            if not self.config.owns(fresh):
                raise OperationFailure(f"dataset {current['id']} is no longer owned by "
                                       f"{self.config.source_name}") from None
            return self.check(step, fresh, attempt + 1)
        self.remember(step.source_id, wanted, saved)
        self.report.count("updated")
        if step.reason == "edited on the portal":
            self.report.restore(step.name)
        return PlannedWrite("update", step.source_id, step.name, current["id"], step.reason, changes, desired)

    def changed_fields(self, desired: dict[str, Any], current: Mapping[str, Any],
                       changes: list[Change]) -> tuple[dict[str, Any], list[str]]:
        """What a revise sends: the changed top-level fields, resources updated in place (ids by
        position), a deleted copy brought back, the source's metadata_modified where it is kept."""
        changed = {change.path[0] for change in changes}
        to_set = {k: desired[k] for k in changed if k in desired}
        removed = [k for k in changed if k not in desired]
        if current.get("state") == "deleted":
            to_set["state"] = "active"
        if "metadata_modified" in self.config.keep_fields and desired.get("metadata_modified"):
            to_set["metadata_modified"] = desired["metadata_modified"]  # kept as the source has it (CKAN 2.12)
        if isinstance(to_set.get("resources"), list):
            old = [r for r in current.get("resources") or [] if isinstance(r, Mapping)]
            to_set["resources"] = [{**r, "id": old[i]["id"]} if i < len(old) and "id" in old[i] else r
                                   for i, r in enumerate(to_set["resources"])]
        return to_set, removed

    def remember(self, sid: str, wanted: SourceEntry, dataset: Mapping[str, Any]) -> None:
        """The write is done (or nothing was needed): run the after-write hook, then record it in the state."""
        if self.config.after_write is not None:
            dataset = self.config.after_write(sid, dataset) or dataset
        if self.state is not None and dataset.get("id") and dataset.get("metadata_modified"):
            self.state.record(sid, StateEntry(str(dataset["id"]), str(dataset.get("name") or wanted.name),
                                              wanted.content_hash, instant(dataset["metadata_modified"])))

    def failed(self, step: Planned, error: Exception) -> PlannedWrite:
        failure = self.report.add(Failure.of(step.step.value, step.name, error, source_id=step.source_id))
        logger.warning("sync %s of %s failed: %s", step.step.value, step.name, failure.reason)
        return PlannedWrite("failed", step.source_id, step.name, step.dataset_id, failure.reason)

    def desired(self, sid: str) -> dict[str, Any]:
        wanted = self.source[sid]
        dataset: dict[str, Any] = self.spool.get(wanted.offset, wanted.length)
        return dataset

    def current(self, step: Planned) -> dict[str, Any]:
        """The dataset as it is on the portal: from the full pages read without a state, else package_show."""
        entry = self.portal[step.source_id][0]
        if entry.offset >= 0 and self.portal_spool is not None:
            spooled: dict[str, Any] = self.portal_spool.get(entry.offset, entry.length)
            return spooled
        return self.client.get_dataset(entry.dataset_id)

    # ------------------------------------------------------------------ organizations and groups

    def prepare_groups(self, needed_orgs: set[str], needed_groups: set[str]) -> None:
        """List the portal's organizations and groups once (when a write names any), and create (or
        refuse) the missing ones."""
        self.organizations = self.group_index("organization", "id") if needed_orgs else {}
        self.groups = self.group_index("group", "name") if needed_groups else {}
        for kind, needed, known, strategy in (
                ("organization", needed_orgs, self.organizations, self.config.organization_strategy),
                ("group", needed_groups, self.groups, self.config.group_strategy)):
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
                    fields = {"name": ref, **self.described.get(ref, {})}
                    created = self.client.run(create_resolving(Call(f"{kind}_create", fields),
                                                               lambda: entities.find_group_of(kind, ref)))
                    self.report.count("resolved by reading back", created.uncertain)
                    known[ref] = created.result["id" if kind == "organization" else "name"]
                except CkanError as error:
                    self.report.add(Failure.of(f"create {kind}", ref, error))

    def group_index(self, kind: str, value: str) -> dict[str, str]:
        """Every organization or group, by id and by name, to its ``value`` (id or name)."""
        index: dict[str, str] = {}
        for summary in self.client.list_group_summaries(kind):
            index[summary["id"]] = index[summary["name"]] = summary[value]
        return index

    def bind(self, wanted: SourceEntry, dataset: dict[str, Any]) -> dict[str, Any]:
        """The prepared dataset with its organization and groups as this portal knows them."""
        orgs, groups = self.organizations or {}, self.groups or {}
        if wanted.organization is not None:
            if wanted.organization not in orgs:
                raise OperationFailure(f"organization {wanted.organization} does not exist on the portal")
            dataset["owner_org"] = orgs[wanted.organization]
        missing = [g for g in wanted.groups if g not in groups]
        if missing:
            raise OperationFailure(f"group {missing[0]} does not exist on the portal")
        dataset["groups"] = [{"name": groups[g]} for g in wanted.groups]
        return dataset

    # ------------------------------------------------------------------ dry runs

    def dry(self) -> Iterator[PlannedWrite]:
        """Each step as it would be written: creates checked for taken names, checks read and compared."""
        batch: list[Planned] = []
        for step in self.plan():
            if step.step is Step.CREATE:
                batch.append(step)
                if len(batch) >= 50:
                    yield from self.dry_creates(batch)
            elif step.step is Step.CHECK:
                yield self.dry_check(step)
            else:
                self.report.count({"delete": "deleted"}.get(step.step.value, step.step.value))
                yield PlannedWrite(step.step.value, step.source_id, step.name, step.dataset_id, step.reason)
        if batch:
            yield from self.dry_creates(batch)

    def dry_creates(self, batch: list[Planned]) -> Iterator[PlannedWrite]:
        held = self.taken_names([s.name for s in batch])
        for create in batch:
            holder = held.get(create.name)
            if holder is not None:
                reason = f"the name {create.name!r} is taken by dataset {holder}, which this source does not own"
                self.report.add(Failure(CONFLICT, "create", create.name, reason, create.source_id))
                yield PlannedWrite("conflict", create.source_id, create.name, holder, "name taken")
            else:
                self.report.count("created")
                yield PlannedWrite("create", create.source_id, create.name, reason=create.reason,
                                   payload=self.desired(create.source_id))
        batch.clear()

    def dry_check(self, step: Planned) -> PlannedWrite:
        wanted = self.source[step.source_id]
        desired = self.desired(step.source_id)
        if self.organizations is None or self.groups is None:  # listed once, when a comparison first needs them
            self.organizations = self.group_index("organization", "id")
            self.groups = self.group_index("group", "name")
        # An organization still to be created is surely a change; groups go by their names here.
        desired["owner_org"] = self.organizations.get(wanted.organization) if wanted.organization else None
        desired["groups"] = [{"name": self.groups.get(g, g)} for g in wanted.groups]
        current = self.current(step)
        if self.config.free_names and current.get("name"):
            desired["name"] = current["name"]
        changes = diff(desired, current, kind=Dataset)
        if not changes:
            self.report.count("unchanged")
            return PlannedWrite("unchanged", step.source_id, step.name, step.dataset_id, step.reason)
        self.report.count("updated")
        if step.reason == "edited on the portal":
            self.report.restore(step.name)
        return PlannedWrite("update", step.source_id, step.name, step.dataset_id, step.reason, changes, desired)

    def taken_names(self, names: list[str]) -> dict[str, str]:
        """Name → id of the active datasets that hold these names and that this source does not own."""
        held: dict[str, str] = {}
        if not names:
            return held
        query = "name:(" + " OR ".join(json.dumps(n, ensure_ascii=False) for n in names) + ")"
        fields = f"id,name,extras_{SOURCE_KEY},extras_{SOURCE_ID_KEY}"
        for page in self.client.search_pages(fields, 1000, fq=query, include_drafts=True):
            for dataset in page:
                if not self.config.owns(dataset):
                    held[dataset["name"]] = dataset["id"]
        return held


def _looks_like_uuid(value: str) -> bool:
    return len(value) == 36 and value.count("-") == 4
