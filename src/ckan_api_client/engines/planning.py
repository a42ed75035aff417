"""Sync planning, with no I/O: how source records become datasets, and what a run must write.

Everything here is a pure function, tested without a CKAN (``tests/test_planning.py``); the sync
client ([`ckan_api_client.engines.sync`][ckan_api_client.engines.sync]) is the thin shell that reads and writes.

* [`prepare`][ckan_api_client.engines.planning.prepare] turns one source record into the dataset the portal should hold (server fields
  dropped, ownership markers added, unknown fields folded into extras where the portal would drop
  them), after an optional ``transform`` and opt-in [`CLEANERS`][ckan_api_client.engines.planning.CLEANERS]; [`content_hash`][ckan_api_client.engines.planning.content_hash] names it.
* [`plan_sync`][ckan_api_client.engines.planning.plan_sync] compares a source index with a portal index (both small: ids, names, hashes)
  and yields one step per source id (create, check, unchanged, conflict) and per owned dataset
  that left the source (delete, or withheld when some source records could not be read).
* [`delete_refusal`][ckan_api_client.engines.planning.delete_refusal] is the guard against a broken source deleting what it owns.
"""

from __future__ import annotations

import copy
import enum
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

from ..exceptions import InvalidInput
from ..core.objects import Dataset, portable_dataset

__all__ = ["SOURCE_KEY", "SOURCE_ID_KEY", "Prepared", "Rejected", "prepare", "content_hash", "instant", "CLEANERS",
           "clean_tags", "munge_name", "drop_placeholder_emails", "leave_out_oversized_extras", "SourceEntry", "PortalEntry",
           "Step", "Planned", "plan_sync", "DeleteLimit", "delete_refusal"]

SOURCE_KEY = "sync_source"
SOURCE_ID_KEY = "sync_source_id"
CORE_KEYS = frozenset(Dataset.SCALARS) | {"tags", "extras", "groups", "resources"}

Cleaner = Callable[[dict[str, Any]], list[str]]
"""Changes a prepared dataset in place so that CKAN accepts it; returns a note per change made."""


# -------------------------------------------------------------------- one record


@dataclass
class Prepared:
    """A source record ready to sync: its id, the dataset to hold, and where it belongs."""

    source_id: str
    name: str
    dataset: dict[str, Any]
    """What the portal should hold, ``owner_org`` and groups still by the source's references."""
    organization: str | None
    groups: tuple[str, ...]
    notes: list[str] = field(default_factory=list)
    """What the cleaners changed, one line each."""
    described: dict[str, dict[str, str]] = field(default_factory=dict)
    """The organization and groups as the record describes them (name → title, description, image_url):
    what to create them with where the portal lacks them."""


@dataclass
class Rejected:
    """A source record that cannot be synced; ``source_id`` is None when it could not even be identified."""

    source_id: str | None
    name: str | None
    reason: str


def _text_or_none(value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and value else None


def prepare(record: Any, *, source_name: str, source_id: str | Callable[[Mapping[str, Any]], Any] = "id",
            fold_unknown_fields: bool = True, default_organization: str | None = None,
            transform: Callable[[dict[str, Any]], Any] | None = None,
            cleaners: Sequence[Cleaner] = (), keep_fields: Sequence[str] = ()) -> Prepared | Rejected:
    """The dataset a source record should become, or why it cannot be synced.

    ``keep_fields`` are server fields kept from the record anyway (a mirror keeps ``id``, which then
    also keeps the resources' ids, and ``metadata_modified``)."""
    if isinstance(record, Exception):  # a line of the source that could not be read
        return Rejected(None, None, str(record))
    if isinstance(record, Dataset):
        record = record.to_api()
    if not isinstance(record, Mapping):
        return Rejected(None, None, f"a source record must be a dict, not {type(record).__name__}")
    data = copy.deepcopy(dict(record))
    if transform is not None:
        data = transform(data)
        if not isinstance(data, Mapping):
            return Rejected(_text_or_none(record.get("id")), _text_or_none(record.get("name")),
                            "the transform left no record")
    sid = _text_or_none(source_id(data) if callable(source_id) else data.get(source_id))
    name = _text_or_none(data.get("name"))
    if sid is None:
        return Rejected(None, name, "the record has no source id")
    if name is None:
        return Rejected(sid, None, "the record has no name")
    organization = _organization_ref(data, default_organization)
    groups = tuple(_group_refs(data))
    dataset = portable_dataset(data)
    dataset["extras"] = _extras(data, dataset, fold_unknown_fields,
                                {SOURCE_KEY: source_name, SOURCE_ID_KEY: sid})
    dataset["owner_org"] = organization
    dataset["groups"] = [{"name": g} for g in groups]
    dataset.setdefault("tags", [])
    dataset.setdefault("resources", [])
    _keep(data, dataset, keep_fields)
    prepared = Prepared(sid, name, dataset, organization, groups, described=dict(_descriptions(data)))
    for cleaner in cleaners:
        prepared.notes.extend(cleaner(dataset))
    prepared.name = str(dataset.get("name") or name)
    return prepared


def _extras(data: Mapping[str, Any], dataset: dict[str, Any], fold: bool, markers: Mapping[str, str]
            ) -> list[dict[str, Any]]:
    """The dataset's extras as CKAN keeps them (text values), with the fields the portal's schema may not
    have folded in (taken out of ``dataset``) and the ownership markers last."""
    extras = {e["key"]: e.get("value") for e in data.get("extras") or []
              if isinstance(e, Mapping) and isinstance(e.get("key"), str)}
    if fold:  # a portal without these fields in its schema would drop them silently
        for key in [k for k in dataset if k not in CORE_KEYS]:
            value = dataset.pop(key)
            if value not in (None, "", []):
                extras[key] = value
    extras = {k: (v if isinstance(v, str) or v is None else json.dumps(v, ensure_ascii=False, sort_keys=True))
              for k, v in extras.items()}
    extras.update(markers)
    return [{"key": k, "value": v} for k, v in extras.items()]


def _keep(data: Mapping[str, Any], dataset: dict[str, Any], keep_fields: Sequence[str]) -> None:
    """Server fields kept from the record (``id`` keeps the resources' ids too)."""
    for key in keep_fields:
        if data.get(key) not in (None, ""):
            dataset[key] = data[key]
    if "id" in keep_fields:
        for kept, original in zip(dataset["resources"], data.get("resources") or []):
            if isinstance(kept, dict) and isinstance(original, Mapping) and original.get("id"):
                kept["id"] = original["id"]


def _organization_ref(record: Mapping[str, Any], default: str | None) -> str | None:
    org = record.get("organization")
    if isinstance(org, Mapping) and isinstance(org.get("name"), str) and org["name"]:
        return str(org["name"])
    owner = record.get("owner_org")
    return owner if isinstance(owner, str) and owner else default


def _descriptions(record: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, str]]]:
    for group in [record.get("organization"), *(record.get("groups") or [])]:
        if isinstance(group, Mapping) and isinstance(group.get("name"), str) and group["name"]:
            described = {k: group[k] for k in ("title", "description", "image_url")
                         if isinstance(group.get(k), str) and group[k]}
            if described:
                yield group["name"], described


def _group_refs(record: Mapping[str, Any]) -> Iterator[str]:
    for group in record.get("groups") or []:
        if isinstance(group, str) and group:
            yield group
        elif isinstance(group, Mapping) and isinstance(group.get("name") or group.get("id"), str):
            yield str(group.get("name") or group["id"])


def instant(value: Any) -> str:
    """A timestamp as both sides can compare it: CKAN's ``metadata_modified`` has microseconds, a compact
    search page (Solr) has milliseconds and a ``Z``; both become ``2026-11-29T10:09:11.796``."""
    text = str(value or "").strip().removesuffix("Z")
    whole, dot, fraction = text.partition(".")
    return f"{whole}.{(fraction + '000')[:3]}" if whole else ""


def content_hash(dataset: Mapping[str, Any]) -> str:
    """A stable name for a prepared dataset's content (key order does not matter)."""
    canonical = json.dumps(dataset, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


# -------------------------------------------------------------------- cleaners (opt-in)

_TAG_BAD = re.compile(r"[^\w \-.]+", re.UNICODE)  # CKAN's tag_name_validator allows word chars, space, - _ .
MIN_TAG, MAX_TAG = 2, 100
_EMAIL = re.compile(r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
                    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$")
_NAME_OK = re.compile(r"^[a-z0-9_-]{2,100}$")
MAX_EXTRA_BYTES = 32_000
"""Solr refuses a single term over 32,766 bytes: a longer unbroken value fails the whole dataset."""


def clean_tags(dataset: dict[str, Any]) -> list[str]:
    """Make tag names what CKAN's validator takes, as its harvesters do: characters other than letters,
    digits, space, ``-``, ``_`` and ``.`` become ``-``; tags left shorter than 2 characters go; at most 100."""
    notes, seen, kept = [], set(), []
    for tag in dataset.get("tags") or []:
        name = tag.get("name") if isinstance(tag, Mapping) else tag
        if not isinstance(name, str):
            continue
        fixed = re.sub(r"-{2,}", "-", _TAG_BAD.sub("-", name)).strip(" -")[:MAX_TAG]
        if len(fixed) < MIN_TAG:
            notes.append(f"tag {name!r} left out (CKAN takes tags of {MIN_TAG} to {MAX_TAG} characters)")
            continue
        if fixed != name:
            notes.append(f"tag {name!r} written as {fixed!r}")
        if fixed not in seen:
            seen.add(fixed)
            kept.append({**tag, "name": fixed} if isinstance(tag, Mapping) else {"name": fixed})
    dataset["tags"] = kept
    return notes


def munge_name(dataset: dict[str, Any]) -> list[str]:
    """Make the dataset's name one CKAN takes, as its ``munge_name`` does: ASCII, lower case, separators
    as ``-``, other characters dropped, 2 to 100 characters."""
    name = dataset.get("name")
    if not isinstance(name, str) or _NAME_OK.match(name):
        return []
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fixed = re.sub(r"[^a-z0-9_-]", "", re.sub(r"[ .:/]", "-", ascii_name).lower())
    fixed = re.sub(r"-{2,}", "-", fixed).strip("-")[:100]
    if len(fixed) < 2:
        return []  # nothing usable is left: CKAN's own error says more than a guess would
    dataset["name"] = fixed
    return [f"name {name!r} written as {fixed!r}"]


def drop_placeholder_emails(dataset: dict[str, Any]) -> list[str]:
    """Leave out ``author_email``/``maintainer_email`` values that are not addresses ("None", "n/a"):
    CKAN refuses the whole dataset for one."""
    notes = []
    for key in ("author_email", "maintainer_email"):
        value = dataset.get(key)
        if isinstance(value, str) and value.strip() and not _EMAIL.match(value.strip()):
            dataset.pop(key)
            notes.append(f"{key} {value[:40]!r} left out (not an email address)")
    return notes


def leave_out_oversized_extras(dataset: dict[str, Any]) -> list[str]:
    """Leave out extras over 32,000 bytes (a folded scheming field, an embedded document): the search
    index refuses them, and with them the dataset."""
    notes, kept = [], []
    for extra in dataset.get("extras") or []:
        value = extra.get("value") if isinstance(extra, Mapping) else None
        size = len(value.encode("utf-8")) if isinstance(value, str) else 0
        if size > MAX_EXTRA_BYTES and extra.get("key") not in (SOURCE_KEY, SOURCE_ID_KEY):
            notes.append(f"extra {extra.get('key')!r} left out: {size:,} bytes, over the search index's limit")
            continue
        kept.append(extra)
    dataset["extras"] = kept
    return notes


CLEANERS: dict[str, Cleaner] = {
    "names": munge_name,
    "tags": clean_tags,
    "emails": drop_placeholder_emails,
    "oversized": leave_out_oversized_extras,
}
"""The built-in cleaners by name (``--clean names --clean tags ...`` on the command line)."""


# -------------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """What planning needs of a source record: its name and content hash. The rest says where the shell
    spooled the prepared record and which organization and groups it names (planning ignores them)."""

    name: str
    content_hash: str
    offset: int = 0
    length: int = 0
    organization: str | None = None
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PortalEntry:
    """An owned dataset as a compact search page shows it, with what the state knows of it."""

    dataset_id: str
    name: str
    metadata_modified: str
    state_hash: str | None = None
    """The content hash the state recorded for it, when the state's entry is of this dataset as it is now
    (same id, same ``metadata_modified``); None when the state has nothing trustworthy."""
    edited: bool = False
    """The state knew this source id, but the dataset changed on the portal since (by hand, or another client)."""
    offset: int = -1
    length: int = 0
    """Where the shell spooled the full dataset (runs without a state read full pages); -1: not spooled."""


class Step(enum.Enum):
    CREATE = "create"
    CHECK = "check"
    """Read the dataset and compare: it becomes an update, or unchanged."""
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"
    DELETE = "delete"
    WITHHELD = "withheld"
    """A delete not made because some source records could not be read."""


@dataclass(frozen=True)
class Planned:
    step: Step
    source_id: str
    name: str
    dataset_id: str | None = None
    reason: str = ""


def plan_sync(source: Mapping[str, SourceEntry], portal: Mapping[str, Sequence[PortalEntry]], *,
              unreadable: int = 0, taken: Mapping[str, str] | None = None) -> Iterator[Planned]:
    """One step per source id, then one per owned dataset that has no place in the source.

    * not on the portal: CREATE, or CONFLICT when ``taken`` (name → dataset id, where known) says an
      active dataset this source does not own holds the name;
    * on the portal and the state vouches for it (same content hash, untouched since): UNCHANGED;
      otherwise CHECK, with the reason ("source changed", "edited on the portal", "not in the state");
    * owned but gone from the source, or a second copy of one source id: DELETE; when
      ``unreadable`` records might be among the missing, a missing one is WITHHELD instead.
    """
    owned_ids = {entry.dataset_id for copies in portal.values() for entry in copies}
    for sid, wanted in source.items():
        copies = portal.get(sid) or ()
        if not copies:
            holder = (taken or {}).get(wanted.name)
            if holder is not None and holder not in owned_ids:
                yield Planned(Step.CONFLICT, sid, wanted.name, holder,
                              f"the name {wanted.name!r} is taken by dataset {holder}, which this source does not own")
            else:
                yield Planned(Step.CREATE, sid, wanted.name, reason="new")
            continue
        current = copies[0]
        if current.state_hash is None:
            yield Planned(Step.CHECK, sid, wanted.name, current.dataset_id,
                          "edited on the portal" if current.edited else "not in the state")
        elif current.state_hash != wanted.content_hash:
            yield Planned(Step.CHECK, sid, wanted.name, current.dataset_id, "source changed")
        else:
            yield Planned(Step.UNCHANGED, sid, wanted.name, current.dataset_id)
    for sid, copies in portal.items():
        for index, entry in enumerate(copies):
            if sid in source and index == 0:
                continue
            if index > 0:  # never expected: two datasets carry one source id; keep the first
                yield Planned(Step.DELETE, sid, entry.name, entry.dataset_id, "a second copy of one source id")
            elif unreadable:
                yield Planned(Step.WITHHELD, sid, entry.name, entry.dataset_id,
                              f"{unreadable} source records could not be read")
            else:
                yield Planned(Step.DELETE, sid, entry.name, entry.dataset_id, "gone from the source")


def deletes_planned(source: Mapping[str, SourceEntry], portal: Mapping[str, Sequence[PortalEntry]]) -> int:
    """How many deletes a plan holds when every record was readable (for the guard, before any write)."""
    return sum(len(copies) - (1 if sid in source else 0) for sid, copies in portal.items())


@dataclass(frozen=True)
class DeleteLimit:
    """How many owned datasets one run may delete: a count, or a percentage of what the source owns."""

    value: float
    percent: bool = True

    @classmethod
    def parse(cls, text: "str | int | DeleteLimit") -> "DeleteLimit":
        """``"50%"``, ``"100"`` or ``100``; a clear [`InvalidInput`][ckan_api_client.exceptions.InvalidInput] for anything else."""
        if isinstance(text, DeleteLimit):
            return text
        raw = str(text).strip()
        try:
            if raw.endswith("%"):
                number = float(raw[:-1])
                if not 0 <= number <= 100:
                    raise ValueError
                return cls(number, True)
            count = int(raw)
            if count < 0:
                raise ValueError
            return cls(count, False)
        except ValueError:
            raise InvalidInput(f"a delete limit is a count (e.g. 100) or a percentage (e.g. 50%), not {raw!r}") from None

    def allows(self, deletes: int, owned: int) -> bool:
        return deletes <= (owned * self.value / 100 if self.percent else self.value)

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.percent else f"{int(self.value)}"


def delete_refusal(deletes: int, owned: int, readable: int, limit: DeleteLimit,
                   allow_empty_source: bool) -> str | None:
    """Why a run must not make its ``deletes`` (None when it may): the guard against a broken source.

    An empty source would delete everything a source owns: refused unless ``allow_empty_source``
    (which then lifts the limit too). Otherwise a run may delete at most ``limit`` of the ``owned``.
    """
    if deletes == 0:
        return None
    if readable == 0:
        if allow_empty_source:
            return None
        return (f"the source holds no readable record, so the run would delete all {deletes} datasets it owns; "
                "if the source really is empty now, allow an empty source (--allow-empty-source)")
    if not limit.allows(deletes, owned):
        return (f"the run would delete {deletes} of the {owned} datasets this source owns, over the limit of "
                f"{limit}; if that is meant, raise the limit (--max-delete)")
    return None
