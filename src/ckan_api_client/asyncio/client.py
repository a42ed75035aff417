"""The async clients: the methods of the blocking ones as coroutines and async iterators, on httpx.

[`AsyncCkanLowlevelClient`][ckan_api_client.asyncio.client.AsyncCkanLowlevelClient] and [`AsyncCkanHighlevelClient`][ckan_api_client.asyncio.client.AsyncCkanHighlevelClient] inherit the method tables of
[`ckan_api_client.core.api`][ckan_api_client.core.api] and run each operation by awaiting its requests over
[`AsyncTransport`][ckan_api_client.asyncio.transport.AsyncTransport], so paging, fill-ins, error mapping,
retries and the write protocol are those of the blocking clients::

    async with AsyncCkanLowlevelClient(url, token) as client:
        async for dataset in client.iter_datasets():
            ...

Many portals at once: one client per portal, gathered with ``asyncio.gather``; each keeps at most
``concurrency`` requests in flight. ``iter_datasets`` walks four id ranges of a portal at once, so
the datasets come by id within each range, the ranges interleaved. Importing this module does not import requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Union

import httpx

from ..core import entities
from ..core.api import AsyncRunner, ClientInfo, HighLevelApi, LowLevelApi
from ..core.calls import UploadFile, build_action_call, describe_raw_request
from ..core.files import DownloadResult, prepared_download
from ..core.operation import FACTS, Call, ClientFacts, Together, _Ask
from ..core.options import DEFAULT, ClientOptions, RetryPolicy, Secret
from ..core.site import Capabilities
from ..exceptions import CkanError, DownloadError, InvalidInput, TransportError
from .transport import AsyncTransport

__all__ = ["AsyncCkanHighlevelClient", "AsyncCkanLowlevelClient"]

WALKS_AT_ONCE = 4
"""Id ranges ``iter_datasets`` walks at once (at most the client's ``concurrency``): a portal of P pages
100 ms away is read in about P / 4 round trips; four pages at most are held."""


class AsyncCkanLowlevelClient(LowLevelApi, ClientInfo, AsyncRunner):
    """The low-level client's methods as coroutines (iterators as async iterators).

    Takes the same arguments: ``base_url``, ``api_key``, and any [`ClientOptions`][ckan_api_client.core.options.ClientOptions]
    field as a keyword (or ``options=``). Use it with ``async with``, or ``await client.aclose()``.
    """

    def __init__(self, base_url: str, api_key: str | Secret | None = None, *, options: ClientOptions | None = None,
                 transport: AsyncTransport | None = None, **option_changes: Any) -> None:
        if transport is None:
            transport = AsyncTransport(base_url, (options or ClientOptions()).replace(api_key=api_key,
                                                                                      **option_changes))
        elif option_changes or options is not None:
            raise InvalidInput("give either a transport or options, not both")
        self.transport = transport
        self.facts = ClientFacts(transport.base_url, transport.options,
                                 walks=min(WALKS_AT_ONCE, transport.options.concurrency))
        self._capabilities: Capabilities | None = None

    async def answer(self, step: Union[Call, _Ask, Together]) -> Any:
        if isinstance(step, Call):
            return await self.call_action(step.action, step.data, method=step.method, read_only=step.read_only,
                                          files=step.files, progress=step.progress)
        if isinstance(step, Together):
            return list(await asyncio.gather(*(self._answer_or_error(call) for call in step.calls)))
        if step is FACTS:
            return self.facts
        return await self.capabilities()

    async def _answer_or_error(self, call: Call) -> Any:
        try:
            return await self.answer(call)
        except CkanError as error:
            return error

    async def capabilities(self) -> Capabilities:
        """The site's CKAN version and extensions (``status_show``, read once)."""
        if self._capabilities is None:
            self._capabilities = await self.run(entities.capabilities())
        return self._capabilities

    @property
    def anonymous(self) -> AsyncCkanLowlevelClient:
        """The same client without the key (sharing its connections)."""
        transport = AsyncTransport(self.base_url, self.options.replace(api_key=None), client=self.transport.client)
        return type(self)(self.base_url, transport=transport)

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncCkanLowlevelClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The original client's ``request``: a non-string ``data`` is sent as JSON (a form when ``files`` are
        given); the ok ``httpx.Response``, its body read; a typed error otherwise."""
        raw = describe_raw_request(method, path, kwargs.pop("data", None), kwargs.pop("headers", None),
                                   "files" in kwargs)
        files = kwargs.pop("files", None)
        if files is not None:
            form = raw.body
            kwargs["body_factory"] = lambda: {"data": form, "files": files}
        elif raw.body is not None:
            kwargs["content"] = raw.body
        if "params" in kwargs and isinstance(kwargs["params"], Mapping):
            kwargs["params"] = list(kwargs["params"].items())
        return await self.transport.request(method, path, headers=raw.headers, action=raw.action,
                                            idempotent=raw.idempotent, **kwargs)

    async def call_action(self, name: str, data: Mapping[str, Any] | None = None, *, method: str = "POST",
                          files: Mapping[str, UploadFile] | None = None, read_only: bool | None = None,
                          retry: RetryPolicy | None = None, timeout: Any = DEFAULT,
                          progress: Callable[[int], None] | None = None) -> Any:
        """Call any action and return its ``result`` (see the blocking ``call_action``); ``files`` are
        streamed from disk, with ``progress`` called with the bytes of them sent so far."""
        call = build_action_call(name, data, method=method, multipart=bool(files), read_only=read_only)
        return await self.transport.call_action(call, files=files, progress=progress, retry=retry, timeout=timeout)

    async def download_resource(self, resource: Mapping[str, Any] | Any, dest: str | Path, *,
                                overwrite: bool = False, verify: bool = True,
                                progress: Callable[[int], None] | None = None) -> DownloadResult:
        """Download a resource's file to the file ``dest``, as the blocking ``download_resource`` does:
        checked, through a ``.part`` file, resumed with ``Range`` within the call when the body is cut
        (and by a later call)."""
        job = prepared_download(resource, Path(dest), overwrite, verify, progress)
        if isinstance(job, DownloadResult):
            return job
        transport = self.transport
        while True:
            try:
                response = await transport.request("GET", job.url, headers=job.range_headers(), stream=True,
                                                   idempotent=True, action="download")
            except BaseException:
                job.not_started()
                raise
            try:
                sink = job.begin(response.status_code, response.headers)
                async for chunk in transport.stream_body(response, "download"):
                    sink.take(chunk)
                return job.finish()
            except DownloadError:
                job.abandon()
                raise
            except TransportError as cut:
                await asyncio.sleep(job.after_cut(cut, transport.retry, transport.stats))
            finally:
                job.close()
                await response.aclose()


class AsyncCkanHighlevelClient(HighLevelApi, AsyncRunner):
    """The high-level client's methods as coroutines: CKAN entities as objects, updates that send only
    what changed. The same operations as [`CkanHighlevelClient`][ckan_api_client.blocking.client.CkanHighlevelClient]."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 client: AsyncCkanLowlevelClient | None = None, **options: Any) -> None:
        if client is None:
            if base_url is None:
                raise InvalidInput("give a base_url, or an existing async low-level client as client=")
            client = AsyncCkanLowlevelClient(base_url, api_key, **options)
        self.client = client

    async def answer(self, step: Union[Call, _Ask, Together]) -> Any:
        return await self.client.answer(step)

    def forget_resolved(self) -> None:
        """Forget the organizations and groups remembered by ``resolve_organization`` and ``resolve_group``."""
        with self.client.facts.lock:
            self.client.facts.resolved.clear()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> AsyncCkanHighlevelClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
