"""The DataStore reads, async: the same operations as [`DataStore`][ckan_api_client.blocking.datastore.DataStore]'s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..core import datastore as ops
from ..core.datastore import DEFAULT_PAGE
from .client import AsyncCkanLowlevelClient

__all__ = ["AsyncDataStore"]


class AsyncDataStore:
    """The DataStore of one CKAN site, read through an async low-level client."""

    def __init__(self, client: AsyncCkanLowlevelClient, *, page_size: int = DEFAULT_PAGE) -> None:
        self.client = client
        self.page_size = page_size

    async def exists(self, resource_id: str) -> bool:
        """True when the resource has a DataStore table."""
        return await self.client.run(ops.datastore_exists(resource_id))

    async def info(self, resource_id: str) -> list[dict[str, Any]]:
        """The table's fields (id, type)."""
        return await self.client.run(ops.datastore_fields(resource_id))

    def iter_records(self, resource_id: str, **search: Any) -> AsyncIterator[dict[str, Any]]:
        """Every matching row, once: ``async for row in store.iter_records(resource_id)``
        (``filters``, ``fields``, ``q``, ``sort``, ``include_id`` as in the blocking one)."""
        return self.client.run_iter(ops.datastore_records(resource_id, self.page_size, **search))

    async def search_sql(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a ``datastore_search_sql`` query (where the server enables it)."""
        return await self.client.run(ops.datastore_search_sql(sql))
