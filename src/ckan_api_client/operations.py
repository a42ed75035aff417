"""The per-entity operations, written once for the sync and the async client (sans-IO).

Each operation is a generator that *asks* for what it needs and never performs I/O: it yields a
:class:`Call` (an action to call; the answer's ``result`` is sent back in, or its exception thrown
in), :data:`CAPABILITIES` (the site's :class:`~ckan_api_client.core.Capabilities` are sent back),
or an :class:`Emit` (an item for the caller, when the operation is an iterator). A shell drives it:
:func:`drive` / :func:`drive_iter` with a sync ``call_action``, :func:`adrive` / :func:`adrive_iter`
with an async one. So paging, the pre-2.12 fill-ins of ``put_*``, 404 handling and the token check
cannot drift between the two clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, Union

from . import exceptions as exc
from .core import BaseTransport, Capabilities, ClientOptions, Secret
from .exceptions import BadApiError, CkanError, InvalidInput, NotFound
from .shapes import dataset_for_write, group_for_write

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 1000
"""Rows of full datasets asked of package_search per page: CKAN's default ``ckan.search.rows_max``."""

ID_PAGE_SIZE = 100_000
"""Rows asked per page when listing ids only: CKAN clamps ``rows`` to its ``ckan.search.rows_max``
silently, so this gets the server's largest page. Either way, a server that answers smaller pages
is fine: the keyset paging below does not depend on the page size."""


@dataclass(frozen=True)
class Call:
    """An action to call; the operation receives its ``result``."""

    action: str
    data: Mapping[str, Any] | None = None
    method: str = "POST"
    read_only: bool | None = None
    """May it be repeated after it may have reached the server (default: by the action's name)."""
    files: Mapping[str, Any] | None = None
    """Files to upload (see ``UploadFile``): the call goes as a streamed multipart body."""
    progress: Callable[[int], None] | None = None


class _Capabilities:
    def __repr__(self) -> str:
        return "CAPABILITIES"


CAPABILITIES = _Capabilities()
"""Yielded to ask for the site's capabilities."""


@dataclass(frozen=True)
class Emit:
    """An item an iterating operation hands to its caller."""

    value: Any


Step = Union[Call, _Capabilities, Emit]
Operation = Generator[Step, Any, T]


# ---------------------------------------------------------------- drivers


class Stepper:
    """One operation being driven: hands out its next step, takes the answer or the error back.

    The drivers below only add the waiting (none, or ``await``)."""

    def __init__(self, operation: Operation[Any]) -> None:
        self.operation = operation
        self.done = False
        self.result: Any = None
        self._reply: Any = None
        self._failure: BaseException | None = None

    def next(self) -> Step | None:
        """The next step, or None when the operation has finished (its value in ``result``)."""
        try:
            if self._failure is not None:
                step = self.operation.throw(self._failure)
            else:
                step = self.operation.send(self._reply)
        except StopIteration as finished:
            self.done, self.result = True, finished.value
            return None
        self._reply, self._failure = None, None
        return step

    def answer(self, reply: Any) -> None:
        self._reply = reply

    def fail(self, error: CkanError) -> None:
        self._failure = error


def drive_iter(operation: Operation[Any], answer: Callable[[Call | _Capabilities], Any]) -> Iterator[Any]:
    """The items an operation emits, driven with a sync ``answer``."""
    return _steps(Stepper(operation), answer)


def drive(operation: Operation[T], answer: Callable[[Call | _Capabilities], Any]) -> T:
    """Run an operation to its result with a sync ``answer`` (an operation that emits is refused)."""
    stepper = Stepper(operation)
    for _ in _steps(stepper, answer):
        raise TypeError("an iterating operation needs drive_iter")
    result: T = stepper.result
    return result


def _steps(stepper: Stepper, answer: Callable[[Call | _Capabilities], Any]) -> Iterator[Any]:
    while (step := stepper.next()) is not None:
        if isinstance(step, Emit):
            yield step.value
            continue
        try:
            stepper.answer(answer(step))
        except CkanError as error:
            stepper.fail(error)


def adrive_iter(operation: Operation[Any], answer: Callable[[Call | _Capabilities], Awaitable[Any]]
                ) -> AsyncIterator[Any]:
    """The items an operation emits, driven with an async ``answer``."""
    return _asteps(Stepper(operation), answer)


async def adrive(operation: Operation[T], answer: Callable[[Call | _Capabilities], Awaitable[Any]]) -> T:
    """Run an operation to its result with an async ``answer``."""
    stepper = Stepper(operation)
    async for _ in _asteps(stepper, answer):
        raise TypeError("an iterating operation needs adrive_iter")
    result: T = stepper.result
    return result


async def _asteps(stepper: Stepper, answer: Callable[[Call | _Capabilities], Awaitable[Any]]) -> AsyncIterator[Any]:
    while (step := stepper.next()) is not None:
        if isinstance(step, Emit):
            yield step.value
            continue
        try:
            stepper.answer(await answer(step))
        except CkanError as error:
            stepper.fail(error)


class ClientFacts:
    """What both low-level clients (sync and async) say of themselves, from their ``transport``."""

    transport: BaseTransport

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    @property
    def api_key(self) -> Secret | None:
        """The key, wrapped so that it never prints (``client.api_key.reveal()`` gives it)."""
        return self.transport.api_key

    @property
    def options(self) -> ClientOptions:
        return self.transport.options

    @property
    def page_size(self) -> int | None:
        return self.transport.options.page_size

    def __repr__(self) -> str:
        key = "<set>" if self.api_key is not None else None
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key!r})"


# ---------------------------------------------------------------- checks


def solr_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def expect_dict(result: Any, action: str) -> dict[str, Any]:
    if not isinstance(result, dict) or "id" not in result:
        raise BadApiError(f"expected an object with an id, got {type(result).__name__}", action=action)
    return result


def expect_list(result: Any, action: str) -> list[Any]:
    if not isinstance(result, list):
        raise BadApiError(f"expected a list, got {type(result).__name__}", action=action)
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
    return Capabilities.from_status((yield Call("status_show", method="GET")))


def check_token(base_url: str) -> Operation[None]:
    """Raise :class:`~ckan_api_client.exceptions.InvalidToken` when the server does not know the token.

    CKAN treats a token it does not recognise as no token at all: every read then quietly
    answers what an anonymous visitor may see (a backup without the private datasets). So a
    token is checked before bulk work: ``am_following_user`` lets everybody through its auth check
    and then refuses a caller who is not a logged-in user, and ``user_list`` names a user to ask it
    about (it refuses anonymous callers itself where user details are private). Two reads.
    """
    try:
        users = yield Call("user_list", {"all_fields": False, "order_by": "created"})
        if not isinstance(users, list) or not users:
            raise exc.NotAuthorized(403, "user_list answered no user", action="user_list")
        first = users[0]
        ref = (first.get("id") or first.get("name")) if isinstance(first, Mapping) else first
        yield Call("am_following_user", {"id": str(ref)}, method="GET")
    except exc.NotAuthorized:
        raise exc.InvalidToken(
            f"the API token is not valid on {base_url}: CKAN does not recognise it (expired, revoked, or from "
            "another site) and would answer as to an anonymous visitor") from None


# ---------------------------------------------------------------- datasets


def search_pages(fields: str | None = None, rows: int = DEFAULT_PAGE_SIZE, *, q: str = "*:*", fq: str | None = None,
                 include_private: bool = True, include_drafts: bool = False, after: str | None = None,
                 before: str | None = None, start: str | None = None) -> Operation[None]:
    """Emits pages of all active datasets (private ones too where the key may see them), by id.

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
        filters = [fq] if fq else []
        if include_drafts:
            query["include_drafts"] = True
        if last_id is not None or before is not None or start is not None:
            low = '{"%s"' % solr_escape(last_id) if last_id is not None else \
                '["%s"' % solr_escape(start) if start is not None else "[*"
            high = '"%s"}' % solr_escape(before) if before is not None else "*]"
            filters.append(f"id:{low} TO {high}")
        if filters:
            query["fq"] = " ".join(f"+({f})" for f in filters)
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


def list_datasets(page_size: int | None) -> Operation[list[str]]:
    ids: list[str] = []

    def keep(page: list[dict[str, Any]]) -> Iterable[Step]:
        ids.extend(item["id"] for item in page)
        return ()

    yield from forward(search_pages("id", page_size or ID_PAGE_SIZE), keep)
    return ids


def iter_datasets(page_size: int | None) -> Operation[None]:
    """Emits every dataset, a page of ``package_search`` at a time."""
    yield from forward(search_pages(None, page_size or DEFAULT_PAGE_SIZE), lambda page: map(Emit, page))


def forward(inner: Operation[T], on_emit: Callable[[Any], Iterable[Step]]) -> Generator[Step, Any, T]:
    """Run ``inner`` within an operation: its calls pass out and their answers (or errors) back in;
    each item it emits is replaced by the steps ``on_emit`` gives for it (none, to keep it)."""
    stepper = Stepper(inner)
    while (step := stepper.next()) is not None:
        if isinstance(step, Emit):
            yield from on_emit(step.value)
            continue
        try:
            stepper.answer((yield step))
        except CkanError as error:
            stepper.fail(error)
    result: T = stepper.result
    return result


def get_dataset(dataset_id: str) -> Operation[dict[str, Any]]:
    return expect_dict((yield Call("package_show", {"id": require_ref(dataset_id, "dataset")})), "package_show")


def post_dataset(dataset: Mapping[str, Any]) -> Operation[dict[str, Any]]:
    return expect_dict((yield Call("package_create", dataset_for_write(dataset))), "package_create")


def put_dataset(dataset: Mapping[str, Any]) -> Operation[dict[str, Any]]:
    """``package_update``; a dict without ``resources`` keeps the dataset's resources on every version."""
    payload = dataset_for_write(dataset)
    dataset_id = require_id(payload, "dataset")
    if "resources" not in payload and not (yield CAPABILITIES).at_least(2, 12):
        current = yield from get_dataset(dataset_id)
        payload["resources"] = current.get("resources") or []
    return expect_dict((yield Call("package_update", payload)), "package_update")


def delete_dataset(dataset_id: str, ignore_404: bool) -> Operation[None]:
    try:
        yield Call("package_delete", {"id": require_ref(dataset_id, "dataset")})
    except NotFound:
        if not ignore_404:
            raise


# ---------------------------------------------------------------- groups and organizations


def list_group_summaries(kind: str) -> Operation[list[dict[str, Any]]]:
    """Every group or organization (``kind``) as a short dict, paged until a page is empty (any cap works)."""
    action = f"{kind}_list"
    summaries: list[dict[str, Any]] = []
    while True:
        page = expect_list((yield Call(action, {
            "all_fields": True, "sort": "name asc", "limit": 1000, "offset": len(summaries),
            "include_dataset_count": False, "include_extras": False, "include_tags": False,
            "include_groups": False, "include_users": False,
        })), action)
        if not page:
            return summaries
        for item in page:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise BadApiError("expected group objects with ids", action=action)
            summaries.append(item)


def list_group_ids(kind: str) -> Operation[list[str]]:
    return [item["id"] for item in (yield from list_group_summaries(kind))]


def iter_groups(kind: str) -> Operation[None]:
    """Emits each group or organization in full (``*_show`` of each listed id)."""
    for group_id in (yield from list_group_ids(kind)):
        yield Emit((yield from get_group(kind, group_id)))


def get_group(kind: str, group_id: str) -> Operation[dict[str, Any]]:
    action = f"{kind}_show"
    return expect_dict((yield Call(action, {"id": require_ref(group_id, kind)})), action)


def post_group(kind: str, group: Mapping[str, Any]) -> Operation[dict[str, Any]]:
    action = f"{kind}_create"
    return expect_dict((yield Call(action, group_for_write(group, kind))), action)


def put_group(kind: str, group: Mapping[str, Any]) -> Operation[dict[str, Any]]:
    """``*_update``; a dict without ``users`` keeps the members on every version."""
    payload = group_for_write(group, kind)
    group_id = require_id(payload, kind)
    if "users" not in payload and not (yield CAPABILITIES).at_least(2, 12):
        current = yield from get_group(kind, group_id)
        payload["users"] = [{"name": u.get("name") or u.get("id"), "capacity": u.get("capacity")}
                            for u in current.get("users") or []]
    action = f"{kind}_update"
    return expect_dict((yield Call(action, payload)), action)


def delete_group(kind: str, group_id: str, ignore_404: bool) -> Operation[None]:
    """Delete and purge, so that the name can be used again."""
    ref = require_ref(group_id, kind)
    try:
        yield Call(f"{kind}_delete", {"id": ref})
        yield Call(f"{kind}_purge", {"id": ref})
    except NotFound:
        if not ignore_404:
            raise


def list_licenses() -> Operation[list[dict[str, Any]]]:
    return expect_list((yield Call("license_list", method="GET")), "license_list")


# ---------------------------------------------------------------- resource files


def upload_resource(dataset: str | Mapping[str, Any], file: Any, progress: Callable[[int], None] | None,
                    fields: Mapping[str, Any]) -> Operation[dict[str, Any]]:
    """Create a resource in ``dataset`` (id, name or dict) with ``file`` as its data.

    The file is streamed from disk as a multipart body. A multipart form carries only plain
    values, so when ``fields`` has nested ones (lists, dicts) they are sent as JSON in a first
    call and the file in a second, as CKAN requires.
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
    return (yield from replace_resource_file(created["id"], file, progress))


def replace_resource_file(resource_id: str, file: Any, progress: Callable[[int], None] | None
                          ) -> Operation[dict[str, Any]]:
    """Upload ``file`` as the new data of an existing resource (its other fields stay)."""
    result = yield Call("resource_patch", {"id": resource_id}, files={"upload": file}, progress=progress)
    return expect_dict(result, "resource_patch")


# ---------------------------------------------------------------- DataStore


def _search_result(result: Any, action: str) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise BadApiError(f"{action} did not return an object", action=action)
    return result


def datastore_records(resource_id: str, page_size: int, *, filters: Mapping[str, Any] | None = None,
                      fields: Sequence[str] | None = None, q: str | Mapping[str, Any] | None = None,
                      sort: str | None = None, include_id: bool = True) -> Operation[None]:
    """Emits every matching row of a DataStore table, once, a page at a time.

    Sorted by ``_id``: the keyset pages of CKAN 2.12 (``include_next_page`` / ``next_page``), else
    ``_id``-ordered offsets (rows appended during the read come after the pages read). With another
    ``sort``, offsets ordered by it and then by ``_id`` (stable, but rows added mid-read may shift them).
    """
    wanted = list(fields) if fields is not None else None
    if wanted is not None and "_id" not in wanted:
        wanted = ["_id", *wanted]
    order = f"{sort}, _id" if sort and sort.strip() not in ("_id", "_id asc") else "_id"
    keyset = order == "_id" and (yield CAPABILITIES).at_least(2, 12)
    base: dict[str, Any] = {"resource_id": resource_id, "limit": page_size, "sort": order,
                            "records_format": "lists", "include_total": False}
    if q is not None:
        base["q"] = q
    if wanted is not None:
        base["fields"] = wanted
    page_filters = dict(filters or {})
    offset = 0
    while True:
        query = dict(base, filters=page_filters)
        if keyset:
            query["include_next_page"] = True
        else:
            query["offset"] = offset
        result = _search_result((yield Call("datastore_search", query)), "datastore_search")
        names = [f["id"] for f in result.get("fields") or [] if isinstance(f, dict)]
        rows = result.get("records") or []
        if not isinstance(rows, list):
            raise BadApiError("datastore_search returned records that are not a list", action="datastore_search")
        for values in rows:
            row = dict(zip(names, values))
            if not include_id:
                row.pop("_id", None)
            yield Emit(row)
        if len(rows) < int(result.get("limit") or page_size) or not rows:
            return
        offset += len(rows)
        if keyset:
            next_page = result.get("next_page")
            if not isinstance(next_page, dict):
                return
            page_filters = {**(filters or {}), **next_page}


def datastore_fields(resource_id: str) -> Operation[list[dict[str, Any]]]:
    """A table's fields (id, type), from a search with no rows."""
    result = _search_result((yield Call("datastore_search", {"resource_id": resource_id, "limit": 0})),
                            "datastore_search")
    return [f for f in result.get("fields") or [] if isinstance(f, dict)]


def datastore_exists(resource_id: str) -> Operation[bool]:
    try:
        yield Call("datastore_search", {"resource_id": resource_id, "limit": 0})
    except NotFound:
        return False
    return True


def datastore_search_sql(sql: str) -> Operation[list[dict[str, Any]]]:
    result = _search_result((yield Call("datastore_search_sql", {"sql": sql})), "datastore_search_sql")
    records = result.get("records")
    if not isinstance(records, list):
        raise BadApiError("datastore_search_sql returned no records", action="datastore_search_sql")
    return records
