"""DataStore helpers: tables from rows or DataFrames, chunked writes, and reads that page correctly.

``DataStore(client)`` wraps the ``datastore_*`` actions:

* [`create`][ckan_api_client.blocking.datastore.DataStore.create] makes a table (optionally a new resource for it) and loads rows in
  chunks, several at once; [`upsert`][ckan_api_client.blocking.datastore.DataStore.upsert] inserts, updates or upserts in chunks;
  [`delete_records`][ckan_api_client.blocking.datastore.DataStore.delete_records] deletes the rows that match a filter.
* [`iter_records`][ckan_api_client.blocking.datastore.DataStore.iter_records] yields every row once: with the keyset pagination of CKAN 2.12
  (``include_next_page`` / ``next_page`` on ``_id``) where the server has it, and ``_id``-sorted
  pages otherwise. Rows appended during the read never make a row come twice or be skipped. The
  reads are operations of [`ckan_api_client.core.entities`][ckan_api_client.core.entities], shared with the async client.
* [`to_dataframe`][ckan_api_client.blocking.datastore.DataStore.to_dataframe] / [`from_dataframe`][ckan_api_client.blocking.datastore.DataStore.from_dataframe] with pandas (an optional
  extra: ``pip install ckan-api-client[pandas]``; imported only when these are called), and
  [`search_sql`][ckan_api_client.blocking.datastore.DataStore.search_sql] where the server enables SQL search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

from ..core import datastore as ops
from ..core.datastore import DEFAULT_CHUNK, DEFAULT_PAGE, chunks
from ..exceptions import BadApiError, InvalidInput
from .client import CkanLowlevelClient
from .concurrency import run_concurrently

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = ["DataStore"]


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
        pieces = chunks(records, self.chunk_size)
        first = next(pieces, [])
        payload: dict[str, Any] = {"force": force, "records": first}
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
        self._write_chunks(created_id, pieces, "insert", force)
        return created_id

    def upsert(self, resource_id: str, records: Iterable[Mapping[str, Any]], *, method: str = "upsert",
               force: bool = True) -> int:
        """Write rows in chunks, several chunks at once; ``method`` is upsert, insert or update.

        Returns how many rows were sent. Upsert and update need the table's primary key."""
        if method not in ("upsert", "insert", "update"):
            raise InvalidInput(f"method must be upsert, insert or update, not {method!r}")
        return self._write_chunks(resource_id, chunks(records, self.chunk_size), method, force)

    def _write_chunks(self, resource_id: str, pieces: Iterator[list[dict[str, Any]]], method: str,
                      force: bool) -> int:
        """Send the chunks, several at once where the server allows it, and the last one alone.

        All but the last ask CKAN not to recount the table (``calculate_record_count: false``, as
        its documentation advises for a series of writes); the last one lets the server recount.
        CKAN 2.12 schedules and cancels background jobs per table on every write, without a lock:
        two writes to one table at once can fail with a 500 after the rows were written (and an
        insert cannot be retried safely), so there the chunks of one table go one at a time.
        """
        concurrency = 1 if self.client.capabilities.at_least(2, 12) else self.concurrency
        def send(chunk: list[dict[str, Any]], last: bool = False) -> int:
            payload: dict[str, Any] = {"resource_id": resource_id, "method": method, "force": force,
                                       "records": chunk}
            if not last:
                payload["calculate_record_count"] = False
            # insert is not idempotent; upsert and update on a primary key are, so they may be retried.
            self.client.call_action("datastore_upsert", payload, read_only=method != "insert")
            return len(chunk)

        held: list[list[dict[str, Any]]] = []

        def all_but_last() -> Iterator[list[dict[str, Any]]]:
            for chunk in pieces:
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

    def load(self, records: Iterable[Mapping[str, Any]], resource_id: str | None = None, *,
             resource: Mapping[str, Any] | None = None, mode: str | None = None,
             primary_key: str | Sequence[str] | None = None) -> str:
        """Load rows into the table of ``resource_id`` (or of a new resource described by ``resource``).

        A table that exists is written only when ``mode`` says how: ``append``, ``upsert`` (by primary
        key) or ``replace`` (dropped and loaded anew); see [`load_plan`][ckan_api_client.core.datastore.load_plan].
        Returns the resource id."""
        exists = resource_id is not None and self.exists(resource_id)
        plan = ops.load_plan(resource_id, exists, mode)
        if plan in ("append", "upsert"):
            assert resource_id is not None
            self.upsert(resource_id, records, method="insert" if plan == "append" else "upsert")
            return resource_id
        if plan == "replace":
            assert resource_id is not None
            self.delete_table(resource_id)
        return self.create(resource_id, resource=resource if resource_id is None else None, records=records,
                           primary_key=primary_key)

    def delete_records(self, resource_id: str, filters: Mapping[str, Any]) -> None:
        """Delete the rows matching ``filters`` (required: deleting a whole table is [`delete_table`][ckan_api_client.blocking.datastore.DataStore.delete_table])."""
        if not filters:
            raise InvalidInput("filters are required; to drop the whole table use delete_table")
        self.client.call_action("datastore_delete", {"resource_id": resource_id, "filters": dict(filters),
                                                     "force": True})

    def delete_table(self, resource_id: str) -> None:
        """Drop the resource's whole table (the resource stays)."""
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
        """Every matching row, once, a page at a time (see [`datastore_records`][ckan_api_client.core.datastore.datastore_records])."""
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
