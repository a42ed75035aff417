"""Action API requests, described before anything is sent: which action, GET or POST, a JSON body or
query parameters or a multipart form, and whether the request may be repeated."""

from __future__ import annotations

import json
import mimetypes
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Mapping, Sequence, Union

from .. import exceptions as exc

ACTION_PREFIX = "/api/3/action/"
ACTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_READ_SUFFIXES = ("_show", "_list", "_search", "_search_sql", "_autocomplete", "_count", "_info",
                  "_list_for_user", "_activity_list", "_followee_list", "_follower_list")
_READ_PREFIXES = ("am_following_", "help_show", "status_show")
_MAY_ANSWER_NULL = frozenset({"help_show"})
"""Read-only actions whose ``result`` may legitimately be null (help_show of an undocumented action)."""
_WRITES_THAT_ANSWER = ("_create", "_update", "_patch", "_revise", "_upsert")
"""Writes that always answer what they wrote (a delete or a purge answers null)."""



def is_read_only(action: str) -> bool:
    """True for actions that change nothing (``*_show``, ``*_list``, ``*_search``, ...): safe to retry."""
    return action.endswith(_READ_SUFFIXES) or action.startswith(_READ_PREFIXES)


def always_answers(action: str) -> bool:
    """True when the action's ``result`` is never null: reads (but help_show) and creates, updates, patches."""
    if action in _MAY_ANSWER_NULL:
        return False
    return is_read_only(action) or action.endswith(_WRITES_THAT_ANSWER)


def form_value(key: str, value: Any) -> str:
    """A field of a multipart form as text; nested values cannot be sent that way."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    raise exc.InvalidInput(
        f"field {key!r} is a {type(value).__name__}: a multipart upload carries only plain values; "
        "send nested fields in a separate call")


def json_text(what: str, value: Any) -> str:
    """``value`` as JSON text; [`InvalidInput`][ckan_api_client.exceptions.InvalidInput] naming ``what`` when it
    holds something JSON cannot carry (a set, bytes, an object, a reference cycle). NaN goes as ``NaN``, which
    CKAN's Python reads (a DataStore numeric column takes it)."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as error:
        raise exc.InvalidInput(f"{what} cannot be sent as JSON: {error}") from None


def query_params(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``data`` as query parameters for a GET action (lists repeated, nested values as JSON)."""
    params: list[tuple[str, str]] = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
            params.extend((key, str(v)) for v in value)
        elif isinstance(value, (dict, list, tuple)):
            params.append((key, json_text(f"field {key!r}", value)))
        elif isinstance(value, bool):
            params.append((key, "true" if value else "false"))
        else:
            params.append((key, str(value)))
    return params


@dataclass(frozen=True)
class ActionCall:
    """One Action API request, ready for a shell to send."""

    action: str
    method: str
    path: str
    params: Sequence[tuple[str, str]] = ()
    body: bytes | None = None
    """The JSON body of a POST without files (a multipart body is built by the shell)."""
    fields: Mapping[str, Any] | None = None
    """The plain fields of a multipart POST."""
    idempotent: bool = False
    """May be sent again after it may have reached the server."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json"} if self.body is not None else {}


def build_action_call(name: str, data: Mapping[str, Any] | None, *, method: str = "POST", multipart: bool = False,
                      read_only: bool | None = None) -> ActionCall:
    """Validate and describe a call of the action ``name``; [`InvalidInput`][ckan_api_client.exceptions.InvalidInput] before anything is sent."""
    if not isinstance(name, str) or not ACTION_NAME.match(name):
        raise exc.InvalidInput(f"{name!r} is not an action name")
    if data is not None and not isinstance(data, Mapping):
        raise exc.InvalidInput(f"the data for {name} must be a dict, not {type(data).__name__}")
    method = method.upper()
    if method not in ("GET", "POST"):
        raise exc.InvalidInput(f"actions are called with GET or POST, not {method}")
    payload = dict(data or {})
    idempotent = is_read_only(name) if read_only is None else read_only
    path = f"{ACTION_PREFIX}{name}"
    if multipart:
        if method != "POST":
            raise exc.InvalidInput("file uploads are sent with POST")
        fields = {k: form_value(k, v) for k, v in payload.items() if v is not None}
        return ActionCall(name, method, path, fields=fields, idempotent=idempotent)
    if method == "GET":
        return ActionCall(name, method, path, params=query_params(payload), idempotent=idempotent)
    return ActionCall(name, method, path, body=json_text(f"the data for {name}", payload).encode("utf-8"),
                      idempotent=idempotent)


@dataclass(frozen=True)
class RawRequest:
    """A request of the original client's ``request(method, path, data=...)``, described."""

    headers: dict[str, str]
    body: Any
    """bytes for a serialized body, else what was given (a form dict with files, a file, None)."""
    action: str | None
    idempotent: bool


def describe_raw_request(method: str, path: Any, data: Any, headers: Mapping[str, str] | None,
                         with_files: bool) -> RawRequest:
    """A non-string ``data`` goes as JSON (unless files make it a form); an action path tells the
    action, and whether the request may be repeated."""
    if not isinstance(path, str):
        raise exc.InvalidInput("path must be a string")
    sent_headers = dict(headers or {})
    if data is not None and not with_files and not isinstance(data, (str, bytes, bytearray)) \
            and not hasattr(data, "read"):
        data = json_text(f"the data for {path}", data).encode("utf-8")
        sent_headers["Content-Type"] = "application/json"
    if isinstance(data, str):
        data = data.encode("utf-8")
    action = None
    if path.startswith(ACTION_PREFIX):
        action = path[len(ACTION_PREFIX):].split("?")[0].strip("/") or None
    idempotent = method.upper() in ("GET", "HEAD", "OPTIONS") or (action is not None and is_read_only(action))
    return RawRequest(sent_headers, data, action, idempotent)




# ---------------------------------------------------------------- uploads

UploadFile = Union[str, "os.PathLike[str]", IO[bytes], tuple[str, IO[bytes]], tuple[str, IO[bytes], str]]
"""A file to upload: a path, a binary file object, or (filename, fileobj[, content type])."""


class UploadParts:
    """The parts of a multipart upload, for every attempt: the plain fields, and each file rewound to
    where it started (a file that cannot be rewound makes the upload unrepeatable). Each shell turns
    them into its HTTP library's streaming body."""

    def __init__(self, fields: Mapping[str, str], files: Mapping[str, UploadFile]) -> None:
        self.fields: list[tuple[str, str]] = list(fields.items())
        self._opened: list[IO[bytes]] = []
        self.files: list[tuple[str, str, IO[bytes], str, int | None]] = []
        self.rewindable = True
        for field_name, spec in files.items():
            filename, fileobj, content_type = self._open(field_name, spec)
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

    def _open(self, field_name: str, spec: UploadFile) -> tuple[str, IO[bytes], str]:
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
        return filename, fileobj, content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"

    def rewound_files(self) -> list[tuple[str, tuple[str, IO[bytes], str]]]:
        """The files as (field, (filename, fileobj, content type)), each back at its start, for one attempt."""
        parts = []
        for field_name, filename, fileobj, content_type, position in self.files:
            if position is not None:
                fileobj.seek(position)
            parts.append((field_name, (filename, fileobj, content_type)))
        return parts

    def close(self) -> None:
        for fileobj in self._opened:
            fileobj.close()
