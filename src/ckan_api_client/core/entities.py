"""The per-entity operations of the low-level client (the original ckan-api-client's interface), written once for both clients.

Each is an operation (see [`operation`][ckan_api_client.core.operation]): paging, fill-ins and 404 handling
live here, not in the shells. On the Action API of CKAN 2.10, 2.11 and 2.12:

| method | what it calls |
|---|---|
| ``list_datasets`` | ids of all active datasets (keyset-paged ``package_search``, ``fl=id``) |
| ``iter_datasets`` | full dataset dicts, a page of ``package_search`` at a time (several id ranges at once on the async client) |
| ``get/post/put`` | ``package_show`` / ``package_create`` / ``package_patch`` |
| ``delete_dataset`` | ``package_delete``; 404 ignored unless asked |
| groups, organizations | the same with ``group_*`` / ``organization_*``; delete also purges |
| ``list_licenses`` | ``license_list`` |

``put_*`` replaces the fields it is given and keeps the ones it is not (``*_patch``): a dict
without ``resources``, ``tags`` or ``extras`` keeps them (give ``[]`` to empty them), an
organization keeps its members.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypedDict

from .. import exceptions as exc
from ..exceptions import BadApiError, CkanError, InvalidInput, NotFound
from .operation import (CAPABILITIES, FACTS, Call, ClientFacts, Emit, Listing, Operation, Step, Stepper, Together,
                        forward)
from .shapes import dataset_for_write, group_for_write
from .site import Capabilities

DEFAULT_PAGE_SIZE = 1000
"""Rows of full datasets asked of package_search per page: CKAN's default ``ckan.search.rows_max``."""

ID_PAGE_SIZE = 100_000
"""Rows asked per page when listing ids only: CKAN clamps ``rows`` to its ``ckan.search.rows_max``
silently, so this gets the server's largest page. Either way, a server that answers smaller pages
is fine: the keyset paging below does not depend on the page size."""


# ---------------------------------------------------------------- checks of answers and arguments


def solr_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def all_of(*clauses: str | None) -> str | None:
    """Solr filters that must all hold, as one ``fq`` (``+(a) +(b)``); None when there is none."""
    present = [c for c in clauses if c]
    return " ".join(f"+({c})" for c in present) or None


def expect_dict(result: Any, action: str) -> dict[str, Any]:
    if not isinstance(result, dict) or not isinstance(result.get("id"), str):
        raise BadApiError(f"expected an object with an id, got {type(result).__name__}", action=action)
    return result


def expect_dicts(result: Any, action: str) -> list[dict[str, Any]]:
    if not isinstance(result, list) or not all(isinstance(item, dict) for item in result):
        raise BadApiError(f"expected a list of objects, got {type(result).__name__}", action=action)
    return result


def require_id(obj: Mapping[str, Any], kind: str) -> str:
    object_id = obj.get("id")
    if not isinstance(object_id, str) or not object_id:
        raise InvalidInput(f"put_{kind} needs the {kind} dict to contain its id (used to know what to update)")
    return object_id


def require_ref(value: Any, kind: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"a {kind} id must be a non-empty string, got {value!r}")
    return value


# ---------------------------------------------------------------- the site


def capabilities() -> Operation[Capabilities]:
    """The site's CKAN version and extensions (``status_show``)."""
    return Capabilities.from_status((yield Call("status_show", method="GET")))


def check_token() -> Operation[None]:
    """Raise [`InvalidToken`][ckan_api_client.exceptions.InvalidToken] when the server does not know the token.

    CKAN treats a token it does not recognise as no token at all: every read then quietly
    answers what an anonymous visitor may see (a backup without the private datasets). So a
    token is checked before bulk work: ``am_following_user`` lets everybody through its auth check
    and then refuses a caller who is not a logged-in user, and ``user_list`` names a user to ask it
    about (it refuses anonymous callers itself where user details are private). Two reads.
    """
    facts: ClientFacts = yield FACTS
    if facts.token_checked or facts.options.api_key is None:
        return
    try:
        users = yield Call("user_list", {"all_fields": False, "order_by": "created"})
        if not isinstance(users, list) or not users:
            raise exc.NotAuthorized(403, "user_list answered no user", action="user_list")
        first = users[0]
        ref = (first.get("id") or first.get("name")) if isinstance(first, Mapping) else first
        if not isinstance(ref, str) or not ref:
            raise BadApiError("user_list answered a user without a name", action="user_list")
        following = yield Call("am_following_user", {"id": ref}, method="GET")
        if not isinstance(following, bool):
            raise BadApiError("am_following_user did not answer true or false", action="am_following_user")
    except exc.NotAuthorized:
        raise exc.InvalidToken(
            f"the API token is not valid on {facts.base_url}: CKAN does not recognise it (expired, revoked, or "
            "from another site) and would answer as to an anonymous visitor") from None
    facts.token_checked = True


# ---------------------------------------------------------------- datasets


def search_pages(fields: str | None = None, rows: int = DEFAULT_PAGE_SIZE, *, q: str = "*:*", fq: str | None = None,
                 include_private: bool = True, include_drafts: bool = False, after: str | None = None,
                 before: str | None = None, start: str | None = None) -> Listing[list[dict[str, Any]]]:
    """Pages of all active datasets (private ones too where the key may see them), by id.

    Keyset paging: each page asks for ids after the last one seen, sorted by id, so datasets
    created or deleted during the walk never shift a page (as offsets would). ``q`` and ``fq``
    narrow the search (Solr syntax); ``fields`` limits the fields returned (``fl``); ``after``
    and ``before`` (both exclusive) bound the ids walked, to resume a walk or split it; ``start``
    is an inclusive lower bound (used when ``after`` is not given).
    """
    last_id = after
    while True:
        query: dict[str, Any] = {"q": q, "sort": "id asc", "rows": rows, "include_private": include_private}
        if fields:
            query["fl"] = fields
        if include_drafts:
            query["include_drafts"] = True
        id_range = None
        if last_id is not None or before is not None or start is not None:
            low = '{"%s"' % solr_escape(last_id) if last_id is not None else \
                '["%s"' % solr_escape(start) if start is not None else "[*"
            high = '"%s"}' % solr_escape(before) if before is not None else "*]"
            id_range = f"id:{low} TO {high}"
        filters = all_of(fq, id_range)
        if filters:
            query["fq"] = filters
        result = yield Call("package_search", query)
        if not isinstance(result, dict) or not isinstance(result.get("results"), list):
            raise BadApiError("package_search did not return results", action="package_search")
        page = result["results"]
        if not page:
            return
        for item in page:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise BadApiError("package_search returned a result without an id", action="package_search")
        yield Emit(page)
        if len(page) >= int(result.get("count", 0)):
            return
        last_id = page[-1]["id"]


def list_datasets() -> Operation[list[str]]:
    """Return a list of all dataset ids (private ones too where the key may see them)."""
    ids: list[str] = []

    def keep(page: list[dict[str, Any]]) -> Iterable[Step]:
        ids.extend(item["id"] for item in page)
        return ()

    facts: ClientFacts = yield FACTS
    yield from forward(search_pages("id", facts.page_size or ID_PAGE_SIZE), keep)
    return ids


def id_ranges(count: int, after: str | None = None) -> list[tuple[str | None, str | None]]:
    """Split the ids after ``after`` into ``count`` ranges at hex digits (CKAN ids are UUIDs).

    Range ``(low, high)`` holds the ids ``low <= id < high`` (the first: ``after < id < high``).
    Any string falls into exactly one range, so ids of another form are walked too, only less
    evenly spread."""
    cuts = [format(i * 16 // count, "x") for i in range(1, count)]
    cuts = sorted({c for c in cuts if after is None or c > after})
    bounds: list[str | None] = [after, *cuts, None]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


class RangeBounds(TypedDict):
    """The bounds ``search_pages`` takes for one id range."""

    after: str | None
    start: str | None
    before: str | None


def range_bounds(ranges: list[tuple[str | None, str | None]], index: int) -> RangeBounds:
    """``search_pages`` bounds of range ``index`` of [`id_ranges`][ckan_api_client.core.entities.id_ranges]:
    the first starts after its low id (exclusive, a resume point), the others at theirs (inclusive)."""
    low, high = ranges[index]
    return {"after": low, "start": None, "before": high} if index == 0 else \
        {"after": None, "start": low, "before": high}


def pages_in_rounds(ranges: list[tuple[str | None, str | None]], rows: int) -> Listing[list[dict[str, Any]]]:
    """Pages of one keyset walk per id range, a round at a time: each round asks every unfinished walk
    for its next page [`Together`][ckan_api_client.core.operation.Together], then emits the pages in
    range order. A portal of P pages costs about P / len(ranges) round trips instead of P; at most one
    page per range is held. The order is by id within each range, the ranges interleaved by round."""
    walks = [Stepper(search_pages(None, rows, **range_bounds(ranges, i))) for i in range(len(ranges))]
    waiting: dict[int, Any] = {i: walk.next() for i, walk in enumerate(walks)}
    while waiting:
        order = sorted(waiting)
        calls = tuple(waiting[i] for i in order)
        if not all(isinstance(call, Call) for call in calls):
            raise TypeError("a walk asked for something other than a call")
        replies = yield Together(calls)
        waiting = {}
        for i, reply in zip(order, replies):
            walk = walks[i]
            if isinstance(reply, CkanError):
                walk.fail(reply)
            else:
                walk.answer(reply)
            step = walk.next()
            if isinstance(step, Emit):
                yield step
                step = walk.next()
            if step is not None:
                waiting[i] = step


def iter_datasets() -> Listing[dict[str, Any]]:
    """Every dataset as a dict, a page of ``package_search`` at a time (not one request per dataset).

    The blocking client walks the ids in order; the async client walks several id ranges at once (its
    ``walks``), so the datasets come by id within each range, the ranges interleaved."""
    facts: ClientFacts = yield FACTS
    rows = facts.page_size or DEFAULT_PAGE_SIZE
    pages = search_pages(None, rows) if facts.walks <= 1 else pages_in_rounds(id_ranges(facts.walks), rows)
    yield from forward(pages, lambda page: map(Emit, page))


def get_dataset(dataset_id: str) -> Operation[dict[str, Any]]:
    """Get a dataset (``package_show``), by id or name."""
    return expect_dict((yield Call("package_show", {"id": require_ref(dataset_id, "dataset")})), "package_show")


def find_dataset(ref: str) -> Operation[dict[str, Any] | None]:
    """The dataset with this id or name, or None when there is none (show-or-None)."""
    try:
        return (yield from get_dataset(ref))
    except NotFound:
        return None


def post_dataset(dataset: Mapping[str, Any]) -> Operation[dict[str, Any]]:
    """Create a dataset (``package_create``); ``dataset`` should not already contain an id."""
    return expect_dict((yield Call("package_create", dataset_for_write(dataset))), "package_create")


def put_dataset(dataset: Mapping[str, Any]) -> Operation[dict[str, Any]]:
    """Update a dataset; ``dataset`` must contain its id.

    The fields given replace the dataset's, the fields left out stay as they are (``package_patch``):
    a dict without ``resources``, ``tags`` or ``extras`` keeps them; give ``[]`` to empty one.
    """
    payload = dataset_for_write(dataset)
    require_id(payload, "dataset")
    return expect_dict((yield Call("package_patch", payload)), "package_patch")


def delete_dataset(dataset_id: str, ignore_404: bool = True) -> Operation[None]:
    """Delete a dataset (``package_delete``); a 404 is ignored if ``ignore_404`` (the default)."""
    try:
        yield Call("package_delete", {"id": require_ref(dataset_id, "dataset")})
    except NotFound:
        if not ignore_404:
            raise


# ---------------------------------------------------------------- groups and organizations (``kind``)


def group_summaries(kind: str, *, extras: bool = False) -> Operation[list[dict[str, Any]]]:
    """Every group or organization as a short dict (id, name, title, ..., and its extras when asked),
    paged until a page is empty (any server cap works: CKAN caps such pages at 25 by default)."""
    action = f"{kind}_list"
    summaries: list[dict[str, Any]] = []
    while True:
        page = expect_dicts((yield Call(action, {
            "all_fields": True, "sort": "name asc", "limit": 1000, "offset": len(summaries),
            "include_dataset_count": False, "include_extras": extras, "include_tags": False,
            "include_groups": False, "include_users": False,
        })), action)
        if not page:
            return summaries
        for item in page:
            if not isinstance(item.get("id"), str) or not isinstance(item.get("name"), str):
                raise BadApiError("expected group objects with ids and names", action=action)
            summaries.append(item)


def group_ids(kind: str) -> Operation[list[str]]:
    return [item["id"] for item in (yield from group_summaries(kind))]


def iter_groups_of(kind: str) -> Listing[dict[str, Any]]:
    """Each group or organization in full (``*_show`` of each listed id)."""
    for group_id in (yield from group_ids(kind)):
        yield Emit((yield from get_group_of(kind, group_id)))


def get_group_of(kind: str, group_id: str) -> Operation[dict[str, Any]]:
    action = f"{kind}_show"
    return expect_dict((yield Call(action, {"id": require_ref(group_id, kind)})), action)


def find_group_of(kind: str, ref: str) -> Operation[dict[str, Any] | None]:
    """The organization or group with this id or name (without its datasets and members), or None."""
    action = f"{kind}_show"
    try:
        found = yield Call(action, {"id": require_ref(ref, kind), "include_datasets": False,
                                    "include_users": False})
    except NotFound:
        return None
    return expect_dict(found, action)


def post_group_of(kind: str, group: Mapping[str, Any]) -> Operation[dict[str, Any]]:
    action = f"{kind}_create"
    return expect_dict((yield Call(action, group_for_write(group, kind))), action)


def put_group_of(kind: str, group: Mapping[str, Any]) -> Operation[dict[str, Any]]:
    """``*_patch``: the fields given replace, the others (members, datasets, extras) stay."""
    payload = group_for_write(group, kind)
    require_id(payload, kind)
    action = f"{kind}_patch"
    return expect_dict((yield Call(action, payload)), action)


def delete_group_of(kind: str, group_id: str, ignore_404: bool) -> Operation[None]:
    """Delete and purge, so that the name can be used again."""
    ref = require_ref(group_id, kind)
    try:
        yield Call(f"{kind}_delete", {"id": ref})
        yield Call(f"{kind}_purge", {"id": ref})
    except NotFound:
        if not ignore_404:
            raise


def list_group_summaries(kind: str, *, extras: bool = False) -> Operation[list[dict[str, Any]]]:
    """Every group or organization (``kind``: "group" or "organization") as a short dict, paged; with
    ``extras``, each with its extras."""
    if kind not in ("group", "organization"):
        raise InvalidInput(f"kind must be 'group' or 'organization', not {kind!r}")
    return (yield from group_summaries(kind, extras=extras))


def list_groups() -> Operation[list[str]]:
    """Return a list of all group ids."""
    return (yield from group_ids("group"))


def iter_groups() -> Listing[dict[str, Any]]:
    """Every group as a dict (``group_show`` of each listed id)."""
    yield from iter_groups_of("group")


def get_group(group_id: str) -> Operation[dict[str, Any]]:
    """Get a group (``group_show``), by id or name."""
    return (yield from get_group_of("group", group_id))


def post_group(group: Mapping[str, Any]) -> Operation[dict[str, Any]]:
    """Create a group (``group_create``)."""
    return (yield from post_group_of("group", group))


def put_group(group: Mapping[str, Any]) -> Operation[dict[str, Any]]:
    """Update a group (``group_patch``): the fields given replace, the others stay."""
    return (yield from put_group_of("group", group))


def delete_group(group_id: str, ignore_404: bool = True) -> Operation[None]:
    """Delete and purge a group, so that its name can be used again."""
    yield from delete_group_of("group", group_id, ignore_404)


def list_organizations() -> Operation[list[str]]:
    """Return a list of all organization ids."""
    return (yield from group_ids("organization"))


def iter_organizations() -> Listing[dict[str, Any]]:
    """Every organization as a dict (``organization_show`` of each listed id)."""
    yield from iter_groups_of("organization")


def get_organization(id: str) -> Operation[dict[str, Any]]:
    """Get an organization (``organization_show``), by id or name."""
    return (yield from get_group_of("organization", id))


def post_organization(organization: Mapping[str, Any]) -> Operation[dict[str, Any]]:
    """Create an organization (``organization_create``)."""
    return (yield from post_group_of("organization", organization))


def put_organization(organization: Mapping[str, Any]) -> Operation[dict[str, Any]]:
    """Update an organization (``organization_patch``): the fields given replace; members and datasets stay."""
    return (yield from put_group_of("organization", organization))


def delete_organization(id: str, ignore_404: bool = True) -> Operation[None]:
    """Delete and purge an organization, so that its name can be used again."""
    yield from delete_group_of("organization", id, ignore_404)


def list_licenses() -> Operation[list[dict[str, Any]]]:
    """The licenses the site offers (``license_list``)."""
    return expect_dicts((yield Call("license_list", method="GET")), "license_list")


# ---------------------------------------------------------------- resource files


def upload_resource(dataset: str | Mapping[str, Any], file: Any, *, progress: Callable[[int], None] | None = None,
                    **fields: Any) -> Operation[dict[str, Any]]:
    """Create a resource in ``dataset`` (id, name or dict) with ``file`` (a path or a binary file) as its data.

    The file is streamed from disk as a multipart body, with ``progress`` called with the bytes
    sent so far. A multipart form carries only plain values, so when ``fields`` has nested ones
    (lists, dicts) they are sent as JSON in a first call and the file in a second, as CKAN requires.
    """
    dataset_ref = dataset.get("id") or dataset.get("name") if isinstance(dataset, Mapping) else dataset
    if not isinstance(dataset_ref, str) or not dataset_ref:
        raise InvalidInput("upload_resource needs a dataset id or name")
    fields = {k: v for k, v in fields.items() if k not in ("id", "package_id")}
    nested = {k: v for k, v in fields.items() if isinstance(v, (list, dict, tuple))}
    plain = {k: v for k, v in fields.items() if k not in nested and v is not None}
    if not nested:
        result = yield Call("resource_create", {"package_id": dataset_ref, "url": "", **plain},
                            files={"upload": file}, progress=progress)
        return expect_dict(result, "resource_create")
    created = expect_dict((yield Call("resource_create", {"package_id": dataset_ref, "url": "", **plain, **nested})),
                          "resource_create")
    return (yield from replace_resource_file(created["id"], file, progress=progress))


def replace_resource_file(resource_id: str, file: Any, *, progress: Callable[[int], None] | None = None
                          ) -> Operation[dict[str, Any]]:
    """Upload ``file`` as the new data of an existing resource (its other fields stay)."""
    result = yield Call("resource_patch", {"id": resource_id}, files={"upload": file}, progress=progress)
    return expect_dict(result, "resource_patch")
