"""The blocking clients: [`CkanLowlevelClient`][ckan_api_client.blocking.client.CkanLowlevelClient] (the original ckan-api-client's interface) and [`CkanHighlevelClient`][ckan_api_client.blocking.client.CkanHighlevelClient]
(objects), on requests.

Their methods are declared once in [`ckan_api_client.core.api`][ckan_api_client.core.api] and run here by blocking on each
request; what they do is written once in the core, shared with the async clients. This module adds
only what a blocking client is: a transport ([`Transport`][ckan_api_client.blocking.transport.Transport]),
``call_action`` and the original ``request``, downloads, and closing.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Mapping, Union

import requests

from ..core import entities
from ..core.api import BlockingRunner, ClientInfo, HighLevelApi, LowLevelApi
from ..core.calls import UploadFile, build_action_call, describe_raw_request
from ..core.files import DownloadResult
from ..core.operation import CAPABILITIES, FACTS, Call, ClientFacts, Together, _Ask
from ..core.options import DEFAULT, ClientOptions, RetryPolicy, Secret
from ..core.site import Capabilities
from ..exceptions import CkanError, InvalidInput
from .files import download
from .transport import Transport

__all__ = ["CkanLowlevelClient", "CkanHighlevelClient"]


class CkanLowlevelClient(LowLevelApi, ClientInfo, BlockingRunner):
    """Ckan low-level client.

    * Handles authentication and response validation
    * Handles request body serialization and response body deserialization
    * Raises HTTPError exceptions on failed HTTP requests
    * Performs some checks on return values from the API

    ``CkanLowlevelClient(base_url, api_key=None)`` as in the original ckan-api-client; every field of
    [`ClientOptions`][ckan_api_client.core.options.ClientOptions] is also accepted as a keyword (``timeout``, ``retry``,
    ``verify``, ``max_rps``, ``concurrency``, ``page_size``, ...), or ``options=`` a whole one;
    ``transport=`` an existing transport to share.
    """

    def __init__(self, base_url: str, api_key: str | Secret | None = None, *, options: ClientOptions | None = None,
                 transport: Transport | None = None, **option_changes: Any) -> None:
        if transport is None:
            base = options or ClientOptions()
            transport = Transport(base_url, base.replace(api_key=api_key, **option_changes)
                                  if api_key is not None or option_changes else base)
        elif option_changes or options is not None:
            raise InvalidInput("give either a transport or options, not both")
        self.transport = transport
        self.facts = ClientFacts(transport.base_url, transport.options)
        self._capabilities: Capabilities | None = None
        self._lock = threading.Lock()

    def answer(self, step: Union[Call, _Ask, Together]) -> Any:
        if isinstance(step, Call):
            return self.call_action(step.action, step.data, method=step.method, read_only=step.read_only,
                                    files=step.files, progress=step.progress)
        if isinstance(step, Together):
            return [self._answer_or_error(call) for call in step.calls]
        if step is FACTS:
            return self.facts
        return self.capabilities

    def _answer_or_error(self, call: Call) -> Any:
        try:
            return self.answer(call)
        except CkanError as error:
            return error

    @property
    def anonymous(self) -> CkanLowlevelClient:
        """Property, returning a copy of this client, without an api_key set."""
        return type(self)(self.base_url, transport=self.transport.copy(api_key=None))

    @property
    def capabilities(self) -> Capabilities:
        """The site's CKAN version and extensions (``status_show``, read once)."""
        if self._capabilities is None:
            with self._lock:
                if self._capabilities is None:
                    self._capabilities = self.run(entities.capabilities())
        return self._capabilities

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> CkanLowlevelClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Wrapper around requests.request().

        Adds the Authorization header; serializes a non-string ``data`` as JSON with
        ``Content-Type: application/json`` (unless ``files`` makes it a multipart form); raises
        [`HTTPError`][ckan_api_client.exceptions.HTTPError] (a typed subclass) when the response is not ok;
        passes other kwargs to requests. ``path`` is relative to the CKAN root, e.g.
        ``/api/3/action/package_list``.
        """
        raw = describe_raw_request(method, path, kwargs.pop("data", None), kwargs.pop("headers", None),
                                   "files" in kwargs)
        return self.transport.request(method, path, headers=raw.headers, data=raw.body, action=raw.action,
                                      idempotent=raw.idempotent, **kwargs)

    def call_action(self, name: str, data: Mapping[str, Any] | None = None, *, method: str = "POST",
                    files: Mapping[str, UploadFile] | None = None, read_only: bool | None = None,
                    retry: RetryPolicy | None = None, timeout: Any = DEFAULT,
                    progress: Callable[[int], None] | None = None) -> Any:
        """Call any action (core or plugin) and return its ``result``.

        ``method="GET"`` sends ``data`` as query parameters (for side-effect-free reads). ``files``
        sends a multipart body streamed from the files, in constant memory, with ``progress`` called
        with the bytes sent so far. ``read_only`` overrides whether the action may be retried after it
        reached the server (default: guessed from its name).
        """
        call = build_action_call(name, data, method=method, multipart=bool(files), read_only=read_only)
        return self.transport.call_action(call, files=files, progress=progress, retry=retry, timeout=timeout)

    def download_resource(self, resource: Mapping[str, Any] | Any, dest: str | Path, *, overwrite: bool = False,
                          verify: bool = True, progress: Callable[[int], None] | None = None) -> DownloadResult:
        """Download a resource's file to ``dest`` (a path; ``-`` for stdout): streamed, the token only on
        the site's own origin, an HTML page refused where a file was expected, the declared size and hash
        checked, written through ``dest.part`` and renamed when complete, continued with ``Range`` when
        the body is cut (within the call, and by a later call). An existing complete file is kept
        (``skipped``); a different one is replaced only with ``overwrite``."""
        return download(self.transport, resource, dest, overwrite=overwrite, verify=verify, progress=progress)


class CkanHighlevelClient(HighLevelApi, BlockingRunner):
    """Datasets, resources, organizations, groups and licenses as objects.

    ``CkanHighlevelClient(base_url, api_key, **options)`` takes the low-level client's options, or
    wraps an existing one: ``CkanHighlevelClient(client=low_level_client)``.
    """

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 client: CkanLowlevelClient | None = None, **options: Any) -> None:
        if client is None:
            if base_url is None:
                raise InvalidInput("give a base_url, or an existing low-level client as client=")
            client = CkanLowlevelClient(base_url, api_key, **options)
        self.client = client

    def answer(self, step: Union[Call, _Ask, Together]) -> Any:
        return self.client.answer(step)

    def forget_resolved(self) -> None:
        """Forget the organizations and groups remembered by ``resolve_organization`` and ``resolve_group``."""
        with self.client.facts.lock:
            self.client.facts.resolved.clear()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client!r})"

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> CkanHighlevelClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
