"""The async clients: the same operations as the sync ones, as coroutines and async iterators.

:class:`AsyncCkanLowlevelClient` drives the operations of :mod:`ckan_api_client.operations`
(written once, sans-IO) with an async ``call_action`` over
:class:`~ckan_api_client.async_transport.AsyncTransport`, so paging, the pre-2.12 fill-ins, error
mapping and retries are those of :class:`~ckan_api_client.low_level.CkanLowlevelClient`::

    async with AsyncCkanLowlevelClient(url, token) as client:
        async for dataset in client.iter_datasets():
            ...

Many portals at once: one client per portal, gathered with ``asyncio.gather``; each keeps at most
``concurrency`` requests in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import IO, Any, Callable, TypeVar

import httpx

from . import high_level as hl
from . import operations as ops
from .actions import UploadFile, _Upload
from .core import (NO_RETRY, Capabilities, ClientOptions, Secret, build_action_call, decode_answer,
                   describe_raw_request)
from .async_transport import AsyncTransport
from .datastore import DEFAULT_PAGE
from .exceptions import DownloadError, InvalidInput, TransportError
from .objects import Dataset, Group, License, Organization, Resource
from .writes import removal
from .files import DownloadResult, prepared_download

__all__ = ["AsyncCkanHighlevelClient", "AsyncCkanLowlevelClient", "AsyncDataStore"]

T = TypeVar("T")


class _CountingReader:
    """A file as httpx reads it for a multipart body, reporting the bytes read so far."""

    def __init__(self, fileobj: IO[bytes], sent: list[int], progress: Callable[[int], None]) -> None:
        self.fileobj, self.sent, self.progress = fileobj, sent, progress

    def read(self, size: int = -1) -> bytes:
        chunk = self.fileobj.read(size)
        self.sent[0] += len(chunk)
        self.progress(self.sent[0])
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fileobj, name)


def _counted(files: list[tuple[str, tuple[str, IO[bytes], str]]], progress: Callable[[int], None] | None
             ) -> list[tuple[str, tuple[str, Any, str]]]:
    if progress is None:
        return list(files)
    sent = [0]
    return [(field, (name, _CountingReader(fileobj, sent, progress), kind)) for field, (name, fileobj, kind) in files]


class AsyncCkanLowlevelClient(ops.ClientFacts):
    """The low-level client's methods as coroutines (iterators as async iterators).

    Takes the same arguments: ``base_url``, ``api_key``, and any :class:`~ckan_api_client.core.ClientOptions`
    field as a keyword (or ``options=``). Use it with ``async with``, or ``await client.aclose()``.
    """

    transport: AsyncTransport

    def __init__(self, base_url: str, api_key: str | Secret | None = None, *, options: ClientOptions | None = None,
                 transport: AsyncTransport | None = None, **option_changes: Any) -> None:
        if transport is None:
            transport = AsyncTransport(base_url, (options or ClientOptions()).replace(api_key=api_key,
                                                                                      **option_changes))
        self.transport = transport
        self._capabilities: Capabilities | None = None
        self._token_checked = False

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> AsyncCkanLowlevelClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def anonymous(self) -> AsyncCkanLowlevelClient:
        """The same client without the key (sharing its connections)."""
        transport = AsyncTransport(self.base_url, self.options.replace(api_key=None), client=self.transport.client)
        return type(self)(self.base_url, transport=transport)

    # ------------------------------------------------------------------ actions

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The seed's ``request``: a non-string ``data`` is sent as JSON (a form when ``files`` are
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
                          progress: Callable[[int], None] | None = None, **options: Any) -> Any:
        """Call any action and return its ``result`` (see the sync ``call_action``); ``files`` are
        streamed from disk, with ``progress`` called with the bytes of them sent so far."""
        call = build_action_call(name, data, method=method, multipart=bool(files), read_only=read_only)
        kwargs: dict[str, Any] = {"action": name, "idempotent": call.idempotent, "headers": call.headers, **options}
        upload = None
        if files:
            upload = _Upload(call.fields or {}, files)
            if not upload.rewindable and not call.idempotent:
                kwargs["retry"] = NO_RETRY
            kwargs["headers"] = {}
            kwargs["body_factory"] = lambda: {"data": dict(upload.fields),
                                              "files": _counted(upload.rewound_files(), progress)}
        elif call.method == "GET":
            kwargs["params"] = call.params
        else:
            kwargs["content"] = call.body

        async def accept(response: httpx.Response) -> Any:
            return decode_answer(response.status_code, response.content, action=name, url=str(response.url))

        try:
            return await self.transport.exchange(call.method, call.path, accept, **kwargs)
        finally:
            if upload is not None:
                upload.close()

    async def _answer(self, step: ops.Call | Any) -> Any:
        if isinstance(step, ops.Call):
            return await self.call_action(step.action, step.data, method=step.method, read_only=step.read_only,
                                    files=step.files, progress=step.progress)
        return await self.capabilities()

    async def run(self, operation: ops.Operation[T]) -> T:
        """Run an operation of :mod:`ckan_api_client.operations` with this client; its result."""
        return await ops.adrive(operation, self._answer)

    def run_iter(self, operation: ops.Operation[Any]) -> AsyncIterator[Any]:
        """The items an iterating operation of :mod:`ckan_api_client.operations` emits."""
        return ops.adrive_iter(operation, self._answer)

    async def capabilities(self) -> Capabilities:
        """The site's CKAN version and extensions (``status_show``, read once)."""
        if self._capabilities is None:
            self._capabilities = await self.run(ops.capabilities())
        return self._capabilities

    async def check_token(self) -> None:
        """Raise :class:`~ckan_api_client.exceptions.InvalidToken` if the server does not know the token."""
        if self._token_checked or self.api_key is None:
            return
        await self.run(ops.check_token(self.base_url))
        self._token_checked = True

    # ------------------------------------------------------------------ datasets, groups, organizations

    def search_pages(self, fields: str | None = None, rows: int = ops.DEFAULT_PAGE_SIZE,
                     **options: Any) -> AsyncIterator[list[dict[str, Any]]]:
        return self.run_iter(ops.search_pages(fields, rows, **options))

    async def list_datasets(self) -> list[str]:
        return await self.run(ops.list_datasets(self.page_size))

    def iter_datasets(self) -> AsyncIterator[dict[str, Any]]:
        """Every dataset, a page of ``package_search`` at a time: ``async for dataset in client.iter_datasets()``."""
        return self.run_iter(ops.iter_datasets(self.page_size))

    async def get_dataset(self, dataset_id: str) -> dict[str, Any]:
        return await self.run(ops.get_dataset(dataset_id))

    async def post_dataset(self, dataset: Mapping[str, Any]) -> dict[str, Any]:
        return await self.run(ops.post_dataset(dataset))

    async def put_dataset(self, dataset: Mapping[str, Any]) -> dict[str, Any]:
        return await self.run(ops.put_dataset(dataset))

    async def delete_dataset(self, dataset_id: str, ignore_404: bool = True) -> None:
        await self.run(ops.delete_dataset(dataset_id, ignore_404))

    async def list_group_summaries(self, kind: str) -> list[dict[str, Any]]:
        return await self.run(ops.list_group_summaries(kind))

    async def list_groups(self) -> list[str]:
        return await self.run(ops.list_group_ids("group"))

    def iter_groups(self) -> AsyncIterator[dict[str, Any]]:
        return self.run_iter(ops.iter_groups("group"))

    async def get_group(self, group_id: str) -> dict[str, Any]:
        return await self.run(ops.get_group("group", group_id))

    async def post_group(self, group: Mapping[str, Any]) -> dict[str, Any]:
        return await self.run(ops.post_group("group", group))

    async def put_group(self, group: Mapping[str, Any]) -> dict[str, Any]:
        return await self.run(ops.put_group("group", group))

    async def delete_group(self, group_id: str, ignore_404: bool = True) -> None:
        await self.run(ops.delete_group("group", group_id, ignore_404))

    async def list_organizations(self) -> list[str]:
        return await self.run(ops.list_group_ids("organization"))

    def iter_organizations(self) -> AsyncIterator[dict[str, Any]]:
        return self.run_iter(ops.iter_groups("organization"))

    async def get_organization(self, id: str) -> dict[str, Any]:
        return await self.run(ops.get_group("organization", id))

    async def post_organization(self, organization: Mapping[str, Any]) -> dict[str, Any]:
        return await self.run(ops.post_group("organization", organization))

    async def put_organization(self, organization: Mapping[str, Any]) -> dict[str, Any]:
        return await self.run(ops.put_group("organization", organization))

    async def delete_organization(self, id: str, ignore_404: bool = True) -> None:
        await self.run(ops.delete_group("organization", id, ignore_404))

    async def list_licenses(self) -> list[dict[str, Any]]:
        return await self.run(ops.list_licenses())

    # ------------------------------------------------------------------ files

    async def download_resource(self, resource: Mapping[str, Any] | Any, dest: str | Path, *,
                                overwrite: bool = False, verify: bool = True,
                                progress: Callable[[int], None] | None = None) -> DownloadResult:
        """Download a resource's file to the file ``dest``, as the sync
        :func:`~ckan_api_client.files.download_resource` does: checked, through a ``.part`` file,
        resumed with ``Range`` within the call when the body is cut (and by a later call)."""
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


class AsyncDataStore:
    """The DataStore reads of :class:`~ckan_api_client.datastore.DataStore`, async (the same operations)."""

    def __init__(self, client: AsyncCkanLowlevelClient, *, page_size: int = DEFAULT_PAGE) -> None:
        self.client = client
        self.page_size = page_size

    async def exists(self, resource_id: str) -> bool:
        return await self.client.run(ops.datastore_exists(resource_id))

    async def info(self, resource_id: str) -> list[dict[str, Any]]:
        return await self.client.run(ops.datastore_fields(resource_id))

    def iter_records(self, resource_id: str, **search: Any) -> AsyncIterator[dict[str, Any]]:
        """Every matching row, once: ``async for row in store.iter_records(resource_id)``
        (``filters``, ``fields``, ``q``, ``sort``, ``include_id`` as in the sync one)."""
        return self.client.run_iter(ops.datastore_records(resource_id, self.page_size, **search))

    async def search_sql(self, sql: str) -> list[dict[str, Any]]:
        return await self.client.run(ops.datastore_search_sql(sql))


class AsyncCkanHighlevelClient:
    """The high-level client's methods as coroutines: CKAN entities as objects, updates that send only
    what changed. The same operations as :class:`~ckan_api_client.high_level.CkanHighlevelClient`."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 client: AsyncCkanLowlevelClient | None = None, **options: Any) -> None:
        if client is None:
            if base_url is None:
                raise InvalidInput("give a base_url, or an existing async low-level client as client=")
            client = AsyncCkanLowlevelClient(base_url, api_key, **options)
        self.client = client
        self.resolved = hl.ResolvedGroups()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client!r})"

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> AsyncCkanHighlevelClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def list_datasets(self) -> list[str]:
        return await self.client.list_datasets()

    def iter_datasets(self) -> AsyncIterator[Dataset]:
        return self.client.run_iter(hl.iter_dataset_objects(self.client.page_size))

    async def get_dataset(self, ref: str) -> Dataset:
        return await self.client.run(hl.get_dataset(ref))

    async def create_dataset(self, dataset: Dataset | Mapping[str, Any]) -> Dataset:
        return await self.client.run(hl.create_dataset(dataset))

    async def update_dataset(self, dataset: Dataset, *, check_concurrent: bool = True) -> Dataset:
        return await self.client.run(hl.update_dataset(dataset, check_concurrent))

    async def save_dataset(self, dataset: Dataset) -> Dataset:
        return await (self.update_dataset(dataset) if dataset.id else self.create_dataset(dataset))

    async def delete_dataset(self, ref: str, *, purge: bool = False) -> None:
        await self.client.run(hl.delete_dataset(ref, purge))

    async def add_resource(self, dataset_ref: str, resource: Resource | Mapping[str, Any], *,
                           file: UploadFile | None = None, progress: Callable[[int], None] | None = None) -> Resource:
        return await self.client.run(hl.add_resource(dataset_ref, resource, file, progress))

    async def get_resource(self, resource_id: str) -> Resource:
        return await self.client.run(hl.get_resource(resource_id))

    async def update_resource(self, resource: Resource) -> Resource:
        return await self.client.run(hl.update_resource(resource))

    async def replace_resource_file(self, resource_id: str, file: UploadFile, *,
                                    progress: Callable[[int], None] | None = None) -> Resource:
        return await self.client.run(hl.replace_file(resource_id, file, progress))

    async def delete_resource(self, resource_id: str) -> None:
        await self.client.run(removal("resource_delete", resource_id))

    async def reorder_resources(self, dataset_ref: str, resource_ids: list[str]) -> None:
        await self.client.run(hl.reorder_resources(dataset_ref, resource_ids))

    async def list_organizations(self) -> list[str]:
        return await self.client.list_organizations()

    def iter_organizations(self) -> AsyncIterator[Organization]:
        return self.client.run_iter(hl.iter_group_objects(Organization))

    async def get_organization(self, ref: str) -> Organization:
        return await self.client.run(hl.get_group(Organization, ref))

    async def create_organization(self, organization: Organization | Mapping[str, Any]) -> Organization:
        return await self.client.run(hl.create_group(Organization, organization))

    async def update_organization(self, organization: Organization | Mapping[str, Any]) -> Organization:
        return await self.client.run(hl.update_group(Organization, organization))

    async def delete_organization(self, ref: str, *, purge: bool = True) -> None:
        await self.client.run(hl.delete_group(Organization, ref, purge))

    async def list_groups(self) -> list[str]:
        return await self.client.list_groups()

    def iter_groups(self) -> AsyncIterator[Group]:
        return self.client.run_iter(hl.iter_group_objects(Group))

    async def get_group(self, ref: str) -> Group:
        return await self.client.run(hl.get_group(Group, ref))

    async def create_group(self, group: Group | Mapping[str, Any]) -> Group:
        return await self.client.run(hl.create_group(Group, group))

    async def update_group(self, group: Group | Mapping[str, Any]) -> Group:
        return await self.client.run(hl.update_group(Group, group))

    async def delete_group(self, ref: str, *, purge: bool = True) -> None:
        await self.client.run(hl.delete_group(Group, ref, purge))

    async def resolve_organization(self, ref: str) -> Organization | None:
        return await self._resolve(Organization, ref)

    async def resolve_group(self, ref: str) -> Group | None:
        return await self._resolve(Group, ref)

    async def _resolve(self, cls: type[hl.G], ref: str) -> hl.G | None:
        known, found = self.resolved.get(cls, ref)
        if not known:
            found = await self.client.run(hl.find_group(cls, ref))
            self.resolved.put(cls, ref, found)
        return found

    def forget_resolved(self) -> None:
        self.resolved.clear()

    async def list_licenses(self) -> list[License]:
        return await self.client.run(hl.list_licenses())
