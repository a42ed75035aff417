"""Resource files: streamed downloads that are checked, atomic and resumable; safe local names.

:func:`download_resource` fetches a resource's file in chunks (constant memory), with the client's
token only when the file is on the client's own host, checks the status, refuses an HTML page
where a file was expected (the classic "login page saved as data.csv"), verifies the size and
hash the resource declares, writes to a temporary file renamed into place only when complete, and
continues a partial download where the server supports ranges.

:func:`upload_resource` and :func:`replace_resource_file` stream a file from disk as a multipart
body (constant memory, with a progress callback).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Mapping
from urllib.parse import unquote, urlsplit

from .actions import UploadFile
from .exceptions import DestinationExists, DownloadError, InvalidInput
from .low_level import CkanLowlevelClient, _expect_dict
from .streams import is_regular_target, is_stdio

__all__ = ["download_resource", "upload_resource", "replace_resource_file", "DownloadResult", "safe_filename",
           "resource_path"]

CHUNK = 1 << 20
_HASHES = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
_UUID = re.compile(r"^[0-9a-fA-F-]{8,64}$")


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    sha256: str
    skipped: bool = False
    """True when the file was already there, complete, and nothing was fetched."""


def safe_filename(name: str, fallback: str = "file") -> str:
    """A file name that is only a name: no folders, no ``..``, no control characters, at most 120 chars."""
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(c if (c.isalnum() or c in "._-") else "_" for c in name)
    name = name.lstrip(".")[:120]
    return name or fallback


def resource_path(folder: str | Path, resource: Mapping[str, Any]) -> Path:
    """Where a resource's file goes inside ``folder``: ``<resource id>/<file name>``, never outside it."""
    root = Path(folder).resolve()
    resource_id = str(resource.get("id") or "")
    if not _UUID.match(resource_id):
        resource_id = hashlib.sha256(resource_id.encode()).hexdigest()[:32]
    url_name = unquote(urlsplit(str(resource.get("url") or "")).path)
    path = (root / resource_id / safe_filename(url_name or str(resource.get("name") or ""))).resolve()
    if not path.is_relative_to(root):
        raise InvalidInput(f"refusing to write outside {root}: {path}")
    return path


def _declared_hash(resource: Mapping[str, Any]) -> tuple[str, str] | None:
    value = resource.get("hash")
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip().lower()
    if ":" in value:
        algorithm, _, digest = value.partition(":")
        algorithm = algorithm.replace("-", "")
        if algorithm in hashlib.algorithms_available and re.fullmatch(r"[0-9a-f]+", digest):
            return algorithm, digest
        return None
    if re.fullmatch(r"[0-9a-f]+", value) and len(value) in _HASHES:
        return _HASHES[len(value)], value
    return None


def _declared_size(resource: Mapping[str, Any]) -> int | None:
    size = resource.get("size")
    try:
        number = int(size) if size not in (None, "") else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and number > 0 else None


def _expects_html(resource: Mapping[str, Any]) -> bool:
    text = " ".join(str(resource.get(k) or "") for k in ("format", "mimetype", "url")).lower()
    return "html" in text or text.endswith(".htm")


class _Digests:
    """sha256 of the bytes fed, and the resource's declared algorithm too when it is another one."""

    def __init__(self, algorithm: str | None) -> None:
        self.sha256 = hashlib.sha256()
        self.other = hashlib.new(algorithm) if algorithm and algorithm != "sha256" else None

    def update(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        if self.other is not None:
            self.other.update(chunk)

    def update_from(self, path: Path) -> None:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                self.update(chunk)

    def result(self) -> tuple[str, str | None]:
        return self.sha256.hexdigest(), (self.other.hexdigest() if self.other is not None else None)


def _file_digests(path: Path, algorithm: str | None) -> tuple[str, str | None]:
    digests = _Digests(algorithm)
    digests.update_from(path)
    return digests.result()


def download_resource(client: CkanLowlevelClient, resource: Mapping[str, Any] | Any, dest: str | Path, *,
                      overwrite: bool = False, verify: bool = True,
                      progress: Callable[[int], None] | None = None) -> DownloadResult:
    """Download a resource's file to ``dest`` (a file path); see the module documentation.

    An existing complete file (same size and declared hash) is kept and reported as skipped;
    a different existing file is only replaced with ``overwrite``.
    """
    data = resource.to_api() if hasattr(resource, "to_api") else resource
    if not isinstance(data, Mapping):
        raise InvalidInput("resource must be a dict or a Resource")
    url = data.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidInput(f"resource {data.get('id')} has no http(s) URL to download: {url!r}")
    declared = _declared_hash(data) if verify else None
    size = _declared_size(data) if verify else None
    if not is_regular_target(dest):
        return _download_through(client, data, url, dest, declared, size, progress)
    dest = Path(dest)
    if dest.exists():
        digest, other = _file_digests(dest, declared[0] if declared else None)
        complete = (size is None or dest.stat().st_size == size) and \
            (declared is None or (other or digest) == declared[1])
        if complete and (size is not None or declared is not None or not overwrite):
            return DownloadResult(dest, dest.stat().st_size, digest, skipped=True)
        if not overwrite:
            raise DestinationExists(f"{dest} exists and differs from the resource (not replaced unless asked)",
                                    str(dest))
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    made_folder = not dest.parent.exists()
    try:
        response = client.transport.request("GET", url, headers=headers, stream=True, idempotent=True,
                                            action="download")
    except BaseException:
        _remove_if_empty(dest.parent, made_folder)
        raise
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        if offset and response.status_code != 206:
            offset = 0  # the server sent the whole file again: start over
        digests = _Digests(declared[0] if declared else None)  # hashed as it arrives: the file is read once
        if offset:
            digests.update_from(part)
        with open(part, "ab" if offset else "wb") as out:
            written = _copy_body(response, out, data, url, digests, offset, progress)
        failure = _incomplete(url, written, digests, size, declared)
        if failure is not None:
            raise DownloadError(failure)
    except DownloadError:
        part.unlink(missing_ok=True)
        _remove_if_empty(dest.parent, made_folder)
        raise
    finally:
        response.close()
    os.replace(part, dest)
    return DownloadResult(dest, written, digests.result()[0])


def _download_through(client: CkanLowlevelClient, data: Mapping[str, Any], url: str, dest: str | Path,
                      declared: tuple[str, str] | None, size: int | None,
                      progress: Callable[[int], None] | None) -> DownloadResult:
    """Stream a file straight into stdout (``-``) or a special file: no ``.part``, no rename, no resume.
    The checks still run; a file that fails them raises after its bytes went out."""
    response = client.transport.request("GET", url, stream=True, idempotent=True, action="download")
    digests = _Digests(declared[0] if declared else None)
    try:
        sink: IO[bytes] = sys.stdout.buffer if is_stdio(dest) else open(dest, "wb")
        try:
            written = _copy_body(response, sink, data, url, digests, 0, progress)
        finally:
            if sink is sys.stdout.buffer:
                sink.flush()
            else:
                sink.close()
    finally:
        response.close()
    failure = _incomplete(url, written, digests, size, declared)
    if failure is not None:
        raise DownloadError(f"{failure} (the bytes were already written to {dest})")
    return DownloadResult(Path(dest), written, digests.result()[0])


def _copy_body(response: Any, out: IO[bytes], data: Mapping[str, Any], url: str, digests: _Digests,
               offset: int, progress: Callable[[int], None] | None) -> int:
    """Copy a streamed body into ``out``, hashing as it goes; refuse an HTML page where a file was meant."""
    content_type = response.headers.get("Content-Type", "").lower()
    first = True
    written = offset
    for chunk in response.iter_content(chunk_size=CHUNK):
        if first and not offset and not _expects_html(data):
            head = chunk[:512].lstrip().lower()
            if "text/html" in content_type or head.startswith((b"<!doctype html", b"<html")):
                raise DownloadError(
                    f"{url} answered an HTML page where a {data.get('format') or 'data'} file was expected "
                    "(a login or error page?)")
        first = False
        out.write(chunk)
        digests.update(chunk)
        written += len(chunk)
        if progress is not None:
            progress(written)
    return written


def _incomplete(url: str, written: int, digests: _Digests, size: int | None,
                declared: tuple[str, str] | None) -> str | None:
    """Why the file received is not the resource's file (None when it is, as far as it declares)."""
    digest, other = digests.result()
    if size is not None and written != size:
        return f"{url}: got {written} bytes, the resource declares {size}"
    if declared is not None and (other or digest) != declared[1]:
        return f"{url}: the {declared[0]} of the file does not match the resource's hash"
    return None


def _remove_if_empty(folder: Path, made_here: bool) -> None:
    """Leave no empty folder behind a download that failed (only one this download made)."""
    if made_here:
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty, or already gone


def upload_resource(client: CkanLowlevelClient, dataset: str | Mapping[str, Any], file: UploadFile, *,
                    progress: Callable[[int], None] | None = None, **fields: Any) -> dict[str, Any]:
    """Create a resource in ``dataset`` (id, name or dict) with ``file`` as its data.

    The file is streamed from disk as a multipart body. A multipart form carries only plain
    values, so when ``fields`` has nested ones (lists, dicts) they are sent as JSON in a first
    call and the file in a second, as CKAN requires.
    """
    dataset_ref = dataset.get("id") or dataset.get("name") if isinstance(dataset, Mapping) else dataset
    if not isinstance(dataset_ref, str) or not dataset_ref:
        raise InvalidInput("upload_resource needs a dataset id or name")
    fields = {k: v for k, v in fields.items() if k not in ("id", "package_id")}
    nested = {k: v for k, v in fields.items() if isinstance(v, (list, dict, tuple))}
    plain = {k: v for k, v in fields.items() if k not in nested and v is not None}
    if not nested:
        result = client.call_action("resource_create", {"package_id": dataset_ref, "url": "", **plain},
                                    files={"upload": file}, progress=progress)
        return _expect_dict(result, "resource_create")
    created = _expect_dict(client.call_action("resource_create", {"package_id": dataset_ref, "url": "",
                                                                  **plain, **nested}), "resource_create")
    return replace_resource_file(client, created["id"], file, progress=progress)


def replace_resource_file(client: CkanLowlevelClient, resource_id: str, file: UploadFile, *,
                          progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Upload ``file`` as the new data of an existing resource (its other fields stay)."""
    result = client.call_action("resource_patch", {"id": resource_id}, files={"upload": file}, progress=progress)
    return _expect_dict(result, "resource_patch")
