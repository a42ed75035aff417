"""The synchronization client: harvest a source collection of datasets into a CKAN.

``SynchronizationClient(client, source_name).sync(source_datasets)`` makes the portal hold
exactly the source's datasets, and touches nothing else:

* every dataset it creates carries two extras, ``sync_source`` (the source name) and
  ``sync_source_id`` (the record's stable id in the source): that is what "owned" means;
* a run reads the owned datasets a search page at a time, creates what is new, updates what
  changed (compared with :func:`~ckan_api_client.objects.diff`, so an unchanged dataset costs no
  write, and a changed one is sent only its changed fields, matched on ``metadata_modified``),
  and deletes the owned datasets that left the source;
* a dataset it does not own is never modified or deleted: a name collision is reported as a
  conflict, not resolved by overwriting;
* organizations and groups named by the source are mapped by name, created if missing
  (``organization_strategy="create"``), only mapped (``"map"``: missing ones make their datasets
  fail), or required (``"fail"``: nothing is written if one is missing);
* ``dry_run=True`` returns the plan (creates, updates with their diff, deletes, conflicts)
  without writing anything;
* writes run with bounded concurrency; a failure is retried per the transport policy, then
  recorded, and the run goes on. A create whose outcome is unknown (the connection died after
  it was sent) is resolved by reading the dataset back by name, never by sending it again. A
  re-run after a crash finishes the job and duplicates nothing, since ownership is written with
  the dataset itself.

On a CKAN without ckanext-scheming, fields that core CKAN does not know (scheming portals have
many) would be dropped silently: they are folded into extras instead (JSON for non-strings).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal, Mapping

from .bulk import run_concurrently
from .exceptions import CkanError, InvalidInput, NotFound, OperationFailure, ValidationError, outcome_unknown
from .high_level import CkanHighlevelClient
from .low_level import CkanLowlevelClient
from .objects import Change, Dataset, diff, format_diff, portable_dataset

__all__ = ["SynchronizationClient", "SyncPlan", "SyncReport", "PlannedWrite", "Failure", "SOURCE_KEY",
           "SOURCE_ID_KEY"]

logger = logging.getLogger("ckan_api_client.sync")

SOURCE_KEY = "sync_source"
SOURCE_ID_KEY = "sync_source_id"
Strategy = Literal["create", "map", "fail"]

_CORE_KEYS = frozenset(Dataset.SCALARS) | {"tags", "extras", "groups", "resources"}
_WRITE_ACTIONS = ("package_create", "package_revise", "package_update", "package_patch", "package_delete",
                  "dataset_purge", "organization_create", "group_create", "resource_create", "resource_update")


@dataclass
class PlannedWrite:
    """One write the sync will make (or would make, in a dry run)."""

    operation: Literal["create", "update", "delete"]
    source_id: str | None
    name: str | None
    dataset_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict, repr=False)
    changes: list[Change] = field(default_factory=list)
    current: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def diff_text(self) -> str:
        return format_diff(self.changes)


@dataclass
class Failure:
    """A record that could not be synced, and why."""

    source_id: str | None
    name: str | None
    operation: str
    reason: str


@dataclass
class SyncPlan:
    """What a sync does: the writes, the unchanged records, the conflicts and the records it cannot take."""

    creates: list[PlannedWrite] = field(default_factory=list)
    updates: list[PlannedWrite] = field(default_factory=list)
    deletes: list[PlannedWrite] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[Failure] = field(default_factory=list)
    invalid: list[Failure] = field(default_factory=list)
    organizations_to_create: list[dict[str, Any]] = field(default_factory=list)
    groups_to_create: list[dict[str, Any]] = field(default_factory=list)

    @property
    def writes(self) -> list[PlannedWrite]:
        return self.creates + self.updates + self.deletes

    def summary(self) -> dict[str, int]:
        return {"create": len(self.creates), "update": len(self.updates), "delete": len(self.deletes),
                "unchanged": len(self.unchanged), "conflicts": len(self.conflicts), "invalid": len(self.invalid),
                "organizations_to_create": len(self.organizations_to_create),
                "groups_to_create": len(self.groups_to_create)}


@dataclass
class SyncReport:
    """What a sync did."""

    plan: SyncPlan
    dry_run: bool
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    requests: int = 0
    write_requests: int = 0
    retries: int = 0
    resolved: int = 0
    """Writes whose outcome was unknown (connection lost, gateway error) and were resolved by reading back."""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.plan.conflicts and not self.plan.invalid

    def summary(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "created": len(self.created), "updated": len(self.updated),
                "deleted": len(self.deleted), "unchanged": len(self.plan.unchanged),
                "conflicts": len(self.plan.conflicts), "invalid": len(self.plan.invalid),
                "failures": len(self.failures), "requests": self.requests, "write_requests": self.write_requests,
                "retries": self.retries, "resolved_by_reading_back": self.resolved, "seconds": round(self.seconds, 3)}


def _looks_like_uuid(value: str) -> bool:
    return len(value) == 36 and value.count("-") == 4


def _solr_phrase(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SynchronizationClient:
    """Harvests a source collection into a CKAN; see the module documentation."""

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
        self._lock = threading.Lock()
        self.resolved = 0

    # ------------------------------------------------------------------ reading

    def _source_id_of(self, record: Mapping[str, Any]) -> str | None:
        value = self.source_id(record) if callable(self.source_id) else record.get(self.source_id)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        return value if isinstance(value, str) and value else None

    def owns(self, dataset: Mapping[str, Any]) -> bool:
        """True when ``dataset`` carries this source's ownership marker."""
        return self._marker(dataset, SOURCE_KEY) == self.source_name and bool(self._marker(dataset, SOURCE_ID_KEY))

    @staticmethod
    def _marker(dataset: Mapping[str, Any], key: str) -> Any:
        for extra in dataset.get("extras") or []:
            if isinstance(extra, Mapping) and extra.get("key") == key:
                return extra.get("value")
        return None

    def owned_datasets(self) -> dict[str, list[dict[str, Any]]]:
        """The datasets this source owns, by source id, read a search page at a time."""
        owned: dict[str, list[dict[str, Any]]] = {}
        query = f"extras_{SOURCE_KEY}:{_solr_phrase(self.source_name)}"
        for page in self.client.search_pages(None, self.page_size, fq=query, include_drafts=True):
            for dataset in page:
                if self.owns(dataset):  # the search narrows; the exact marker decides
                    owned.setdefault(str(self._marker(dataset, SOURCE_ID_KEY)), []).append(dataset)
        return owned

    @property
    def fold_unknown_fields(self) -> bool:
        if self._fold is None:
            self._fold = not self.client.capabilities.has_extension("scheming_datasets")
        return self._fold

    # ------------------------------------------------------------------ planning

    def _desired(self, record: Mapping[str, Any], source_id: str, owner_org: str | None,
                 groups: list[str]) -> dict[str, Any]:
        """The dataset as this portal should hold it: server fields dropped, references mapped."""
        dataset = portable_dataset(record)
        extras = {e["key"]: e.get("value") for e in record.get("extras") or []
                  if isinstance(e, Mapping) and isinstance(e.get("key"), str)}
        if self.fold_unknown_fields:
            for key in [k for k in dataset if k not in _CORE_KEYS]:
                value = dataset.pop(key)
                if value is None or value == "" or value == []:
                    continue
                extras[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
        extras = {k: (v if isinstance(v, str) or v is None else json.dumps(v, ensure_ascii=False, sort_keys=True))
                  for k, v in extras.items()}
        extras[SOURCE_KEY] = self.source_name
        extras[SOURCE_ID_KEY] = source_id
        dataset["extras"] = [{"key": k, "value": v} for k, v in extras.items()]
        dataset["owner_org"] = owner_org
        dataset["groups"] = [{"name": g} for g in groups]
        dataset.setdefault("tags", [])
        dataset.setdefault("resources", [])
        return dataset

    def _org_ref(self, record: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
        org = record.get("organization")
        if isinstance(org, Mapping) and isinstance(org.get("name"), str):
            return org["name"], dict(org)
        owner = record.get("owner_org")
        if isinstance(owner, str) and owner:
            return owner, {"name": owner}
        return self.default_organization, {"name": self.default_organization}

    @staticmethod
    def _group_refs(record: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        refs = []
        for group in record.get("groups") or []:
            if isinstance(group, str):
                refs.append((group, {"name": group}))
            elif isinstance(group, Mapping) and isinstance(group.get("name") or group.get("id"), str):
                refs.append((group.get("name") or group["id"], dict(group)))
        return refs

    def plan(self, source_datasets: Iterable[Mapping[str, Any] | Dataset]) -> SyncPlan:
        """Work out what :meth:`sync` would do, without writing anything."""
        plan = SyncPlan()
        records: dict[str, Mapping[str, Any]] = {}
        for record in source_datasets:
            data = record.to_api() if isinstance(record, Dataset) else record
            if not isinstance(data, Mapping):
                plan.invalid.append(Failure(None, None, "read", f"a source record must be a dict, not "
                                                                   f"{type(data).__name__}"))
                continue
            source_id = self._source_id_of(data)
            name = data.get("name") if isinstance(data.get("name"), str) else None
            if source_id is None:
                plan.invalid.append(Failure(None, name, "read", "the record has no source id"))
            elif source_id in records:
                plan.invalid.append(Failure(source_id, name, "read", "a second record with the same source id"))
            elif not name:
                plan.invalid.append(Failure(source_id, None, "read", "the record has no name"))
            else:
                records[source_id] = data

        orgs = {o["name"]: o for o in self.client.list_group_summaries("organization")}
        orgs.update({o["id"]: o for o in list(orgs.values())})
        groups = {g["name"]: g for g in self.client.list_group_summaries("group")}
        groups.update({g["id"]: g for g in list(groups.values())})
        missing_orgs: dict[str, dict[str, Any]] = {}
        missing_groups: dict[str, dict[str, Any]] = {}
        mapped: dict[str, tuple[str | None, list[str]]] = {}
        for source_id, record in list(records.items()):
            org_ref, org_dict = self._org_ref(record)
            owner_org = None
            if org_ref is not None:
                if org_ref in orgs:
                    owner_org = orgs[org_ref]["id"]
                elif _looks_like_uuid(org_ref) and not isinstance(record.get("organization"), Mapping):
                    plan.invalid.append(Failure(source_id, record.get("name"), "map",
                                                f"organization {org_ref} is an id unknown here, with no name to map"))
                    del records[source_id]
                    continue
                else:
                    missing_orgs.setdefault(org_ref, org_dict)
                    owner_org = org_ref
            group_names = []
            for ref, group_dict in self._group_refs(record):
                if ref in groups:
                    group_names.append(groups[ref]["name"])
                else:
                    missing_groups.setdefault(ref, group_dict)
                    group_names.append(ref)
            mapped[source_id] = (owner_org, group_names)

        for kind, missing, strategy, bucket in (
                ("organization", missing_orgs, self.organization_strategy, plan.organizations_to_create),
                ("group", missing_groups, self.group_strategy, plan.groups_to_create)):
            if not missing:
                continue
            if strategy == "fail":
                raise OperationFailure(f"{len(missing)} {kind}(s) named by the source do not exist on the portal: "
                                       f"{', '.join(sorted(missing)[:20])}")
            if strategy == "create":
                for ref, source_dict in sorted(missing.items()):
                    bucket.append({k: source_dict[k] for k in ("name", "title", "description", "image_url")
                                   if isinstance(source_dict.get(k), str) and source_dict.get(k)} or {"name": ref})
            else:
                for source_id, (owner_org, group_names) in list(mapped.items()):
                    lacking = [g for g in ([owner_org] if kind == "organization" else group_names) if g in missing]
                    if lacking:
                        plan.invalid.append(Failure(source_id, records[source_id].get("name"), "map",
                                                    f"{kind} {lacking[0]} does not exist on the portal"))
                        del mapped[source_id]
                        del records[source_id]

        owned = self.owned_datasets()
        for source_id, copies in owned.items():
            for extra in copies[1:]:  # never expected; if two carry one source id, keep the first
                plan.deletes.append(PlannedWrite("delete", source_id, extra.get("name"), extra["id"], current=extra))

        names_to_check = []
        for source_id, record in records.items():
            owner_org, group_names = mapped[source_id]
            desired = self._desired(record, source_id, owner_org, group_names)
            current = owned.get(source_id, [None])[0]
            if current is None:
                plan.creates.append(PlannedWrite("create", source_id, desired["name"], payload=desired))
                names_to_check.append(desired["name"])
                continue
            comparable = dict(desired)
            if owner_org is not None and not _looks_like_uuid(owner_org) and owner_org not in orgs:
                comparable["owner_org"] = None  # an organization still to be created: surely a change
            changes = diff(comparable, current, kind=Dataset)
            if changes:
                plan.updates.append(PlannedWrite("update", source_id, desired["name"], current["id"],
                                                 payload=desired, changes=changes, current=current))
            else:
                plan.unchanged.append(source_id)
        for source_id, copies in owned.items():
            if source_id not in records and not any(f.source_id == source_id for f in plan.invalid):
                current = copies[0]
                plan.deletes.append(PlannedWrite("delete", source_id, current.get("name"), current["id"],
                                                 current=current))

        # A name held by an active dataset that this source does not own is a conflict.
        owned_ids = {d["id"] for copies in owned.values() for d in copies}
        taken = self._taken_names(names_to_check)
        renamed = {w.name for w in plan.updates if w.current and w.current.get("name") != w.name}
        for write in list(plan.creates) + [w for w in plan.updates if w.name in renamed]:
            holder = taken.get(write.name or "") if write.operation == "create" else self._holder(write)
            if holder is not None and holder["id"] not in owned_ids:
                plan.conflicts.append(Failure(write.source_id, write.name, write.operation,
                                              f"the name {write.name!r} is taken by dataset {holder['id']}, "
                                              "which this source does not own"))
                (plan.creates if write.operation == "create" else plan.updates).remove(write)
        return plan

    def _taken_names(self, names: list[str]) -> dict[str, dict[str, Any]]:
        taken: dict[str, dict[str, Any]] = {}
        for start in range(0, len(names), 50):
            chunk = names[start:start + 50]
            query = "name:(" + " OR ".join(_solr_phrase(n) for n in chunk) + ")"
            for page in self.client.search_pages("id,name", 1000, fq=query, include_drafts=True):
                for dataset in page:
                    taken[dataset["name"]] = dataset
        return taken

    def _holder(self, write: PlannedWrite) -> dict[str, Any] | None:
        return self._taken_names([write.name or ""]).get(write.name or "")

    # ------------------------------------------------------------------ writing

    def sync(self, source_datasets: Iterable[Mapping[str, Any] | Dataset], *, dry_run: bool = False,
             progress: Callable[[PlannedWrite, str], None] | None = None) -> SyncReport:
        """Make the portal hold exactly the source's datasets; return what was done (or planned)."""
        started = time.monotonic()
        stats = self.client.transport.stats
        requests_before, retries_before, actions_before = stats.requests, stats.retries, stats.snapshot()
        resolved_before = self.resolved
        plan = self.plan(source_datasets)
        report = SyncReport(plan=plan, dry_run=dry_run)
        if not dry_run:
            self._create_groups(plan, report)
            lock = threading.Lock()
            for write, outcome in run_concurrently(plan.writes, self._apply, concurrency=self.concurrency):
                with lock:
                    if isinstance(outcome, Exception):
                        reason = str(outcome) if isinstance(outcome, CkanError) else f"{type(outcome).__name__}: {outcome}"
                        report.failures.append(Failure(write.source_id, write.name, write.operation, reason))
                        logger.warning("sync %s of %s failed: %s", write.operation, write.name, reason)
                        status = "failed"
                    else:
                        {"create": report.created, "update": report.updated, "delete": report.deleted}[
                            write.operation].append(write.name or "")
                        status = "done"
                if progress is not None:
                    progress(write, status)
        after = stats.snapshot()
        report.requests = stats.requests - requests_before
        report.retries = stats.retries - retries_before
        report.resolved = self.resolved - resolved_before
        report.write_requests = sum(after.get(a, 0) - actions_before.get(a, 0) for a in _WRITE_ACTIONS)
        report.seconds = time.monotonic() - started
        return report

    def _create_groups(self, plan: SyncPlan, report: SyncReport) -> None:
        for kind, wanted in (("organization", plan.organizations_to_create), ("group", plan.groups_to_create)):
            for group in wanted:
                try:
                    self._create_group(kind, group)
                except CkanError as error:
                    report.failures.append(Failure(None, group["name"], f"create {kind}", str(error)))

    def _create_group(self, kind: str, group: dict[str, Any]) -> None:
        """Create an organization or group (one that exists already by that name is what we wanted)."""
        def exists() -> bool:
            try:
                self.client.call_action(f"{kind}_show", {"id": group["name"]})
                return True
            except NotFound:
                return False

        self._create_resolving(lambda: self.client.call_action(f"{kind}_create", group), exists)

    def _apply(self, write: PlannedWrite) -> None:
        if write.operation == "create":
            self._create(write)
        elif write.operation == "update":
            self._update(write)
        else:
            self._delete(write)

    def _create(self, write: PlannedWrite) -> None:
        self._create_resolving(lambda: self.client.call_action("package_create", write.payload),
                               lambda: self._find_owned(write) is not None)

    def _create_resolving(self, send: Callable[[], Any], landed: Callable[[], bool], attempts: int = 5) -> None:
        """Send a create; when its outcome is unknown, look the object up before ever sending it again.

        A "name already in use" answer is success when the object is there as wanted (an earlier
        attempt of ours landed, its answer lost)."""
        for attempt in range(1, attempts + 1):
            try:
                send()
                return
            except ValidationError as error:
                if "name" in error.error_dict and landed():
                    return
                raise
            except CkanError as error:
                if not outcome_unknown(error) or attempt == attempts:
                    raise
                with self._lock:
                    self.resolved += 1
                if landed():
                    return
                logger.info("a create did not land (%s): sending it again", error)

    def _find_owned(self, write: PlannedWrite) -> dict[str, Any] | None:
        try:
            found = self.client.get_dataset(write.name or "")
        except NotFound:
            return None
        if self.owns(found) and self._marker(found, SOURCE_ID_KEY) == write.source_id and found.get("state") == "active":
            return found
        return None

    def _update(self, write: PlannedWrite, attempt: int = 1) -> None:
        """Send only the fields the diff found changed, matched on the metadata_modified we compared."""
        current = write.current or {}
        desired = write.payload
        changed = {change.path[0] for change in write.changes}
        to_set = {k: desired[k] for k in changed if k in desired}
        removed = [k for k in changed if k not in desired]
        if isinstance(to_set.get("resources"), list):
            # Keep resource ids by position, so CKAN updates resources in place instead of replacing them.
            old = [r for r in current.get("resources") or [] if isinstance(r, Mapping)]
            to_set["resources"] = [{**r, "id": old[i]["id"]} if i < len(old) and "id" in old[i] else r
                                   for i, r in enumerate(to_set["resources"])]
        drop = [f"-{k}" for k in removed] + [f"-{k}" for k, v in to_set.items()
                                               if isinstance(v, (list, dict)) or isinstance(current.get(k), (list, dict))]
        payload: dict[str, Any] = {"match": {"id": current["id"], "metadata_modified": current["metadata_modified"]},
                                   "update": to_set}
        if drop:
            payload["filter"] = drop
        try:
            # Matched on metadata_modified, a repeat of this write cannot apply twice: safe to retry.
            self.client.call_action("package_revise", payload, read_only=True)
        except ValidationError as error:
            if "match" not in error.error_dict or attempt > 2:
                raise
            # Edited meanwhile (or an earlier attempt of ours landed): compare again with a fresh copy.
            fresh = self.client.get_dataset(current["id"])
            if not self.owns(fresh):
                raise OperationFailure(f"dataset {current['id']} is no longer owned by {self.source_name}") from None
            write.current = fresh
            write.changes = diff(desired, fresh, kind=Dataset)
            if write.changes:
                self._update(write, attempt + 1)

    def _delete(self, write: PlannedWrite) -> None:
        # package_delete is idempotent: a repeat after a lost answer changes nothing.
        self.client.call_action("package_delete", {"id": write.dataset_id}, read_only=True)
