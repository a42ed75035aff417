"""Objects for CKAN entities: typed core fields, nothing lost, and a diff that ignores the server's fields.

[`Dataset`][ckan_api_client.core.objects.Dataset], [`Resource`][ckan_api_client.core.objects.Resource], [`Organization`][ckan_api_client.core.objects.Organization], [`Group`][ckan_api_client.core.objects.Group] and [`License`][ckan_api_client.core.objects.License]
expose the core CKAN fields as attributes, ``extras`` as a mapping, tags and group references as
names; every other field (ckanext-scheming portals have dozens) is kept in ``extra_fields`` and
sent back unchanged, so ``Dataset.from_api(d).to_api() == d``: what was not changed is emitted
exactly as it came.

[`diff`][ckan_api_client.core.objects.diff] compares two objects the way "is the portal already up to date?" needs: it ignores
server-managed fields (ids, timestamps, counts, resource positions), treats empty values
(``None``, ``""``, ``[]``, ``{}``) as absent, ignores the order of tags, groups and extras, and
skips fields the server fills in by itself (a resource's guessed ``mimetype``) when the desired
side leaves them empty.
"""

from __future__ import annotations

import copy
import mimetypes
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, TypeVar

from ..exceptions import InvalidInput

__all__ = ["ApiObject", "Dataset", "Resource", "Organization", "Group", "License", "Change", "diff",
           "format_diff", "portable_dataset", "portable_group", "owner_org_ref"]

T = TypeVar("T", bound="ApiObject")

_EMPTY: tuple[Any, ...] = (None, "", [], {})


def _is_empty(value: Any) -> bool:
    return any(value is e or (type(value) is type(e) and value == e) for e in _EMPTY)


def _names(items: Any, keys: tuple[str, ...]) -> list[str] | None:
    """Names of a list of refs (strings, or dicts with one of ``keys``); None if it is not one."""
    if not isinstance(items, list):
        return None
    names = []
    for item in items:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, Mapping):
            ref = next((item[k] for k in keys if isinstance(item.get(k), str) and item.get(k)), None)
            if ref is None:
                return None
            names.append(ref)
        else:
            return None
    return names


def _extras_mapping(items: Any) -> dict[str, Any] | None:
    if isinstance(items, Mapping):
        return dict(items)
    if not isinstance(items, list):
        return None
    result: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str) or item["key"] in result:
            return None  # not a key/value list (or one with a repeated key): kept as it came
        result[item["key"]] = item.get("value")
    return result


@dataclass(eq=True)
class ApiObject:
    """Base of the entity objects: lossless conversion from and to Action API dicts."""

    SCALARS: ClassVar[tuple[str, ...]] = ()
    """Core fields held as plain attributes."""
    SERVER_MANAGED: ClassVar[frozenset[str]] = frozenset()
    """Fields the server owns: never compared."""
    SERVER_FILLED: ClassVar[frozenset[str]] = frozenset()
    """Fields the server fills in when left empty: compared only when the desired side sets them."""
    DEFAULTS: ClassVar[Mapping[str, Any]] = {}
    """Values that mean the same as absent (``type: dataset``, ``private: false``)."""

    extra_fields: dict[str, Any] = field(default_factory=dict)
    """Every field that is not a typed attribute, kept and sent back unchanged."""

    def __post_init__(self) -> None:
        self._present: frozenset[str] = frozenset()
        self._raw_lists: dict[str, Any] = {}
        self._loaded: dict[str, Any] | None = None

    # ---------------------------------------------------------------- conversion

    @classmethod
    def from_api(cls: type[T], data: Mapping[str, Any]) -> T:
        """Build from an Action API dict (e.g. ``package_show``'s result)."""
        if not isinstance(data, Mapping):
            raise InvalidInput(f"{cls.__name__}.from_api needs a dict, not {type(data).__name__}")
        obj = cls()
        obj._present = frozenset(data)
        for key, value in data.items():
            if key in cls.SCALARS:
                setattr(obj, key, value)
            elif not obj._take_special(key, value):
                obj.extra_fields[key] = value
        return obj

    def _take_special(self, key: str, value: Any) -> bool:
        """Set a structured attribute (tags, extras, ...) from its API value; False if not one."""
        return False

    def _emit_special(self, out: dict[str, Any]) -> None:
        """Write the structured attributes into an API dict."""

    def to_api(self) -> dict[str, Any]:
        """The Action API dict: exactly what came in, with the changes made to the attributes."""
        out = copy.deepcopy(self.extra_fields)
        for key in self.SCALARS:
            value = getattr(self, key)
            if value is not None or key in self._present:
                out[key] = copy.deepcopy(value)
        self._emit_special(out)
        return out

    def copy(self: T) -> T:
        """A deep copy, remembering what was loaded (so an update still sends only changes)."""
        clone = type(self).from_api(self.to_api())
        clone._loaded = copy.deepcopy(self._loaded)
        return clone

    @property
    def loaded(self) -> dict[str, Any] | None:
        """The API dict as it was when this object was read from the server (None if it was not)."""
        return self._loaded

    def mark_loaded(self) -> None:
        """Remember the current state as the server's (done by the client after a read or write)."""
        self._loaded = self.to_api()

    # ---------------------------------------------------------------- comparison

    def comparable(self) -> dict[str, Any]:
        """The fields that matter for "is it up to date?", normalized (see [`diff`][ckan_api_client.core.objects.diff])."""
        return self._normalize(self.to_api())

    @classmethod
    def _normalize(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in cls.SERVER_MANAGED or _is_empty(value):
                continue
            if key in cls.DEFAULTS and value == cls.DEFAULTS[key]:
                continue
            out[key] = cls._normalize_value(key, value)
        return out

    @classmethod
    def _normalize_value(cls, key: str, value: Any) -> Any:
        return value

    def same_as(self, other: "ApiObject") -> bool:
        """True when [`diff`][ckan_api_client.core.objects.diff] finds nothing to change from ``other`` to ``self``."""
        return not diff(self, other)


def _emit_list(obj: ApiObject, out: dict[str, Any], key: str, current: Any, derived: Any,
               build: Any) -> None:
    """Emit a structured list: the raw list verbatim if unchanged, else rebuilt with ``build``."""
    raw = obj._raw_lists.get(key)
    if raw is not None and derived(raw) == current:
        out[key] = copy.deepcopy(raw)
    elif current or key in obj._raw_lists:
        out[key] = build(raw)


def _rebuild_refs(raw: Any, names: list[str], ref_keys: tuple[str, ...]) -> list[Any]:
    """Tags or groups as dicts: the original dict of each name still there, ``{"name": n}`` for new ones."""
    known: dict[str, dict[str, Any]] = {}
    for item in raw or []:
        if isinstance(item, Mapping):
            for k in ref_keys:
                if isinstance(item.get(k), str):
                    known.setdefault(item[k], dict(item))
    return [known.get(name) or {"name": name} for name in names]


def _emit_extras(obj: ApiObject, out: dict[str, Any], extras: dict[str, Any]) -> None:
    """Extras: as they came if unchanged (a list, or a mapping, as the original client took them), else a key/value list that
    keeps each remaining extra's original dict."""
    def build(raw: Any) -> list[dict[str, Any]]:
        known = {e["key"]: e for e in raw if isinstance(e, Mapping) and "key" in e} if isinstance(raw, list) else {}
        return [{**known.get(k, {}), "key": k, "value": v} for k, v in extras.items()]

    _emit_list(obj, out, "extras", extras, _extras_mapping, build)


def canonical_format(value: str) -> str:
    """A resource format as CKAN stores it: it keeps ``CSV`` for ``csv`` and ``MP4`` for ``video/mp4``."""
    text = value.strip()
    if "/" in text:
        extension = mimetypes.guess_extension(text.split(";")[0].strip().lower())
        if extension:
            return extension.lstrip(".").upper()
    return text.upper()


@dataclass(eq=True)
class Resource(ApiObject):
    """A resource of a dataset."""

    SCALARS: ClassVar[tuple[str, ...]] = (
        "id", "name", "description", "url", "format", "mimetype", "size", "hash", "url_type",
        "resource_type", "package_id", "position", "state", "created", "last_modified", "metadata_modified")
    SERVER_MANAGED: ClassVar[frozenset[str]] = frozenset({
        "id", "package_id", "position", "created", "metadata_modified", "revision_id", "revision_timestamp",
        "state", "cache_url", "cache_last_updated", "datastore_active", "datastore_contains_all_records_of_source_file",
        "tracking_summary", "has_views", "on_same_domain", "resource_group_id", "webstore_url",
        "webstore_last_updated"})
    SERVER_FILLED: ClassVar[frozenset[str]] = frozenset({
        "mimetype", "mimetype_inner", "format", "size", "hash", "last_modified", "url_type", "resource_type"})

    @classmethod
    def _normalize(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        out = super()._normalize(data)
        if data.get("url_type") == "upload" and isinstance(out.get("url"), str):
            # CKAN stores an uploaded file's name and shows its full download URL: the name is what counts.
            out["url"] = out["url"].rsplit("/", 1)[-1]
        elif data.get("url_type") == "datastore":
            out.pop("url", None)  # a DataStore table's URL is the site's own dump URL: each site makes its own
        return out

    @classmethod
    def _normalize_value(cls, key: str, value: Any) -> Any:
        if key == "format" and isinstance(value, str):
            return canonical_format(value)
        return value

    id: str | None = None
    name: str | None = None
    description: str | None = None
    url: str | None = None
    format: str | None = None
    mimetype: str | None = None
    size: int | None = None
    hash: str | None = None
    url_type: str | None = None
    resource_type: str | None = None
    package_id: str | None = None
    position: int | None = None
    state: str | None = None
    created: str | None = None
    last_modified: str | None = None
    metadata_modified: str | None = None


@dataclass(eq=True)
class Dataset(ApiObject):
    """A dataset (CKAN package)."""

    SCALARS: ClassVar[tuple[str, ...]] = (
        "id", "name", "title", "owner_org", "notes", "url", "version", "author", "author_email", "maintainer",
        "maintainer_email", "license_id", "private", "state", "type")
    SERVER_MANAGED: ClassVar[frozenset[str]] = frozenset({
        "id", "metadata_created", "metadata_modified", "revision_id", "revision_timestamp", "creator_user_id",
        "num_resources", "num_tags", "organization", "isopen", "license_title", "license_url",
        "relationships_as_object", "relationships_as_subject", "tracking_summary", "display_name"})
    SERVER_FILLED: ClassVar[frozenset[str]] = frozenset({"state"})
    """A dataset is active unless it says it is a draft (or deleted): compared when the desired side says."""
    DEFAULTS: ClassVar[Mapping[str, Any]] = {"type": "dataset", "private": False}

    id: str | None = None
    name: str | None = None
    title: str | None = None
    owner_org: str | None = None
    """The owning organization, by id or name."""
    notes: str | None = None
    url: str | None = None
    version: str | None = None
    author: str | None = None
    author_email: str | None = None
    maintainer: str | None = None
    maintainer_email: str | None = None
    license_id: str | None = None
    private: bool | None = None
    state: str | None = None
    type: str | None = None
    tags: list[str] = field(default_factory=list)
    """Tag names."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Extras as a mapping ``{key: value}``."""
    groups: list[str] = field(default_factory=list)
    """Groups, by name or id."""
    resources: list[Resource] = field(default_factory=list)

    @property
    def metadata_modified(self) -> str | None:
        value = self.extra_fields.get("metadata_modified")
        return value if isinstance(value, str) else None

    @property
    def organization_name(self) -> str | None:
        """The owning organization's name, from the server's ``organization`` object."""
        org = self.extra_fields.get("organization")
        return org.get("name") if isinstance(org, Mapping) else None

    def _take_special(self, key: str, value: Any) -> bool:
        if key == "tags" and (names := _names(value, ("name",))) is not None:
            self.tags = names
        elif key == "groups" and (names := _names(value, ("name", "id"))) is not None:
            self.groups = names
        elif key == "extras" and (mapping := _extras_mapping(value)) is not None:
            self.extras = mapping
        elif key == "resources" and isinstance(value, list) and all(isinstance(r, Mapping) for r in value):
            self.resources = [Resource.from_api(r) for r in value]
        else:
            return False
        self._raw_lists[key] = value
        return True

    def _emit_special(self, out: dict[str, Any]) -> None:
        _emit_list(self, out, "tags", self.tags, lambda raw: _names(raw, ("name",)),
                   lambda raw: _rebuild_refs(raw, self.tags, ("name",)))
        _emit_list(self, out, "groups", self.groups, lambda raw: _names(raw, ("name", "id")),
                   lambda raw: _rebuild_refs(raw, self.groups, ("name", "id")))
        _emit_extras(self, out, self.extras)
        if self.resources or "resources" in self._raw_lists:
            out["resources"] = [r.to_api() for r in self.resources]

    @classmethod
    def _normalize(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        out = super()._normalize(data)
        if "title" not in out and isinstance(data.get("name"), str) and data["name"]:
            out["title"] = data["name"]  # CKAN fills an empty title with the name: the same thing
        return out

    @classmethod
    def _normalize_value(cls, key: str, value: Any) -> Any:
        if key in ("tags", "groups"):
            return sorted(_names(value, ("name", "id")) or [])
        if key == "extras":
            return _extras_mapping(value) or {}
        if key == "resources" and isinstance(value, list):
            return [Resource._normalize(r) if isinstance(r, Mapping) else r for r in value]
        return value


@dataclass(eq=True)
class _GroupBase(ApiObject):
    SCALARS: ClassVar[tuple[str, ...]] = ("id", "name", "title", "description", "image_url", "state", "type")
    SERVER_MANAGED: ClassVar[frozenset[str]] = frozenset({
        "id", "created", "revision_id", "package_count", "num_followers", "display_name", "image_display_url",
        "packages", "state", "is_organization", "approval_status", "users", "member_count"})
    DEFAULTS: ClassVar[Mapping[str, Any]] = {}

    id: str | None = None
    name: str | None = None
    title: str | None = None
    description: str | None = None
    image_url: str | None = None
    state: str | None = None
    type: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def _take_special(self, key: str, value: Any) -> bool:
        if key == "extras" and (mapping := _extras_mapping(value)) is not None:
            self.extras = mapping
            self._raw_lists[key] = value
            return True
        return False

    def _emit_special(self, out: dict[str, Any]) -> None:
        _emit_extras(self, out, self.extras)

    @classmethod
    def _normalize_value(cls, key: str, value: Any) -> Any:
        if key == "extras":
            return _extras_mapping(value) or {}
        return value


@dataclass(eq=True)
class Organization(_GroupBase):
    """An organization (owns datasets)."""

    DEFAULTS: ClassVar[Mapping[str, Any]] = {"type": "organization"}


@dataclass(eq=True)
class Group(_GroupBase):
    """A group (collects datasets)."""

    DEFAULTS: ClassVar[Mapping[str, Any]] = {"type": "group"}


@dataclass(eq=True)
class License(ApiObject):
    """A license offered by the site (read-only)."""

    SCALARS: ClassVar[tuple[str, ...]] = ("id", "title", "url", "status", "family", "maintainer")

    id: str | None = None
    title: str | None = None
    url: str | None = None
    status: str | None = None
    family: str | None = None
    maintainer: str | None = None


# -------------------------------------------------------------------- diff


@dataclass(frozen=True)
class Change:
    """One difference: ``path`` (e.g. ``("extras", "spatial")``), the current and the desired value."""

    path: tuple[Any, ...]
    old: Any
    new: Any

    @property
    def kind(self) -> str:
        if _is_empty(self.old):
            return "add"
        if _is_empty(self.new):
            return "remove"
        return "change"

    def __str__(self) -> str:
        where = ".".join(str(p) for p in self.path)
        if self.kind == "add":
            return f"+ {where}: {self.new!r}"
        if self.kind == "remove":
            return f"- {where}: {self.old!r}"
        return f"~ {where}: {self.old!r} -> {self.new!r}"


_MISSING: Any = object()


def _diff_dicts(desired: Mapping[str, Any], current: Mapping[str, Any], filled: frozenset[str],
                path: tuple[Any, ...], out: list[Change], nested: Mapping[str, frozenset[str]]) -> None:
    for key in sorted(set(desired) | set(current), key=str):
        new = desired.get(key, _MISSING)
        old = current.get(key, _MISSING)
        if new is _MISSING and key in filled:
            continue  # the server filled it in; the desired side does not care
        if key == "extras" and all(v is _MISSING or isinstance(v, Mapping) for v in (new, old)):
            _diff_dicts({} if new is _MISSING else new, {} if old is _MISSING else old, frozenset(),
                        path + (key,), out, {})
            continue
        if key == "resources" and isinstance(new, list) and isinstance(old, list):
            for index in range(max(len(new), len(old))):
                n = new[index] if index < len(new) else _MISSING
                o = old[index] if index < len(old) else _MISSING
                if isinstance(n, Mapping) and isinstance(o, Mapping):
                    _diff_dicts(n, o, nested.get("resources", frozenset()), path + (key, index), out, {})
                elif n != o:
                    out.append(Change(path + (key, index), None if o is _MISSING else o, None if n is _MISSING else n))
            continue
        if new != old:
            out.append(Change(path + (key,), None if old is _MISSING else old, None if new is _MISSING else new))


def diff(desired: ApiObject | Mapping[str, Any], current: ApiObject | Mapping[str, Any],
         kind: type[ApiObject] | None = None) -> list[Change]:
    """What would change to make ``current`` look like ``desired``, ignoring server-managed fields.

    Either side may be an object or an API dict (then ``kind`` says which object type, default the
    other side's or [`Dataset`][ckan_api_client.core.objects.Dataset]).
    """
    cls = kind or (type(desired) if isinstance(desired, ApiObject) else
                   type(current) if isinstance(current, ApiObject) else Dataset)
    want = desired.comparable() if isinstance(desired, ApiObject) else cls._normalize(desired)
    have = current.comparable() if isinstance(current, ApiObject) else cls._normalize(current)
    out: list[Change] = []
    nested = {"resources": Resource.SERVER_FILLED} if cls is Dataset else {}
    _diff_dicts(want, have, cls.SERVER_FILLED, (), out, nested)
    return out


def format_diff(changes: list[Change]) -> str:
    """One line per change: ``+ added``, ``- removed``, ``~ changed: old -> new``."""
    return "\n".join(str(c) for c in changes)


# -------------------------------------------------------------------- moving records between sites


def portable_dataset(record: Mapping[str, Any]) -> dict[str, Any]:
    """A dataset dict from one site, ready to write to another.

    Server-managed fields go; the state stays (a draft is copied as a draft, not published); the
    organization is named by name (not by the source site's id, which means nothing elsewhere); groups
    and tags become ``{"name": ...}``; resources lose their server fields, and an uploaded file becomes
    a link to where it lives on the source site.
    """
    if not isinstance(record, Mapping):
        raise InvalidInput(f"a dataset must be a dict, not {type(record).__name__}")
    out = {k: copy.deepcopy(v) for k, v in record.items() if k not in Dataset.SERVER_MANAGED}
    if out.get("state") not in ("active", "draft"):  # a deleted record is written as a live one, as before
        out.pop("state", None)
    org = record.get("organization")
    if isinstance(org, Mapping) and isinstance(org.get("name"), str):
        out["owner_org"] = org["name"]
    groups = _names(record.get("groups") or [], ("name", "id"))
    if groups is not None:
        out["groups"] = [{"name": g} for g in groups]
    tags = _names(record.get("tags") or [], ("name",))
    if tags is not None:
        out["tags"] = [{"name": t} for t in tags if t]
    if isinstance(record.get("resources"), list):
        resources = []
        for resource in record["resources"]:
            if not isinstance(resource, Mapping):
                continue
            cleaned = {k: copy.deepcopy(v) for k, v in resource.items() if k not in Resource.SERVER_MANAGED}
            if cleaned.get("url_type") == "upload":
                cleaned.pop("url_type")  # the file lives on the source site: link to it
            resources.append(cleaned)
        out["resources"] = resources
    return out


def owner_org_ref(record: Mapping[str, Any], resolves: Callable[[str], bool],
                  default: str | None = None) -> str | None:
    """The organization a dataset record goes to on a destination site.

    An explicit ``owner_org`` that ``resolves`` there (an id or name it knows) wins: a user who edits
    it to move records means it. Otherwise the embedded ``organization``'s name (a dump of another
    site names its organizations by ids that mean nothing here), then ``owner_org`` as given (to be
    refused by the server with a clear error), then ``default``.
    """
    owner = record.get("owner_org")
    if isinstance(owner, str) and owner and resolves(owner):
        return owner
    org = record.get("organization")
    if isinstance(org, Mapping) and isinstance(org.get("name"), str) and org["name"]:
        return str(org["name"])
    if isinstance(owner, str) and owner:
        return owner
    return default


def portable_group(record: Mapping[str, Any]) -> dict[str, Any]:
    """An organization or group dict from one site, ready to write to another (no ids, members or datasets)."""
    if not isinstance(record, Mapping):
        raise InvalidInput(f"an organization or group must be a dict, not {type(record).__name__}")
    return {k: copy.deepcopy(v) for k, v in record.items()
            if k not in _GroupBase.SERVER_MANAGED and k not in ("groups", "tags")}


# -------------------------------------------------------------------- kinds of records

OBJECT_TYPES: dict[str, type[ApiObject]] = {"dataset": Dataset, "organization": Organization, "group": Group}
RECORD_KINDS = ("datasets", "organizations", "groups")


def entity_of(kind: str) -> str:
    """``datasets`` → ``dataset`` (the kinds of records the bulk commands take); [`InvalidInput`][ckan_api_client.exceptions.InvalidInput] otherwise."""
    if kind not in RECORD_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(RECORD_KINDS)}, not {kind!r}")
    return kind[:-1]
