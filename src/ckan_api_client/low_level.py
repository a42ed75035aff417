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

import json
from typing import Any, Iterator, Mapping

import requests

from . import exceptions as exc
from .actions import ActionClient, Capabilities, UploadFile, is_read_only
from .exceptions import BadApiError, InvalidInput, NotFound
from .shapes import dataset_for_write, group_for_write
from .transport import DEFAULT_TIMEOUT, RetryPolicy, Secret, Transport

__all__ = ["CkanLowlevelClient"]

DEFAULT_PAGE_SIZE = 1000
"""Rows of full datasets asked of package_search per page: CKAN's default ``ckan.search.rows_max``."""

ID_PAGE_SIZE = 100_000
"""Rows asked per page when listing ids only: CKAN clamps ``rows`` to its ``ckan.search.rows_max``
silently, so this gets the server's largest page. Either way, a server that answers smaller pages
is fine: the keyset paging below does not depend on the page size."""

_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_ACTION_PREFIX = "/api/3/action/"


def _solr_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _expect_dict(result: Any, action: str) -> dict[str, Any]:
    if not isinstance(result, dict) or "id" not in result:
        raise BadApiError(f"expected an object with an id, got {type(result).__name__}", action=action)
    return result


def _expect_list(result: Any, action: str) -> list[Any]:
    if not isinstance(result, list):
        raise BadApiError(f"expected a list, got {type(result).__name__}", action=action)
    return result


def _require_id(obj: Mapping[str, Any], kind: str) -> str:
    object_id = obj.get("id")
    if not isinstance(object_id, str) or not object_id:
        raise InvalidInput(f"put_{kind} needs the {kind} dict to contain its id (used to know what to update)")
    return object_id


def _require_ref(value: Any, kind: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"a {kind} id must be a non-empty string, got {value!r}")
    return value


class CkanLowlevelClient:
    """Ckan low-level client.

    * Handles authentication and response validation
    * Handles request body serialization and response body deserialization
    * Raises HTTPError exceptions on failed HTTP requests
    * Performs some checks on return values from the API

    Beyond the seed's arguments: ``timeout`` (seconds, or a (connect, read) pair; default
    (10, 120)), ``retry`` (a :class:`~ckan_api_client.transport.RetryPolicy`), ``verify``
    (TLS verification, or a CA bundle path), ``auth_header`` (default ``Authorization``),
    ``allow_insecure_http`` (send a token over plain http to a non-loopback host), ``max_rps``
    (a rate limit shared by all threads using this client), and ``page_size`` (rows per package_search page; by default the server's largest for ids and
    1,000 for full datasets).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | Secret | None = None,
        *,
        timeout: float | tuple[float, float] | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        verify: bool | str = True,
        auth_header: str = "Authorization",
        user_agent: str | None = None,
        allow_insecure_http: bool = False,
        page_size: int | None = None,
        max_rps: float | None = None,
        transport: Transport | None = None,
    ) -> None:
        if transport is None:
            transport = Transport(base_url, api_key, timeout=timeout, retry=retry, verify=verify,
                                  auth_header=auth_header, user_agent=user_agent,
                                  allow_insecure_http=allow_insecure_http, max_rps=max_rps)
        if page_size is not None and (not isinstance(page_size, int) or page_size < 1):
            raise InvalidInput("page_size must be a positive integer (or None for the defaults)")
        self.transport = transport
        self.actions = ActionClient(transport)
        self.page_size = page_size

    # ------------------------------------------------------------------ plumbing

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    @property
    def api_key(self) -> Secret | None:
        """The key, wrapped so that it never prints (``client.api_key.reveal()`` gives it)."""
        return self.transport.api_key

    def __repr__(self) -> str:
        key = "<set>" if self.api_key is not None else None
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key!r})"

    @property
    def anonymous(self) -> "CkanLowlevelClient":
        """Property, returning a copy of this client, without an api_key set."""
        return type(self)(self.base_url, transport=self.transport.copy(api_key=None), page_size=self.page_size)

    @property
    def capabilities(self) -> Capabilities:
        """The site's CKAN version and extensions (``status_show``, read once)."""
        return self.actions.capabilities

    def check_token(self) -> None:
        """Raise :class:`~ckan_api_client.exceptions.InvalidToken` if the server does not recognise the
        token (once per client; see :meth:`ActionClient.check_token`)."""
        self.actions.check_token()

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
        if not isinstance(path, str):
            raise InvalidInput("path must be a string")
        headers = dict(kwargs.pop("headers", None) or {})
        data = kwargs.pop("data", None)
        if data is not None and "files" not in kwargs and not isinstance(data, (str, bytes, bytearray)) \
                and not hasattr(data, "read"):
            data = json.dumps(data).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if isinstance(data, str):
            data = data.encode("utf-8")
        action = None
        if path.startswith(_ACTION_PREFIX):
            action = path[len(_ACTION_PREFIX):].split("?")[0].strip("/") or None
        idempotent = method.upper() in _SAFE_METHODS or (action is not None and is_read_only(action))
        return self.transport.request(method, path, headers=headers, data=data, action=action,
                                      idempotent=idempotent, **kwargs)

    def call_action(self, name: str, data: Mapping[str, Any] | None = None, *, method: str = "POST",
                    files: Mapping[str, UploadFile] | None = None, **options: Any) -> Any:
        """Call any action (core or plugin) and return its ``result``; see :meth:`ActionClient.call_action`."""
        return self.actions.call_action(name, data, method=method, files=files, **options)

    # ------------------------------------------------------------------ datasets

    def search_pages(self, fields: str | None = None, rows: int = DEFAULT_PAGE_SIZE, *, q: str = "*:*",
                     fq: str | None = None, include_private: bool = True, include_drafts: bool = False,
                     after: str | None = None, before: str | None = None,
                     start: str | None = None) -> Iterator[list[dict[str, Any]]]:
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
            filters = [fq] if fq else []
            if include_drafts:
                query["include_drafts"] = True
            if last_id is not None or before is not None or start is not None:
                low = '{"%s"' % _solr_escape(last_id) if last_id is not None else \
                    '["%s"' % _solr_escape(start) if start is not None else "[*"
                high = '"%s"}' % _solr_escape(before) if before is not None else "*]"
                filters.append(f"id:{low} TO {high}")
            if filters:
                query["fq"] = " ".join(f"+({f})" for f in filters)
            result = self.call_action("package_search", query)
            if not isinstance(result, dict) or not isinstance(result.get("results"), list):
                raise BadApiError("package_search did not return results", action="package_search")
            page = result["results"]
            if not page:
                return
            for item in page:
                if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                    raise BadApiError("package_search returned a result without an id", action="package_search")
            yield page
            if len(page) >= int(result.get("count", 0)):
                return
            last_id = page[-1]["id"]

    def list_datasets(self) -> list[str]:
        """Return a list of all dataset ids"""
        rows = self.page_size or ID_PAGE_SIZE
        return [item["id"] for page in self.search_pages("id", rows) for item in page]

    def iter_datasets(self) -> Iterator[dict[str, Any]]:
        """Generator yielding dataset objects, iterating over the whole database.

        Fetched a page of ``package_search`` at a time, not one request per dataset.
        """
        for page in self.search_pages(None, self.page_size or DEFAULT_PAGE_SIZE):
            yield from page

    def get_dataset(self, dataset_id: str) -> dict[str, Any]:
        """Get a dataset (``package_show``), by id or name."""
        result = self.call_action("package_show", {"id": _require_ref(dataset_id, "dataset")})
        return _expect_dict(result, "package_show")

    def post_dataset(self, dataset: Mapping[str, Any]) -> dict[str, Any]:
        """Create a dataset (``package_create``). ``dataset`` should not already contain an id."""
        payload = dataset_for_write(dataset)
        return _expect_dict(self.call_action("package_create", payload), "package_create")

    def put_dataset(self, dataset: Mapping[str, Any]) -> dict[str, Any]:
        """Update a dataset (``package_update``). ``dataset`` must contain its id.

        Fields left out are cleared, as ``package_update`` does, except ``resources``: a dict
        without that key keeps the dataset's resources on every CKAN version.
        """
        payload = dataset_for_write(dataset)
        dataset_id = _require_id(payload, "dataset")
        if "resources" not in payload and not self.capabilities.at_least(2, 12):
            current = self.get_dataset(dataset_id)
            payload["resources"] = current.get("resources") or []
        return _expect_dict(self.call_action("package_update", payload), "package_update")

    def delete_dataset(self, dataset_id: str, ignore_404: bool = True) -> None:
        """Delete a dataset (``package_delete``); a 404 is ignored if ``ignore_404`` (the default)."""
        try:
            self.call_action("package_delete", {"id": _require_ref(dataset_id, "dataset")})
        except NotFound:
            if not ignore_404:
                raise

    # ------------------------------------------------------------------ groups and organizations

    def list_group_summaries(self, kind: str) -> list[dict[str, Any]]:
        """Every group or organization (``kind``) as a short dict (id, name, title, ...), paged.

        ``all_fields`` pages are capped by the server (25 by default): this asks until a page is
        empty, so any cap works.
        """
        action = f"{kind}_list"
        summaries: list[dict[str, Any]] = []
        while True:
            page = _expect_list(self.call_action(action, {
                "all_fields": True, "sort": "name asc", "limit": 1000, "offset": len(summaries),
                "include_dataset_count": False, "include_extras": False, "include_tags": False,
                "include_groups": False, "include_users": False,
            }), action)
            if not page:
                return summaries
            for item in page:
                if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                    raise BadApiError("expected group objects with ids", action=action)
                summaries.append(item)

    def _list_group_ids(self, kind: str) -> list[str]:
        return [item["id"] for item in self.list_group_summaries(kind)]

    def _get_group(self, kind: str, group_id: str) -> dict[str, Any]:
        action = f"{kind}_show"
        return _expect_dict(self.call_action(action, {"id": _require_ref(group_id, kind)}), action)

    def _post_group(self, kind: str, group: Mapping[str, Any]) -> dict[str, Any]:
        action = f"{kind}_create"
        return _expect_dict(self.call_action(action, group_for_write(group, kind)), action)

    def _put_group(self, kind: str, group: Mapping[str, Any]) -> dict[str, Any]:
        payload = group_for_write(group, kind)
        group_id = _require_id(payload, kind)
        if "users" not in payload and not self.capabilities.at_least(2, 12):
            current = self._get_group(kind, group_id)
            payload["users"] = [{"name": u.get("name") or u.get("id"), "capacity": u.get("capacity")}
                                for u in current.get("users") or []]
        action = f"{kind}_update"
        return _expect_dict(self.call_action(action, payload), action)

    def _delete_group(self, kind: str, group_id: str, ignore_404: bool) -> None:
        ref = _require_ref(group_id, kind)
        try:
            self.call_action(f"{kind}_delete", {"id": ref})
            self.call_action(f"{kind}_purge", {"id": ref})
        except NotFound:
            if not ignore_404:
                raise

    def list_groups(self) -> list[str]:
        """Return a list of all group ids."""
        return self._list_group_ids("group")

    def iter_groups(self) -> Iterator[dict[str, Any]]:
        """Generator yielding group objects (``group_show`` of each listed id)."""
        for group_id in self.list_groups():
            yield self.get_group(group_id)

    def get_group(self, group_id: str) -> dict[str, Any]:
        return self._get_group("group", group_id)

    def post_group(self, group: Mapping[str, Any]) -> dict[str, Any]:
        return self._post_group("group", group)

    def put_group(self, group: Mapping[str, Any]) -> dict[str, Any]:
        return self._put_group("group", group)

    def delete_group(self, group_id: str, ignore_404: bool = True) -> None:
        """Delete and purge a group, so that its name can be used again."""
        self._delete_group("group", group_id, ignore_404)

    def list_organizations(self) -> list[str]:
        """Return a list of all organization ids."""
        return self._list_group_ids("organization")

    def iter_organizations(self) -> Iterator[dict[str, Any]]:
        """Generator yielding organization objects (``organization_show`` of each listed id)."""
        for org_id in self.list_organizations():
            yield self.get_organization(org_id)

    def get_organization(self, id: str) -> dict[str, Any]:
        return self._get_group("organization", id)

    def post_organization(self, organization: Mapping[str, Any]) -> dict[str, Any]:
        return self._post_group("organization", organization)

    def put_organization(self, organization: Mapping[str, Any]) -> dict[str, Any]:
        """Update an organization (``organization_update``, sent with POST as API v3 wants)."""
        return self._put_group("organization", organization)

    def delete_organization(self, id: str, ignore_404: bool = True) -> None:
        """Delete and purge an organization, so that its name can be used again."""
        self._delete_group("organization", id, ignore_404)

    # ------------------------------------------------------------------ licenses

    def list_licenses(self) -> list[dict[str, Any]]:
        """The licenses the site offers (``license_list``)."""
        return _expect_list(self.call_action("license_list", method="GET"), "license_list")


# Kept importable from here, as the seed's users may expect.
HTTPError = exc.HTTPError
