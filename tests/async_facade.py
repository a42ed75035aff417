"""The async client seen through blocking calls, so that one behaviour suite runs for both clients.

``Blocking(async_client)`` runs each coroutine on an event loop in a background thread and turns
each async iterator into a plain one; everything else (``transport.stats``, ``api_key``, ...) is
the async client's own attribute. It adds nothing to what the async client does.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ckan_api_client import AsyncCkanLowlevelClient


class EventLoopThread:
    """One event loop, running in a daemon thread, for the whole test session."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True, name="async-tests").start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def iterate(self, iterator: AsyncIterator[Any]) -> Iterator[Any]:
        while True:
            try:
                yield self.run(iterator.__anext__())
            except StopAsyncIteration:
                return


LOOP = EventLoopThread()


class Blocking:
    def __init__(self, client: Any) -> None:
        self._client = client

    @property
    def capabilities(self) -> Any:
        return LOOP.run(self._client.capabilities())

    @property
    def anonymous(self) -> Blocking:
        return Blocking(self._client.anonymous)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if isinstance(attribute, AsyncCkanLowlevelClient):  # the low-level client under a high-level one
            return Blocking(attribute)
        if not callable(attribute) or not (inspect.iscoroutinefunction(attribute) or name.startswith("iter_")
                                           or name == "search_pages"):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            if inspect.iscoroutine(result):
                return LOOP.run(result)
            return LOOP.iterate(result)

        return call

    def __repr__(self) -> str:
        return repr(self._client)

    def close(self) -> None:
        LOOP.run(self._client.aclose())

    def __enter__(self) -> Blocking:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


MODES = ["sync", "async"]


def make_client(mode: str, url: str, token: str | None = None, **options: Any) -> Any:
    """The sync low-level client, or the async one behind blocking calls, with the same arguments."""
    from ckan_api_client.low_level import CkanLowlevelClient

    if mode == "sync":
        return CkanLowlevelClient(url, token, **options)
    return Blocking(AsyncCkanLowlevelClient(url, token, **options))


def download(client: Any, *args: Any, **kwargs: Any) -> Any:
    """The client's own ``download_resource`` (the sync one's, or the async one's behind blocking calls)."""
    return client.download_resource(*args, **kwargs)
