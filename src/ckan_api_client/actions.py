"""Actions: one ``call_action`` for every CKAN Action API call, and what the server can do.

:class:`ActionClient` turns ``call_action("package_show", {"id": "x"})`` into a request through
the :class:`~ckan_api_client.transport.Transport`, unwraps CKAN's ``{"success": ..., "result":
...}`` envelope, and raises a typed error for anything else. Plugin actions (DataStore, scheming,
harvest, ...) need nothing special. :attr:`ActionClient.capabilities` reads ``status_show`` once,
lazily, so the layers above can adapt to the CKAN version.
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Mapping, Union

import requests
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor

from . import exceptions as exc
from .transport import NO_RETRY, RetryPolicy, Transport, error_class, parse_error_body

__all__ = ["ActionClient", "Capabilities", "is_read_only", "UploadFile"]

ACTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_READ_SUFFIXES = ("_show", "_list", "_search", "_search_sql", "_autocomplete", "_count", "_info",
                  "_list_for_user", "_activity_list", "_followee_list", "_follower_list")
_READ_PREFIXES = ("am_following_", "help_show", "status_show")

UploadFile = Union[str, "os.PathLike[str]", IO[bytes], tuple[str, IO[bytes]], tuple[str, IO[bytes], str]]
"""A file to upload: a path, a binary file object, or (filename, fileobj[, content type])."""


def is_read_only(action: str) -> bool:
    """True for actions that change nothing (``*_show``, ``*_list``, ``*_search``, ...): safe to retry."""
    return action.endswith(_READ_SUFFIXES) or action.startswith(_READ_PREFIXES)


@dataclass(frozen=True)
class Capabilities:
    """What a CKAN site says of itself in ``status_show``."""

    ckan_version: str
    extensions: frozenset[str]

    @property
    def version(self) -> tuple[int, ...]:
        """The CKAN version as numbers: ``"2.11.0a"`` gives ``(2, 11, 0)``."""
        numbers = []
        for part in self.ckan_version.split("."):
            digits = re.match(r"\d+", part)
            if not digits:
                break
            numbers.append(int(digits.group()))
        return tuple(numbers)

    def at_least(self, *version: int) -> bool:
        return self.version >= tuple(version)

    def has_extension(self, name: str) -> bool:
        return name in self.extensions


def _form_value(key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    raise exc.InvalidInput(
        f"field {key!r} is a {type(value).__name__}: a multipart upload carries only plain values; "
        "send nested fields in a separate call")


def _query_params(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
            params.extend((key, str(v)) for v in value)
        elif isinstance(value, (dict, list, tuple)):
            params.append((key, json.dumps(value)))
        elif isinstance(value, bool):
            params.append((key, "true" if value else "false"))
        else:
            params.append((key, str(value)))
    return params


class _Upload:
    """Builds a fresh streaming multipart body for each attempt, rewinding the files."""

    def __init__(self, data: Mapping[str, Any], files: Mapping[str, UploadFile]) -> None:
        self.fields: list[tuple[str, Any]] = [(k, _form_value(k, v)) for k, v in data.items() if v is not None]
        self._opened: list[IO[bytes]] = []
        self.files: list[tuple[str, str, IO[bytes], str, int | None]] = []
        self.rewindable = True
        for field_name, spec in files.items():
            content_type = None
            if isinstance(spec, tuple):
                filename, fileobj = spec[0], spec[1]
                content_type = spec[2] if len(spec) > 2 else None
            elif isinstance(spec, (str, os.PathLike)):
                path = Path(spec)
                if not path.is_file():
                    raise exc.InvalidInput(f"no file to upload at {str(path)!r}")
                fileobj = open(path, "rb")
                self._opened.append(fileobj)
                filename = path.name
            elif hasattr(spec, "read"):
                fileobj = spec
                filename = os.path.basename(str(getattr(spec, "name", field_name)))
            else:
                raise exc.InvalidInput(f"upload {field_name!r} must be a path or a binary file object")
            content_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
            try:
                position: int | None = fileobj.tell() if fileobj.seekable() else None
            except (AttributeError, OSError):
                position = None
            if position is None:
                self.rewindable = False
            self.files.append((field_name, filename, fileobj, content_type, position))
        # One boundary for every attempt, so the Content-Type header stays right on a retry.
        self.boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={self.boundary}"

    def __call__(self) -> MultipartEncoder:
        parts: list[tuple[str, Any]] = list(self.fields)
        for field_name, filename, fileobj, content_type, position in self.files:
            if position is not None:
                fileobj.seek(position)
            parts.append((field_name, (filename, fileobj, content_type)))
        return MultipartEncoder(fields=parts, boundary=self.boundary)

    def close(self) -> None:
        for fileobj in self._opened:
            fileobj.close()


class ActionClient:
    """Calls CKAN actions over a :class:`Transport`; knows the site's capabilities."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._capabilities: Capabilities | None = None
        self._capabilities_lock = threading.Lock()
        self._token_checked = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transport.base_url!r})"

    def call_action(
        self,
        name: str,
        data: Mapping[str, Any] | None = None,
        *,
        method: str = "POST",
        files: Mapping[str, UploadFile] | None = None,
        read_only: bool | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | tuple[float, float] | None | str = "default",
        progress: Callable[[int], None] | None = None,
    ) -> Any:
        """Call the action ``name`` with ``data`` and return its ``result``.

        ``method="GET"`` sends ``data`` as query parameters (for side-effect-free reads).
        ``files`` sends a multipart body streamed from the files, in constant memory, with
        ``progress`` called with the bytes sent so far. ``read_only`` overrides whether the
        action may be retried after it reached the server (default: guessed from its name).
        """
        if not isinstance(name, str) or not ACTION_NAME.match(name):
            raise exc.InvalidInput(f"{name!r} is not an action name")
        if data is not None and not isinstance(data, Mapping):
            raise exc.InvalidInput(f"the data for {name} must be a dict, not {type(data).__name__}")
        method = method.upper()
        if method not in ("GET", "POST"):
            raise exc.InvalidInput(f"actions are called with GET or POST, not {method}")
        if read_only is None:
            read_only = is_read_only(name)
        path = f"/api/3/action/{name}"
        payload = dict(data or {})
        kwargs: dict[str, Any] = {"action": name, "idempotent": read_only, "retry": retry, "timeout": timeout}
        upload = None
        if files:
            if method != "POST":
                raise exc.InvalidInput("file uploads are sent with POST")
            upload = _Upload(payload, files)
            if not upload.rewindable and not read_only:
                kwargs["retry"] = NO_RETRY

            def body() -> Any:
                encoder = upload()
                if progress is None:
                    return encoder
                return MultipartEncoderMonitor(encoder, lambda m: progress(m.bytes_read))

            kwargs["body_factory"] = body
            kwargs["headers"] = {"Content-Type": upload.content_type}
        elif method == "GET":
            kwargs["params"] = _query_params(payload)
        else:
            kwargs["data"] = json.dumps(payload).encode("utf-8")
            kwargs["headers"] = {"Content-Type": "application/json"}
        try:
            response = self.transport.request(method, path, **kwargs)
        finally:
            if upload is not None:
                upload.close()
        return self.unwrap(response, name)

    def unwrap(self, response: requests.Response, action: str | None) -> Any:
        """Check CKAN's envelope on an ok response and return its ``result``."""
        try:
            body = response.json()
        except ValueError:
            summary, _ = parse_error_body(response.text[:65536])
            raise exc.BadApiError(f"the answer is not JSON ({summary})", action=action, url=response.url,
                                  status_code=response.status_code) from None
        if not isinstance(body, dict) or "success" not in body:
            raise exc.BadApiError(f"the answer has no 'success' field: {str(body)[:200]}", action=action,
                                  url=response.url, status_code=response.status_code)
        if body["success"] is not True:
            error = body.get("error")
            if not isinstance(error, dict):
                raise exc.BadApiError("the answer says success: false but gives no error", action=action,
                                      url=response.url, status_code=response.status_code)
            message = str(error.get("message") or error.get("__type") or "unknown error")
            cls = error_class(response.status_code, error)
            raise cls(response.status_code, message, response.text[:65536], action=action, url=response.url,
                      error=error)
        if "result" not in body:
            raise exc.BadApiError("the answer has no 'result' field", action=action, url=response.url,
                                  status_code=response.status_code)
        return body["result"]

    def check_token(self) -> None:
        """Raise :class:`~ckan_api_client.exceptions.InvalidToken` when the server does not know the token.

        CKAN treats a token it does not recognise as no token at all: every read then quietly
        answers what an anonymous visitor may see (a backup without the private datasets). So a
        token is checked once, before bulk work: ``am_following_user`` lets everybody through its
        auth check and then refuses a caller who is not a logged-in user, and ``user_list`` names a
        user to ask it about (it refuses anonymous callers itself where user details are private).
        Two reads, once per client; nothing to do without a token.
        """
        if self._token_checked or self.transport.api_key is None:
            return
        try:
            users = self.call_action("user_list", {"all_fields": False, "order_by": "created"})
            if not isinstance(users, list) or not users:
                raise exc.NotAuthorized(403, "user_list answered no user", action="user_list")
            first = users[0]
            ref = (first.get("id") or first.get("name")) if isinstance(first, Mapping) else first
            self.call_action("am_following_user", {"id": str(ref)}, method="GET")
        except exc.NotAuthorized:
            raise exc.InvalidToken(
                f"the API token is not valid on {self.transport.base_url}: CKAN does not recognise it (expired, "
                "revoked, or from another site) and would answer as to an anonymous visitor") from None
        self._token_checked = True

    @property
    def capabilities(self) -> Capabilities:
        """The site's CKAN version and extensions, read from ``status_show`` once."""
        if self._capabilities is None:
            with self._capabilities_lock:
                if self._capabilities is None:
                    status = self.call_action("status_show", method="GET")
                    if not isinstance(status, dict) or not isinstance(status.get("ckan_version"), str):
                        raise exc.BadApiError("status_show did not give a ckan_version", action="status_show")
                    extensions = status.get("extensions") or []
                    self._capabilities = Capabilities(status["ckan_version"], frozenset(map(str, extensions)))
        return self._capabilities
