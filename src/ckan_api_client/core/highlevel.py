"""The operations of the high-level client: CKAN entities as objects, updates that send only what changed.

``update_dataset`` compares the object with the state it was read in and sends only the changed
fields with ``package_revise``, matched on ``metadata_modified``: if someone else edited the
dataset in between, CKAN refuses and [`ConcurrentModification`][ckan_api_client.exceptions.ConcurrentModification]
is raised, instead of their edit being silently overwritten. Driven by
[`CkanHighlevelClient`][ckan_api_client.blocking.client.CkanHighlevelClient] and its async twin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from . import entities
from ..exceptions import InvalidInput
from .calls import UploadFile
from .objects import ApiObject, Dataset, Group, License, Organization, Resource
from .operation import FACTS, Call, ClientFacts, Emit, Listing, Operation, forward
from .writes import remove, revise

G = TypeVar("G", Organization, Group)
O = TypeVar("O", bound=ApiObject)
_MISSING: Any = object()


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


# ---------------------------------------------------------------- datasets


def iter_datasets() -> Listing[Dataset]:
    """Every dataset as a [`Dataset`][ckan_api_client.core.objects.Dataset], a search page at a time."""
    yield from forward(entities.iter_datasets(), lambda data: [Emit(_loaded(Dataset, data))])


def get_dataset(ref: str) -> Operation[Dataset]:
    """A dataset by id or name."""
    return _loaded(Dataset, (yield from entities.get_dataset(ref)))


def create_dataset(dataset: Dataset | Mapping[str, Any]) -> Operation[Dataset]:
    """Create a dataset; ``owner_org`` and groups may be given by name or id."""
    return _loaded(Dataset, (yield from entities.post_dataset(_as(Dataset, dataset).to_api())))


def update_dataset(dataset: Dataset | Mapping[str, Any], *, check_concurrent: bool = True) -> Operation[Dataset]:
    """Send what changed since the dataset was read (``package_revise``); no change, no request.

    With ``check_concurrent`` (the default) the write is matched on the ``metadata_modified`` the
    dataset was read with; if it changed on the server meanwhile, CKAN refuses and
    [`ConcurrentModification`][ckan_api_client.exceptions.ConcurrentModification] is raised.
    """
    obj = _as(Dataset, dataset)
    base = obj.loaded
    if base is None:
        ref = obj.id or obj.name
        if not ref:
            raise InvalidInput("update_dataset needs a dataset with an id or a name")
        base = yield from entities.get_dataset(ref)
    to_set, removed = changed_fields(obj, base)
    if not to_set and not removed:
        return obj
    modified = base.get("metadata_modified") if check_concurrent else None
    return _loaded(Dataset, (yield from revise(base["id"], modified, to_set, removed, current=base)))


def save_dataset(dataset: Dataset) -> Operation[Dataset]:
    """Create the dataset if it has no id, else update it."""
    if isinstance(dataset, Dataset) and dataset.id:
        return (yield from update_dataset(dataset))
    return (yield from create_dataset(dataset))


def delete_dataset(ref: str, *, purge: bool = False) -> Operation[None]:
    """Delete (or, with ``purge``, destroy for good) a dataset; missing ones are ignored."""
    if purge:
        yield from remove("dataset_purge", ref)
    else:
        yield from entities.delete_dataset(ref, True)


# ---------------------------------------------------------------- resources


def add_resource(dataset_ref: str, resource: Resource | Mapping[str, Any], *, file: UploadFile | None = None,
                 progress: Callable[[int], None] | None = None) -> Operation[Resource]:
    """Add a resource to a dataset; with ``file``, upload that local file as its data (streamed from
    disk; nested fields sent as JSON in a first call and the file in a second)."""
    fields = _as(Resource, resource).to_api()
    fields.pop("id", None)
    if file is not None:
        return _loaded(Resource, (yield from entities.upload_resource(dataset_ref, file, progress=progress,
                                                                      **fields)))
    fields["package_id"] = dataset_ref
    return _loaded(Resource, entities.expect_dict((yield Call("resource_create", fields)), "resource_create"))


def get_resource(resource_id: str) -> Operation[Resource]:
    return _loaded(Resource, entities.expect_dict((yield Call("resource_show", {"id": resource_id})),
                                                  "resource_show"))


def update_resource(resource: Resource) -> Operation[Resource]:
    """Send the resource's changed fields (``resource_patch``); no change, no request."""
    if not isinstance(resource, Resource) or not resource.id:
        raise InvalidInput("update_resource needs a Resource with an id")
    base = resource.loaded if resource.loaded is not None else \
        entities.expect_dict((yield Call("resource_show", {"id": resource.id})), "resource_show")
    to_set, removed = changed_fields(resource, base)
    if not to_set and not removed:
        return resource
    if removed:
        # resource_patch cannot remove a field: send the whole resource with resource_update.
        result = yield Call("resource_update", resource.to_api())
    else:
        result = yield Call("resource_patch", {"id": resource.id, **to_set})
    return _loaded(Resource, entities.expect_dict(result, "resource_update"))


def replace_resource_file(resource_id: str, file: UploadFile, *,
                          progress: Callable[[int], None] | None = None) -> Operation[Resource]:
    """Upload a new file as the data of an existing resource."""
    return _loaded(Resource, (yield from entities.replace_resource_file(resource_id, file, progress=progress)))


def delete_resource(resource_id: str) -> Operation[None]:
    yield from remove("resource_delete", resource_id)


def reorder_resources(dataset_ref: str, resource_ids: list[str]) -> Operation[None]:
    """Put the dataset's resources in this order (ids not named keep their order after them)."""
    yield Call("package_resource_reorder", {"id": dataset_ref, "order": list(resource_ids)})


# ---------------------------------------------------------------- organizations and groups


def _kind(cls: type[ApiObject]) -> str:
    return cls.__name__.lower()


def _get(cls: type[G], ref: str) -> Operation[G]:
    kind = _kind(cls)
    data = yield Call(f"{kind}_show", {"id": entities.require_ref(ref, kind), "include_datasets": False})
    obj: G = _loaded(cls, entities.expect_dict(data, f"{kind}_show"))
    return obj


def _iter(cls: type[G]) -> Listing[G]:
    for ref in (yield from entities.group_ids(_kind(cls))):
        yield Emit((yield from _get(cls, ref)))


def _create(cls: type[G], group: G | Mapping[str, Any]) -> Operation[G]:
    created: G = _loaded(cls, (yield from entities.post_group_of(_kind(cls), _as(cls, group).to_api())))
    return created


def _update(cls: type[G], group: G | Mapping[str, Any]) -> Operation[G]:
    kind = _kind(cls)
    obj = _as(cls, group)
    base = obj.loaded
    if base is None:
        ref = obj.id or obj.name
        if not ref:
            raise InvalidInput(f"update_{kind} needs an {kind} with an id or a name")
        base = (yield from _get(cls, ref)).to_api()
    to_set, removed = changed_fields(obj, base)
    if not to_set and not removed:
        return obj
    payload = {"id": base["id"], **to_set, **{k: None for k in removed}}
    updated: G = _loaded(cls, entities.expect_dict((yield Call(f"{kind}_patch", payload)), f"{kind}_patch"))
    return updated


def _delete(cls: type[G], ref: str, purge: bool) -> Operation[None]:
    if purge:
        yield from entities.delete_group_of(_kind(cls), ref, True)
    else:
        yield from remove(f"{_kind(cls)}_delete", ref)


def _resolve(cls: type[G], ref: str) -> Operation[G | None]:
    """The organization or group with this name or id, or None; remembered by the client."""
    facts: ClientFacts = yield FACTS
    key = (cls.__name__, ref)
    with facts.lock:
        if key in facts.resolved:
            known: G | None = facts.resolved[key]
            return known
    data = yield from entities.find_group_of(_kind(cls), ref)
    found = _loaded(cls, data) if data is not None else None
    with facts.lock:
        facts.resolved[key] = found
        for other in ((found.id, found.name) if found is not None else ()):
            if other:
                facts.resolved[(cls.__name__, other)] = found
    return found


def iter_organizations() -> Listing[Organization]:
    yield from _iter(Organization)


def get_organization(ref: str) -> Operation[Organization]:
    """An organization by name or id."""
    return (yield from _get(Organization, ref))


def create_organization(organization: Organization | Mapping[str, Any]) -> Operation[Organization]:
    return (yield from _create(Organization, organization))


def update_organization(organization: Organization | Mapping[str, Any]) -> Operation[Organization]:
    """Send the changed fields (``organization_patch``); members and datasets stay."""
    return (yield from _update(Organization, organization))


def delete_organization(ref: str, *, purge: bool = True) -> Operation[None]:
    """Delete an organization; by default also purge it so that its name can be used again."""
    yield from _delete(Organization, ref, purge)


def resolve_organization(ref: str) -> Operation[Organization | None]:
    """The organization with this name or id, or None; remembered for this client."""
    return (yield from _resolve(Organization, ref))


def iter_groups() -> Listing[Group]:
    yield from _iter(Group)


def get_group(ref: str) -> Operation[Group]:
    """A group by name or id."""
    return (yield from _get(Group, ref))


def create_group(group: Group | Mapping[str, Any]) -> Operation[Group]:
    return (yield from _create(Group, group))


def update_group(group: Group | Mapping[str, Any]) -> Operation[Group]:
    """Send the changed fields (``group_patch``); members and datasets stay."""
    return (yield from _update(Group, group))


def delete_group(ref: str, *, purge: bool = True) -> Operation[None]:
    """Delete a group; by default also purge it so that its name can be used again."""
    yield from _delete(Group, ref, purge)


def resolve_group(ref: str) -> Operation[Group | None]:
    """The group with this name or id, or None; remembered for this client."""
    return (yield from _resolve(Group, ref))


def list_licenses() -> Operation[list[License]]:
    """The licenses the site offers, as [`License`][ckan_api_client.core.objects.License] objects."""
    return [License.from_api(item) for item in (yield from entities.list_licenses())]
