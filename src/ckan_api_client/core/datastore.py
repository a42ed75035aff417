"""DataStore tables, without I/O: every row read once (keyset pages on CKAN 2.12, ``_id``-ordered pages
before), and the rows of a write cut into chunks of plain JSON values. Driven by
[`DataStore`][ckan_api_client.blocking.datastore.DataStore] and [`AsyncDataStore`][ckan_api_client.asyncio.datastore.AsyncDataStore]."""

from __future__ import annotations

import datetime
import decimal
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..exceptions import BadApiError, InvalidInput, NotFound
from .operation import CAPABILITIES, Call, Emit, Listing, Operation

DEFAULT_CHUNK = 5000
"""Rows sent per datastore_create/upsert call."""
DEFAULT_PAGE = 10000
"""Rows asked per datastore_search page (the server caps it at ``ckan.datastore.search.rows_max``)."""


def chunks(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """The rows in lists of ``size``, each value made plain (what JSON can carry)."""
    chunk: list[dict[str, Any]] = []
    for row in rows:
        if not isinstance(row, Mapping):
            raise InvalidInput(f"each record must be a dict, got {type(row).__name__}")
        chunk.append({str(k): plain(v) for k, v in row.items()})
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def plain(value: Any) -> Any:
    """A value JSON can carry: numpy scalars, NaN/NaT, dates and decimals made plain."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str, bytes)):
        try:
            value = value.item()  # numpy scalar
        except (ValueError, TypeError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if type(value).__name__ in ("NaTType", "NAType"):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value



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


LOAD_MODES = ("append", "upsert", "replace")


def load_plan(resource_id: str | None, exists: bool, mode: str | None) -> str:
    """How rows are loaded into a table: ``create`` (a new table), ``append``, ``upsert`` or ``replace``.

    A table that exists is written only when told how (``mode``); appending or upserting needs one.
    [`InvalidInput`][ckan_api_client.exceptions.InvalidInput] says what to pass otherwise."""
    if mode is not None and mode not in LOAD_MODES:
        raise InvalidInput(f"mode must be one of {', '.join(LOAD_MODES)}, not {mode!r}")
    if exists:
        if mode is None:
            raise InvalidInput(f"resource {resource_id} already has a DataStore table: pass --append to add the "
                               "rows, --upsert to update rows by primary key, or --replace to load it anew")
        return mode
    if mode in ("append", "upsert"):
        raise InvalidInput(f"--{mode} writes into an existing table, and resource {resource_id or '(new)'} has none")
    return "create"
