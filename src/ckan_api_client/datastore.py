"""DataStore helpers: tables from rows or DataFrames, chunked writes, and reads that page correctly.

``DataStore(client)`` wraps the ``datastore_*`` actions:

* :meth:`~DataStore.create` makes a table (optionally a new resource for it) and loads rows in
  chunks, several at once; :meth:`~DataStore.upsert` inserts, updates or upserts in chunks;
  :meth:`~DataStore.delete_records` deletes the rows that match a filter.
* :meth:`~DataStore.iter_records` yields every row once: with the keyset pagination of CKAN 2.12
  (``include_next_page`` / ``next_page`` on ``_id``) where the server has it, and ``_id``-sorted
  pages otherwise. Rows appended during the read never make a row come twice or be skipped. The
  reads are operations of :mod:`ckan_api_client.operations`, shared with the async client.
* :meth:`~DataStore.to_dataframe` / :meth:`~DataStore.from_dataframe` with pandas (an optional
  extra: ``pip install ckan-api-client[pandas]``; imported only when these are called), and
  :meth:`~DataStore.search_sql` where the server enables SQL search.
"""

from __future__ import annotations

import datetime
import decimal
import math
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

from . import operations as ops
from .concurrency import run_concurrently
from .exceptions import BadApiError, InvalidInput
from .low_level import CkanLowlevelClient

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = ["DataStore", "DEFAULT_CHUNK", "DEFAULT_PAGE"]

DEFAULT_CHUNK = 5000
"""Rows sent per datastore_create/upsert call."""
DEFAULT_PAGE = 10000
"""Rows asked per datastore_search page (the server caps it at ``ckan.datastore.search.rows_max``)."""


def _chunks(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    chunk: list[Mapping[str, Any]] = []
    for row in rows:
        if not isinstance(row, Mapping):
            raise InvalidInput(f"each record must be a dict, got {type(row).__name__}")
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _plain(value: Any) -> Any:
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


_PANDAS_TYPES = (("bool", "bool"), ("int", "int8"), ("uint", "int8"), ("float", "float8"),
                 ("datetime64", "timestamp"), ("date", "date"))


class DataStore:
    """The DataStore of one CKAN site, over a low-level client."""

    def __init__(self, client: CkanLowlevelClient, *, chunk_size: int = DEFAULT_CHUNK,
                 page_size: int = DEFAULT_PAGE, concurrency: int = 2) -> None:
        self.client = client
        self.chunk_size = chunk_size
        self.page_size = page_size
        self.concurrency = concurrency

    # ------------------------------------------------------------------ writing

    def create(self, resource_id: str | None = None, *, resource: Mapping[str, Any] | None = None,
               fields: Sequence[Mapping[str, Any]] | None = None, records: Iterable[Mapping[str, Any]] = (),
               primary_key: str | Sequence[str] | None = None, indexes: str | Sequence[str] | None = None,
               force: bool = True) -> str:
        """Create a table (for ``resource_id``, or a new resource described by ``resource``, which
        needs a ``package_id``) and load ``records`` in chunks. Returns the resource id."""
        if (resource_id is None) == (resource is None):
            raise InvalidInput("give either resource_id or resource (a new resource's fields with its package_id)")
        chunks = _chunks(records, self.chunk_size)
        first = next(chunks, [])
        payload: dict[str, Any] = {"force": force, "records": [{k: _plain(v) for k, v in r.items()} for r in first]}
        if resource_id is not None:
            payload["resource_id"] = resource_id
        else:
            payload["resource"] = dict(resource or {})
        if fields is not None:
            payload["fields"] = [dict(f) for f in fields]
        if primary_key is not None:
            payload["primary_key"] = primary_key
        if indexes is not None:
            payload["indexes"] = indexes
        result = self.client.call_action("datastore_create", payload)
        if not isinstance(result, dict) or not isinstance(result.get("resource_id"), str):
            raise BadApiError("datastore_create did not return a resource_id", action="datastore_create")
        created_id: str = result["resource_id"]
        self._write_chunks(created_id, chunks, "insert", force)
        return created_id

    def upsert(self, resource_id: str, records: Iterable[Mapping[str, Any]], *, method: str = "upsert",
               force: bool = True) -> int:
        """Write rows in chunks, several chunks at once; ``method`` is upsert, insert or update.

        Returns how many rows were sent. Upsert and update need the table's primary key."""
        if method not in ("upsert", "insert", "update"):
            raise InvalidInput(f"method must be upsert, insert or update, not {method!r}")
        return self._write_chunks(resource_id, _chunks(records, self.chunk_size), method, force)

    def _write_chunks(self, resource_id: str, chunks: Iterator[list[Mapping[str, Any]]], method: str,
                      force: bool) -> int:
        """Send the chunks, several at once where the server allows it, and the last one alone.

        All but the last ask CKAN not to recount the table (``calculate_record_count: false``, as
        its documentation advises for a series of writes); the last one lets the server recount.
        CKAN 2.12 schedules and cancels background jobs per table on every write, without a lock:
        two writes to one table at once can fail with a 500 after the rows were written (and an
        insert cannot be retried safely), so there the chunks of one table go one at a time.
        """
        concurrency = 1 if self.client.capabilities.at_least(2, 12) else self.concurrency
        def send(chunk: list[Mapping[str, Any]], last: bool = False) -> int:
            payload: dict[str, Any] = {"resource_id": resource_id, "method": method, "force": force,
                                       "records": [{k: _plain(v) for k, v in row.items()} for row in chunk]}
            if not last:
                payload["calculate_record_count"] = False
            # insert is not idempotent; upsert and update on a primary key are, so they may be retried.
            self.client.call_action("datastore_upsert", payload, read_only=method != "insert")
            return len(chunk)

        held: list[list[Mapping[str, Any]]] = []

        def all_but_last() -> Iterator[list[Mapping[str, Any]]]:
            for chunk in chunks:
                if held:
                    yield held.pop()
                held.append(chunk)

        sent = 0
        for _, outcome in run_concurrently(all_but_last(), send, concurrency=concurrency):
            if isinstance(outcome, Exception):
                raise outcome
            sent += outcome
        if held:
            sent += send(held.pop(), last=True)
        return sent

    def delete_records(self, resource_id: str, filters: Mapping[str, Any]) -> None:
        """Delete the rows matching ``filters`` (required: deleting a whole table is :meth:`delete_table`)."""
        if not filters:
            raise InvalidInput("filters are required; to drop the whole table use delete_table")
        self.client.call_action("datastore_delete", {"resource_id": resource_id, "filters": dict(filters),
                                                     "force": True})

    def delete_table(self, resource_id: str) -> None:
        self.client.call_action("datastore_delete", {"resource_id": resource_id, "force": True})

    # ------------------------------------------------------------------ reading

    def exists(self, resource_id: str) -> bool:
        """True when the resource has a DataStore table."""
        return self.client.run(ops.datastore_exists(resource_id))

    def info(self, resource_id: str) -> list[dict[str, Any]]:
        """The table's fields (id, type), from a search with no rows."""
        return self.client.run(ops.datastore_fields(resource_id))

    @property
    def has_keyset_paging(self) -> bool:
        """CKAN 2.12 gives ``next_page`` filters for ``_id``-sorted searches."""
        return self.client.capabilities.at_least(2, 12)

    def iter_records(self, resource_id: str, *, filters: Mapping[str, Any] | None = None,
                     fields: Sequence[str] | None = None, q: str | Mapping[str, Any] | None = None,
                     sort: str | None = None, include_id: bool = True) -> Iterator[dict[str, Any]]:
        """Every matching row, once, a page at a time (see :func:`~ckan_api_client.operations.datastore_records`)."""
        return self.client.run_iter(ops.datastore_records(resource_id, self.page_size, filters=filters, fields=fields,
                                                          q=q, sort=sort, include_id=include_id))

    def search_sql(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a ``datastore_search_sql`` query (where the server enables it)."""
        return self.client.run(ops.datastore_search_sql(sql))

    # ------------------------------------------------------------------ pandas

    def to_dataframe(self, resource_id: str, **search: Any) -> "pandas.DataFrame":
        """The table (or the rows matching ``search``: filters, fields, q, sort) as a DataFrame.

        ``_id`` is left out; numeric, boolean and timestamp columns get their pandas types."""
        import pandas as pd

        types = {f["id"]: f.get("type", "text") for f in self.info(resource_id)}
        rows = list(self.iter_records(resource_id, include_id=False, **search))
        columns = [c for c in (search.get("fields") or types) if c != "_id"]
        frame = pd.DataFrame.from_records(rows, columns=columns)
        for column in frame.columns:
            kind = types.get(column, "text")
            if kind in ("int", "int4", "int8", "bigint", "smallint"):
                frame[column] = pd.array(frame[column], dtype="Int64")
            elif kind in ("float8", "float4", "numeric", "float", "double precision"):
                frame[column] = pd.to_numeric(frame[column])
            elif kind in ("bool", "boolean"):
                frame[column] = pd.array(frame[column], dtype="boolean")
            elif kind.startswith("timestamp"):
                frame[column] = pd.to_datetime(frame[column])
        return frame

    def from_dataframe(self, frame: "pandas.DataFrame", resource_id: str | None = None, *,
                       resource: Mapping[str, Any] | None = None,
                       primary_key: str | Sequence[str] | None = None) -> str:
        """Create a table from a DataFrame (column types mapped) and load its rows. Returns the resource id."""
        fields = []
        for column, dtype in frame.dtypes.items():
            name = str(dtype).lower()
            kind = next((ckan for prefix, ckan in _PANDAS_TYPES if name.startswith(prefix)), "text")
            fields.append({"id": str(column), "type": kind})
        records = (dict(zip(map(str, frame.columns), row)) for row in frame.itertuples(index=False, name=None))
        return self.create(resource_id, resource=resource, fields=fields, records=records, primary_key=primary_key)
