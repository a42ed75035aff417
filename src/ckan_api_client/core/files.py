"""Resource files, without network I/O: where a download goes and how it is checked.

[`ResumableDownload`][ckan_api_client.core.files.ResumableDownload] is one download's decisions: what range to ask for, where the bytes go
(``NAME.part``, renamed into place only when complete), whether a cut body is continued, when the
file is done; [`BodySink`][ckan_api_client.core.files.BodySink] writes, hashes and counts a body and refuses an HTML page where a
file was expected (the classic "login page saved as data.csv"); the size and hash the resource
declares are checked. The blocking and the async client drive it the same way.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Mapping
from urllib.parse import unquote, urlsplit

from ..exceptions import DestinationExists, DownloadError, InvalidInput, TransportError
from .options import RetryPolicy
from .retry import retry_delay

__all__ = ["DownloadResult", "safe_filename", "resource_path", "ResumableDownload", "BodySink", "Digests",
           "prepared_download", "download_facts", "incomplete"]

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


class Digests:
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
    digests = Digests(algorithm)
    digests.update_from(path)
    return digests.result()


def download_facts(resource: Mapping[str, Any] | Any, verify: bool
                   ) -> tuple[Mapping[str, Any], str, tuple[str, str] | None, int | None]:
    """The resource as a dict, its URL, and (when verifying) the hash and size it declares."""
    data = resource.to_api() if hasattr(resource, "to_api") else resource
    if not isinstance(data, Mapping):
        raise InvalidInput("resource must be a dict or a Resource")
    url = data.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidInput(f"resource {data.get('id')} has no http(s) URL to download: {url!r}")
    return data, url, (_declared_hash(data) if verify else None), (_declared_size(data) if verify else None)


def kept_file(dest: Path, declared: tuple[str, str] | None, size: int | None, overwrite: bool
              ) -> DownloadResult | None:
    """An existing complete file at ``dest`` (reported as skipped), None when there is none or it
    is to be replaced; [`DestinationExists`][ckan_api_client.exceptions.DestinationExists] for a different file without ``overwrite``."""
    if not dest.exists():
        return None
    digest, other = _file_digests(dest, declared[0] if declared else None)
    complete = (size is None or dest.stat().st_size == size) and (declared is None or (other or digest) == declared[1])
    if complete and (size is not None or declared is not None or not overwrite):
        return DownloadResult(dest, dest.stat().st_size, digest, skipped=True)
    if not overwrite:
        raise DestinationExists(f"{dest} exists and differs from the resource (not replaced unless asked)", str(dest))
    return None



def prepared_download(resource: Mapping[str, Any] | Any, dest: Path, overwrite: bool, verify: bool,
                      progress: Callable[[int], None] | None) -> DownloadResult | ResumableDownload:
    """The complete file already at ``dest`` (skipped), or the download to drive."""
    data, url, declared, size = download_facts(resource, verify)
    kept = kept_file(dest, declared, size, overwrite)
    return kept if kept is not None else ResumableDownload(data, url, dest, declared, size, progress)


class ResumableDownload:
    """One download into a regular file through ``NAME.part``, the decisions without the I/O: what
    range to ask for, where the bytes go, whether a cut is continued, when the file is done. The
    sync and the async download drive it the same way.

    A body cut off is continued with ``Range`` from where it stopped, as often as the retry policy
    allows; when it gives up, the ``.part`` file stays for a later call to resume."""

    def __init__(self, data: Mapping[str, Any], url: str, dest: Path, declared: tuple[str, str] | None,
                 size: int | None, progress: Callable[[int], None] | None) -> None:
        self.data, self.url, self.dest, self.declared, self.size, self.progress = data, url, dest, declared, size, progress
        self.part = dest.with_name(dest.name + ".part")
        self.made_folder = not dest.parent.exists()
        self.algorithm = declared[0] if declared else None
        self.digests = Digests(self.algorithm)  # hashed as it arrives: the file is read once
        self.hashed = 0
        self.offset = 0
        self.cuts = 0
        self._out: IO[bytes] | None = None
        self._sink: BodySink | None = None

    def range_headers(self) -> dict[str, str]:
        self.offset = self.part.stat().st_size if self.part.exists() else 0
        return {"Range": f"bytes={self.offset}-"} if self.offset else {}

    def begin(self, status: int, headers: Mapping[str, str]) -> BodySink:
        """Where the body of an ok answer goes: appended to the ``.part`` when the answer continues it."""
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        offset = self.offset
        if offset and not continues_at(status, headers, offset):
            offset = 0  # the server sent the whole file again (or another range): start over
        if offset != self.hashed:  # a .part from an earlier call, or a restart: hash what is kept
            self.digests, self.hashed = Digests(self.algorithm), 0
            if offset:
                self.digests.update_from(self.part)
        self._out = open(self.part, "ab" if offset else "wb")
        self._sink = BodySink(self._out, self.data, self.url, self.digests, offset, headers.get("Content-Type", ""),
                              self.progress)
        return self._sink

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def finish(self) -> DownloadResult:
        """The body ended: check it against what the resource declares, and put the file in place."""
        self.close()
        assert self._sink is not None
        failure = incomplete(self.url, self._sink.written, self.digests, self.size, self.declared)
        if failure is not None:
            raise DownloadError(failure)
        os.replace(self.part, self.dest)
        return DownloadResult(self.dest, self._sink.written, self.digests.result()[0])

    def after_cut(self, cut: TransportError, policy: RetryPolicy, stats: Any) -> float:
        """Seconds to wait before continuing a cut body; ``cut`` raised again when the policy gives up."""
        self.close()
        self.cuts += 1
        self.hashed = self.part.stat().st_size if self.part.exists() else 0
        delay = retry_delay(cut, attempt=self.cuts, idempotent=True, policy=policy)
        if delay is None:
            raise cut
        stats.count_retry("a download cut short")
        return delay

    def not_started(self) -> None:
        """No answer came at all: leave no empty folder behind."""
        remove_if_empty(self.dest.parent, self.made_folder)

    def abandon(self) -> None:
        """What came is not the file: remove it (and a folder made for it)."""
        self.close()
        self.part.unlink(missing_ok=True)
        remove_if_empty(self.dest.parent, self.made_folder)


def continues_at(status: int, headers: Mapping[str, str], offset: int) -> bool:
    """True when a ranged answer carries the file from ``offset`` on."""
    content_range = headers.get("Content-Range", "")
    return status == 206 and content_range.replace(" ", "").startswith(f"bytes{offset}-")



class BodySink:
    """Where a downloaded body goes, chunk by chunk: written, hashed, counted, and an HTML page
    refused where a file was meant (the classic "login page saved as data.csv"). The sync and the
    async download feed it the same way."""

    def __init__(self, out: IO[bytes], data: Mapping[str, Any], url: str, digests: Digests, offset: int,
                 content_type: str, progress: Callable[[int], None] | None) -> None:
        self.out, self.data, self.url, self.digests = out, data, url, digests
        self.written = offset
        self._check_html = not offset and not _expects_html(data)
        self._content_type = content_type.lower()
        self.progress = progress

    def take(self, chunk: bytes) -> None:
        if self._check_html:
            self._check_html = False
            head = chunk[:512].lstrip().lower()
            if "text/html" in self._content_type or head.startswith((b"<!doctype html", b"<html")):
                raise DownloadError(
                    f"{self.url} answered an HTML page where a {self.data.get('format') or 'data'} file was "
                    "expected (a login or error page?)")
        self.out.write(chunk)
        self.digests.update(chunk)
        self.written += len(chunk)
        if self.progress is not None:
            self.progress(self.written)



def incomplete(url: str, written: int, digests: Digests, size: int | None,
                declared: tuple[str, str] | None) -> str | None:
    """Why the file received is not the resource's file (None when it is, as far as it declares)."""
    digest, other = digests.result()
    if size is not None and written != size:
        return f"{url}: got {written} bytes, the resource declares {size}"
    if declared is not None and (other or digest) != declared[1]:
        return f"{url}: the {declared[0]} of the file does not match the resource's hash"
    return None


def remove_if_empty(folder: Path, made_here: bool) -> None:
    """Leave no empty folder behind a download that failed (only one this download made)."""
    if made_here:
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty, or already gone


