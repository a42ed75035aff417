"""The low-level client: the seed's documented interface, spoken over the Action API.

``CkanLowlevelClient(base_url, api_key=None)`` keeps every name, argument and return value of
the original ckan-api-client (which spoke API v2) and maps each call onto the Action API of
CKAN 2.10, 2.11 and 2.12:

=====================  ==========================================================
``list_datasets``      ids of all active datasets (paged ``package_search``, ``fl=id``)
``iter_datasets``      full dataset dicts, a page of ``package_search`` at a time
``get/post/put``       ``package_show`` / ``package_create`` / ``package_update``
``delete_dataset``     ``package_delete``; 404 ignored unless asked
groups, organizations  the same with ``group_*`` / ``organization_*``; delete also purges
``list_licenses``      ``license_list``
=====================  ==========================================================

On CKAN before 2.12, ``package_update`` deletes the resources of a dataset dict that has no
``resources`` key, and ``group_update``/``organization_update`` drop the members of one without
``users``: ``put_*`` fills those keys from the current object first, so the documented
behaviour (keep what you did not mention) holds on every version.
"""

from __future__ import annotations

import threading
from typing import Any, Iterator, Mapping, TypeVar

import requests

from . import exceptions as exc
from . import operations as ops
from .actions import ActionClient, UploadFile
from .core import Capabilities, describe_raw_request
from .exceptions import InvalidInput
from .core import ClientOptions, Secret
from .transport import Transport

__all__ = ["CkanLowlevelClient"]

T = TypeVar("T")
_expect_dict = ops.expect_dict  # used by the files helpers


class CkanLowlevelClient(ops.ClientFacts):
    """Ckan low-level client.

    * Handles authentication and response validation
    * Handles request body serialization and response body deserialization
    * Raises HTTPError exceptions on failed HTTP requests
    * Performs some checks on return values from the API

    Beyond the seed's arguments, every field of :class:`~ckan_api_client.core.ClientOptions` as a
    keyword (``timeout``, ``retry``, ``verify``, ``max_rps``, ``concurrency``, ``page_size``, ...), or
    ``options=`` a whole one; ``transport=`` an existing transport to share.
    """

    transport: Transport

    def __init__(self, base_url: str, api_key: str | Secret | None = None, *, options: ClientOptions | None = None,
                 transport: Transport | None = None, **option_changes: Any) -> None:
        if transport is None:
            base = options or ClientOptions()
            transport = Transport(base_url, base.replace(api_key=api_key, **option_changes)
                                  if api_key is not None or option_changes else base)
        elif option_changes or options is not None:
            raise InvalidInput("give either a transport or options, not both")
        self.transport = transport
        self.actions = ActionClient(transport)
        self._capabilities: Capabilities | None = None
        self._token_checked = False
        self._lock = threading.Lock()

    def _answer(self, step: ops.Call | Any) -> Any:
        if isinstance(step, ops.Call):
            return self.actions.call_action(step.action, step.data, method=step.method, read_only=step.read_only,
                                            files=step.files, progress=step.progress)
        return self.capabilities

    def run(self, operation: ops.Operation[T]) -> T:
        """Run an operation of :mod:`ckan_api_client.operations` with this client; its result."""
        return ops.drive(operation, self._answer)

    def run_iter(self, operation: ops.Operation[Any]) -> Iterator[Any]:
        """The items an iterating operation of :mod:`ckan_api_client.operations` emits."""
        return ops.drive_iter(operation, self._answer)

    # ------------------------------------------------------------------ plumbing

    @property
    def anonymous(self) -> "CkanLowlevelClient":
        """Property, returning a copy of this client, without an api_key set."""
        return type(self)(self.base_url, transport=self.transport.copy(api_key=None))

    @property
    def capabilities(self) -> Capabilities:
        """The site's CKAN version and extensions (``status_show``, read once)."""
        if self._capabilities is None:
            with self._lock:
                if self._capabilities is None:
                    self._capabilities = self.run(ops.capabilities())
        return self._capabilities

    def check_token(self) -> None:
        """Raise :class:`~ckan_api_client.exceptions.InvalidToken` if the server does not recognise the
        token (once per client; see :meth:`ActionClient.check_token`)."""
        if self._token_checked or self.api_key is None:
            return
        self.run(ops.check_token(self.base_url))
        self._token_checked = True

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> "CkanLowlevelClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Wrapper around requests.request().

        Adds the Authorization header; serializes a non-string ``data`` as JSON with
        ``Content-Type: application/json`` (unless ``files`` makes it a multipart form); raises :class:`~ckan_api_client.exceptions.HTTPError`
        (a typed subclass) when the response is not ok; passes other kwargs to requests.
        ``path`` is relative to the CKAN root, e.g. ``/api/3/action/package_list``.
        """
        raw = describe_raw_request(method, path, kwargs.pop("data", None), kwargs.pop("headers", None),
                                   "files" in kwargs)
        return self.transport.request(method, path, headers=raw.headers, data=raw.body, action=raw.action,
                                      idempotent=raw.idempotent, **kwargs)

    def call_action(self, name: str, data: Mapping[str, Any] | None = None, *, method: str = "POST",
                    files: Mapping[str, UploadFile] | None = None, **options: Any) -> Any:
        """Call any action (core or plugin) and return its ``result``; see :meth:`ActionClient.call_action`."""
        return self.actions.call_action(name, data, method=method, files=files, **options)

    # ------------------------------------------------------------------ datasets

    def search_pages(self, fields: str | None = None, rows: int = ops.DEFAULT_PAGE_SIZE, **options: Any
                     ) -> Iterator[list[dict[str, Any]]]:
        """Pages of all active datasets, by id (keyset paging); see :func:`~ckan_api_client.operations.search_pages`
        for ``q``, ``fq``, ``include_private``, ``include_drafts``, ``after``, ``before``, ``start``."""
        return self.run_iter(ops.search_pages(fields, rows, **options))

    def list_datasets(self) -> list[str]:
        """Return a list of all dataset ids"""
        return self.run(ops.list_datasets(self.page_size))

    def iter_datasets(self) -> Iterator[dict[str, Any]]:
        """Generator yielding dataset objects, iterating over the whole database.

        Fetched a page of ``package_search`` at a time, not one request per dataset.
        """
        return self.run_iter(ops.iter_datasets(self.page_size))

    def get_dataset(self, dataset_id: str) -> dict[str, Any]:
        """Get a dataset (``package_show``), by id or name."""
        return self.run(ops.get_dataset(dataset_id))

    def post_dataset(self, dataset: Mapping[str, Any]) -> dict[str, Any]:
        """Create a dataset (``package_create``). ``dataset`` should not already contain an id."""
        return self.run(ops.post_dataset(dataset))

    def put_dataset(self, dataset: Mapping[str, Any]) -> dict[str, Any]:
        """Update a dataset (``package_update``). ``dataset`` must contain its id.

        Fields left out are cleared, as ``package_update`` does, except ``resources``: a dict
        without that key keeps the dataset's resources on every CKAN version.
        """
        return self.run(ops.put_dataset(dataset))

    def delete_dataset(self, dataset_id: str, ignore_404: bool = True) -> None:
        """Delete a dataset (``package_delete``); a 404 is ignored if ``ignore_404`` (the default)."""
        self.run(ops.delete_dataset(dataset_id, ignore_404))

    # ------------------------------------------------------------------ groups and organizations

    def list_group_summaries(self, kind: str) -> list[dict[str, Any]]:
        """Every group or organization (``kind``) as a short dict (id, name, title, ...), paged."""
        return self.run(ops.list_group_summaries(kind))

    def list_groups(self) -> list[str]:
        """Return a list of all group ids."""
        return self.run(ops.list_group_ids("group"))

    def iter_groups(self) -> Iterator[dict[str, Any]]:
        """Generator yielding group objects (``group_show`` of each listed id)."""
        return self.run_iter(ops.iter_groups("group"))

    def get_group(self, group_id: str) -> dict[str, Any]:
        return self.run(ops.get_group("group", group_id))

    def post_group(self, group: Mapping[str, Any]) -> dict[str, Any]:
        return self.run(ops.post_group("group", group))

    def put_group(self, group: Mapping[str, Any]) -> dict[str, Any]:
        return self.run(ops.put_group("group", group))

    def delete_group(self, group_id: str, ignore_404: bool = True) -> None:
        """Delete and purge a group, so that its name can be used again."""
        self.run(ops.delete_group("group", group_id, ignore_404))

    def list_organizations(self) -> list[str]:
        """Return a list of all organization ids."""
        return self.run(ops.list_group_ids("organization"))

    def iter_organizations(self) -> Iterator[dict[str, Any]]:
        """Generator yielding organization objects (``organization_show`` of each listed id)."""
        return self.run_iter(ops.iter_groups("organization"))

    def get_organization(self, id: str) -> dict[str, Any]:
        return self.run(ops.get_group("organization", id))

    def post_organization(self, organization: Mapping[str, Any]) -> dict[str, Any]:
        return self.run(ops.post_group("organization", organization))

    def put_organization(self, organization: Mapping[str, Any]) -> dict[str, Any]:
        """Update an organization (``organization_update``, sent with POST as API v3 wants)."""
        return self.run(ops.put_group("organization", organization))

    def delete_organization(self, id: str, ignore_404: bool = True) -> None:
        """Delete and purge an organization, so that its name can be used again."""
        self.run(ops.delete_group("organization", id, ignore_404))

    # ------------------------------------------------------------------ licenses

    def list_licenses(self) -> list[dict[str, Any]]:
        """The licenses the site offers (``license_list``)."""
        return self.run(ops.list_licenses())


# Kept importable from here, as the seed's users may expect.
HTTPError = exc.HTTPError
