"""Actions: one ``call_action`` for every CKAN Action API call, and what the server can do.

:class:`ActionClient` turns ``call_action("package_show", {"id": "x"})`` into a request through
the :class:`~ckan_api_client.transport.Transport`, unwraps CKAN's ``{"success": ..., "result":
...}`` envelope, and raises a typed error for anything else. Plugin actions (DataStore, scheming,
harvest, ...) need nothing special. What to send and what an answer means is decided in
:mod:`ckan_api_client.core`; this layer adds file uploads streamed from disk.
"""

from __future__ import annotations

import mimetypes
import os
import uuid
from pathlib import Path
from typing import IO, Any, Callable, Mapping, Union

import requests
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor

from . import exceptions as exc
from .core import NO_RETRY, Capabilities, RetryPolicy, build_action_call, decode_answer, is_read_only
from .transport import Transport

__all__ = ["ActionClient", "Capabilities", "is_read_only", "UploadFile"]

UploadFile = Union[str, "os.PathLike[str]", IO[bytes], tuple[str, IO[bytes]], tuple[str, IO[bytes], str]]
"""A file to upload: a path, a binary file object, or (filename, fileobj[, content type])."""


class _Upload:
    """Builds a fresh streaming multipart body for each attempt, rewinding the files."""

    def __init__(self, fields: Mapping[str, str], files: Mapping[str, UploadFile]) -> None:
        self.fields: list[tuple[str, Any]] = list(fields.items())
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

    def rewound_files(self) -> list[tuple[str, tuple[str, IO[bytes], str]]]:
        """The files as (field, (filename, fileobj, content type)), each back at its start, for one attempt."""
        parts = []
        for field_name, filename, fileobj, content_type, position in self.files:
            if position is not None:
                fileobj.seek(position)
            parts.append((field_name, (filename, fileobj, content_type)))
        return parts

    def __call__(self) -> MultipartEncoder:
        parts: list[tuple[str, Any]] = [*self.fields, *self.rewound_files()]
        return MultipartEncoder(fields=parts, boundary=self.boundary)

    def close(self) -> None:
        for fileobj in self._opened:
            fileobj.close()


class ActionClient:
    """Calls CKAN actions over a :class:`Transport`; knows the site's capabilities."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

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
        call = build_action_call(name, data, method=method, multipart=bool(files), read_only=read_only)
        kwargs: dict[str, Any] = {"action": name, "idempotent": call.idempotent, "retry": retry, "timeout": timeout,
                                  "headers": call.headers}
        upload = None
        if files:
            upload = _Upload(call.fields or {}, files)
            if not upload.rewindable and not call.idempotent:
                kwargs["retry"] = NO_RETRY

            def body() -> Any:
                encoder = upload()
                if progress is None:
                    return encoder
                return MultipartEncoderMonitor(encoder, lambda m: progress(m.bytes_read))

            kwargs["body_factory"] = body
            kwargs["headers"] = {"Content-Type": upload.content_type}
        elif call.method == "GET":
            kwargs["params"] = call.params
        else:
            kwargs["data"] = call.body

        def accept(response: requests.Response) -> Any:
            return decode_answer(response.status_code, response.content, action=name, url=response.url)

        try:
            return self.transport.exchange(call.method, call.path, accept, **kwargs)
        finally:
            if upload is not None:
                upload.close()
