"""The high-level client: CKAN entities as objects, updates that send only what changed.

Built on :class:`~ckan_api_client.low_level.CkanLowlevelClient` (never beside it): every call goes
through its transport, so timeouts, retries and typed errors are the same. Each method is an
operation (see :mod:`ckan_api_client.operations`) written once below, and driven by this client or
by :class:`~ckan_api_client.async_client.AsyncCkanHighlevelClient`.

``update_dataset`` compares the object with the state it was read in and sends only the changed
fields with ``package_revise``, matched on ``metadata_modified``: if someone else edited the
dataset in between, CKAN refuses and :class:`~ckan_api_client.exceptions.ConcurrentModification`
is raised, instead of their edit being silently overwritten.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator, Mapping, TypeVar

from . import operations as ops
from .actions import UploadFile
from .exceptions import InvalidInput, NotFound
from .low_level import CkanLowlevelClient
from .objects import ApiObject, Dataset, Group, License, Organization, Resource
from .operations import Call, Emit, Operation, expect_dict
from .writes import removal, revise

__all__ = ["CkanHighlevelClient"]

G = TypeVar("G", Organization, Group)
_MISSING: Any = object()


O = TypeVar("O", bound=ApiObject)


def _as(cls: type[O], value: Any) -> O:
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        return cls.from_api(value)
    raise InvalidInput(f"expected a {cls.__name__} or a dict, not {type(value).__name__}")


def _loaded(cls: type[O], data: Mapping[str, Any]) -> O:
    obj = cls.from_api(data)
    obj.mark_loaded()
    return obj


def changed_fields(obj: ApiObject, base: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """What ``obj`` changes relative to ``base``: (fields to set, fields to remove).

    Server-managed fields are never sent. A field missing from ``obj`` counts as removed only when
    ``obj`` was read from the server (then leaving it out was a choice); otherwise it is left alone.
    """
    new = obj.to_api()
    not_sent = obj.SERVER_MANAGED - {"state"}
    to_set = {k: v for k, v in new.items() if k not in not_sent and base.get(k, _MISSING) != v}
    removed = []
    if obj.loaded is not None:
        removed = [k for k in base if k not in new and k not in not_sent]
    return to_set, removed


# ---------------------------------------------------------------- the operations, written once


def iter_dataset_objects(page_size: int | None) -> Operation[None]:
    yield from ops.forward(ops.iter_datasets(page_size), lambda data: [Emit(_loaded(Dataset, data))])


def get_dataset(ref: str) -> Operation[Dataset]:
    return _loaded(Dataset, (yield from ops.get_dataset(ref)))


def create_dataset(dataset: Dataset | Mapping[str, Any]) -> Operation[Dataset]:
    return _loaded(Dataset, (yield from ops.post_dataset(_as(Dataset, dataset).to_api())))


def update_dataset(dataset: Dataset | Mapping[str, Any], check_concurrent: bool) -> Operation[Dataset]:
    obj = _as(Dataset, dataset)
    base = obj.loaded
    if base is None:
        ref = obj.id or obj.name
        if not ref:
            raise InvalidInput("update_dataset needs a dataset with an id or a name")
        base = yield from ops.get_dataset(ref)
    to_set, removed = changed_fields(obj, base)
    if not to_set and not removed:
        return obj
    modified = base.get("metadata_modified") if check_concurrent else None
    return _loaded(Dataset, (yield from revise(base["id"], modified, to_set, removed, current=base)))


def delete_dataset(ref: str, purge: bool) -> Operation[None]:
    if purge:
        yield from removal("dataset_purge", ref)
    else:
        yield from ops.delete_dataset(ref, True)


def add_resource(dataset_ref: str, resource: Resource | Mapping[str, Any], file: UploadFile | None,
                 progress: Callable[[int], None] | None) -> Operation[Resource]:
    fields = _as(Resource, resource).to_api()
    fields.pop("id", None)
    if file is not None:
        return _loaded(Resource, (yield from ops.upload_resource(dataset_ref, file, progress, fields)))
    fields["package_id"] = dataset_ref
    return _loaded(Resource, expect_dict((yield Call("resource_create", fields)), "resource_create"))


def get_resource(resource_id: str) -> Operation[Resource]:
    return _loaded(Resource, expect_dict((yield Call("resource_show", {"id": resource_id})), "resource_show"))


def update_resource(resource: Resource) -> Operation[Resource]:
    if not resource.id:
        raise InvalidInput("update_resource needs a resource with an id")
    base = resource.loaded if resource.loaded is not None else \
        expect_dict((yield Call("resource_show", {"id": resource.id})), "resource_show")
    to_set, removed = changed_fields(resource, base)
    if not to_set and not removed:
        return resource
    if removed:
        # resource_patch cannot remove a field: send the whole resource with resource_update.
        result = yield Call("resource_update", resource.to_api())
    else:
        result = yield Call("resource_patch", {"id": resource.id, **to_set})
    return _loaded(Resource, expect_dict(result, "resource_update"))


def replace_file(resource_id: str, file: UploadFile, progress: Callable[[int], None] | None) -> Operation[Resource]:
    return _loaded(Resource, (yield from ops.replace_resource_file(resource_id, file, progress)))


def reorder_resources(dataset_ref: str, resource_ids: list[str]) -> Operation[None]:
    yield Call("package_resource_reorder", {"id": dataset_ref, "order": list(resource_ids)})


def get_group(cls: type[G], ref: str) -> Operation[G]:
    kind = cls.__name__.lower()
    data = yield Call(f"{kind}_show", {"id": ref, "include_datasets": False})
    obj: G = _loaded(cls, expect_dict(data, f"{kind}_show"))
    return obj


def find_group(cls: type[G], ref: str) -> Operation[G | None]:
    try:
        return (yield from get_group(cls, ref))
    except NotFound:
        return None


def iter_group_objects(cls: type[G]) -> Operation[None]:
    for ref in (yield from ops.list_group_ids(cls.__name__.lower())):
        yield Emit((yield from get_group(cls, ref)))


def create_group(cls: type[G], group: G | Mapping[str, Any]) -> Operation[G]:
    created: G = _loaded(cls, (yield from ops.post_group(cls.__name__.lower(), _as(cls, group).to_api())))
    return created


def update_group(cls: type[G], group: G | Mapping[str, Any]) -> Operation[G]:
    kind = cls.__name__.lower()
    obj = _as(cls, group)
    base = obj.loaded
    if base is None:
        ref = obj.id or obj.name
        if not ref:
            raise InvalidInput(f"update_{kind} needs an {kind} with an id or a name")
        base = (yield from get_group(cls, ref)).to_api()
    to_set, removed = changed_fields(obj, base)
    if not to_set and not removed:
        return obj
    payload = {"id": base["id"], **to_set, **{k: None for k in removed}}
    updated: G = _loaded(cls, expect_dict((yield Call(f"{kind}_patch", payload)), f"{kind}_patch"))
    return updated


def delete_group(cls: type[G], ref: str, purge: bool) -> Operation[None]:
    kind = cls.__name__.lower()
    if purge:
        yield from ops.delete_group(kind, ref, True)
    else:
        yield from removal(f"{kind}_delete", ref)


def list_licenses() -> Operation[list[License]]:
    return [License.from_api(item) for item in (yield from ops.list_licenses())]


class ResolvedGroups:
    """Organizations and groups found by name or id, remembered (None for one that does not exist)."""

    def __init__(self) -> None:
        self._by_ref: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, cls: type[G], ref: str) -> tuple[bool, G | None]:
        with self._lock:
            key = (cls.__name__, ref)
            return (key in self._by_ref, self._by_ref.get(key))

    def put(self, cls: type[G], ref: str, found: G | None) -> None:
        with self._lock:
            self._by_ref[(cls.__name__, ref)] = found
            if found is not None:
                for other in (found.id, found.name):
                    if other:
                        self._by_ref[(cls.__name__, other)] = found

    def clear(self) -> None:
        with self._lock:
            self._by_ref.clear()


# ---------------------------------------------------------------- the sync client


class CkanHighlevelClient:
    """Datasets, resources, organizations, groups and licenses as objects.

    ``CkanHighlevelClient(base_url, api_key, **options)`` takes the low-level client's options, or
    wraps an existing one: ``CkanHighlevelClient(client=low_level_client)``.
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 client: CkanLowlevelClient | None = None, **options: Any) -> None:
        if client is None:
            if base_url is None:
                raise InvalidInput("give a base_url, or an existing low-level client as client=")
            client = CkanLowlevelClient(base_url, api_key, **options)
        self.client = client
        self.resolved = ResolvedGroups()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client!r})"

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "CkanHighlevelClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ datasets

    def list_datasets(self) -> list[str]:
        """Ids of all active datasets (private ones too where the key may see them)."""
        return self.client.list_datasets()

    def iter_datasets(self) -> Iterator[Dataset]:
        """Every dataset as a :class:`Dataset`, a search page at a time."""
        return self.client.run_iter(iter_dataset_objects(self.client.page_size))

    def get_dataset(self, ref: str) -> Dataset:
        """A dataset by id or name."""
        return self.client.run(get_dataset(ref))

    def create_dataset(self, dataset: Dataset | Mapping[str, Any]) -> Dataset:
        """Create a dataset; ``owner_org`` and groups may be given by name or id."""
        return self.client.run(create_dataset(dataset))

    def update_dataset(self, dataset: Dataset, *, check_concurrent: bool = True) -> Dataset:
        """Send what changed since the dataset was read (``package_revise``); no change, no request.

        With ``check_concurrent`` (the default) the write is matched on the ``metadata_modified``
        the dataset was read with; if it changed on the server meanwhile, CKAN refuses and
        :class:`ConcurrentModification` is raised.
        """
        return self.client.run(update_dataset(dataset, check_concurrent))

    def save_dataset(self, dataset: Dataset) -> Dataset:
        """Create the dataset if it has no id, else update it."""
        return self.update_dataset(dataset) if dataset.id else self.create_dataset(dataset)

    def delete_dataset(self, ref: str, *, purge: bool = False) -> None:
        """Delete (or, with ``purge``, destroy for good) a dataset; missing ones are ignored."""
        self.client.run(delete_dataset(ref, purge))

    # ------------------------------------------------------------------ resources

    def add_resource(self, dataset_ref: str, resource: Resource | Mapping[str, Any], *,
                     file: UploadFile | None = None, progress: Callable[[int], None] | None = None) -> Resource:
        """Add a resource to a dataset; with ``file``, upload that local file as its data.

        See :func:`ckan_api_client.files.upload_resource`: streamed from disk, nested fields sent
        as JSON in a first call and the file in a second.
        """
        return self.client.run(add_resource(dataset_ref, resource, file, progress))

    def get_resource(self, resource_id: str) -> Resource:
        return self.client.run(get_resource(resource_id))

    def update_resource(self, resource: Resource) -> Resource:
        """Send the resource's changed fields (``resource_patch``); no change, no request."""
        return self.client.run(update_resource(resource))

    def replace_resource_file(self, resource_id: str, file: UploadFile, *,
                              progress: Callable[[int], None] | None = None) -> Resource:
        """Upload a new file as the data of an existing resource."""
        return self.client.run(replace_file(resource_id, file, progress))

    def delete_resource(self, resource_id: str) -> None:
        self.client.run(removal("resource_delete", resource_id))

    def reorder_resources(self, dataset_ref: str, resource_ids: list[str]) -> None:
        """Put the dataset's resources in this order (ids not named keep their order after them)."""
        self.client.run(reorder_resources(dataset_ref, resource_ids))

    # ------------------------------------------------------------------ organizations and groups

    def list_organizations(self) -> list[str]:
        return self.client.list_organizations()

    def iter_organizations(self) -> Iterator[Organization]:
        return self.client.run_iter(iter_group_objects(Organization))

    def get_organization(self, ref: str) -> Organization:
        """An organization by name or id."""
        return self.client.run(get_group(Organization, ref))

    def create_organization(self, organization: Organization | Mapping[str, Any]) -> Organization:
        return self.client.run(create_group(Organization, organization))

    def update_organization(self, organization: Organization | Mapping[str, Any]) -> Organization:
        """Send the changed fields (``organization_patch``); members and datasets stay."""
        return self.client.run(update_group(Organization, organization))

    def delete_organization(self, ref: str, *, purge: bool = True) -> None:
        """Delete an organization; by default also purge it so that its name can be used again."""
        self.client.run(delete_group(Organization, ref, purge))

    def list_groups(self) -> list[str]:
        return self.client.list_groups()

    def iter_groups(self) -> Iterator[Group]:
        return self.client.run_iter(iter_group_objects(Group))

    def get_group(self, ref: str) -> Group:
        return self.client.run(get_group(Group, ref))

    def create_group(self, group: Group | Mapping[str, Any]) -> Group:
        return self.client.run(create_group(Group, group))

    def update_group(self, group: Group | Mapping[str, Any]) -> Group:
        return self.client.run(update_group(Group, group))

    def delete_group(self, ref: str, *, purge: bool = True) -> None:
        self.client.run(delete_group(Group, ref, purge))

    def resolve_organization(self, ref: str) -> Organization | None:
        """The organization with this name or id, or None; remembered for this client."""
        return self._resolve(Organization, ref)

    def resolve_group(self, ref: str) -> Group | None:
        return self._resolve(Group, ref)

    def _resolve(self, cls: type[G], ref: str) -> G | None:
        known, found = self.resolved.get(cls, ref)
        if not known:
            found = self.client.run(find_group(cls, ref))
            self.resolved.put(cls, ref, found)
        return found

    def forget_resolved(self) -> None:
        """Forget the organizations and groups remembered by :meth:`resolve_organization`."""
        self.resolved.clear()

    # ------------------------------------------------------------------ licenses

    def list_licenses(self) -> list[License]:
        return self.client.run(list_licenses())
