"""Downloads on the blocking transport: a resource's file streamed to disk (or stdout) through the
decisions of [`ResumableDownload`][ckan_api_client.core.files.ResumableDownload]."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO, Any, Callable, Mapping

from ..core.files import BodySink, Digests, DownloadResult, download_facts, incomplete, prepared_download
from ..core.streams import is_regular_target, is_stdio
from ..exceptions import DownloadError, TransportError
from .transport import Transport

__all__ = ["download"]


def download(transport: Transport, resource: Mapping[str, Any] | Any, dest: str | Path, *, overwrite: bool = False,
             verify: bool = True, progress: Callable[[int], None] | None = None) -> DownloadResult:
    """Download a resource's file to ``dest``; see ``CkanLowlevelClient.download_resource``."""
    if not is_regular_target(dest):
        return _download_through(transport, *download_facts(resource, verify), dest, progress)
    job = prepared_download(resource, Path(dest), overwrite, verify, progress)
    if isinstance(job, DownloadResult):
        return job
    while True:
        try:
            response = transport.request("GET", job.url, headers=job.range_headers(), stream=True, idempotent=True,
                                         action="download")
        except BaseException:
            job.not_started()
            raise
        try:
            sink = job.begin(response.status_code, response.headers)
            for chunk in transport.stream_body(response, "download"):
                sink.take(chunk)
            return job.finish()
        except DownloadError:
            job.abandon()
            raise
        except TransportError as cut:
            time.sleep(job.after_cut(cut, transport.retry, transport.stats))
        finally:
            job.close()
            response.close()


def _download_through(transport: Transport, data: Mapping[str, Any], url: str, declared: tuple[str, str] | None,
                      size: int | None, dest: str | Path, progress: Callable[[int], None] | None) -> DownloadResult:
    """Stream a file straight into stdout (``-``) or a special file: no ``.part``, no rename, no resume.
    The checks still run; a file that fails them raises after its bytes went out."""
    response = transport.request("GET", url, stream=True, idempotent=True, action="download")
    digests = Digests(declared[0] if declared else None)
    try:
        out: IO[bytes] = sys.stdout.buffer if is_stdio(dest) else open(dest, "wb")
        try:
            sink = BodySink(out, data, url, digests, 0, response.headers.get("Content-Type", ""), progress)
            for chunk in transport.stream_body(response, "download"):
                sink.take(chunk)
        finally:
            if out is sys.stdout.buffer:
                out.flush()
            else:
                out.close()
    finally:
        response.close()
    failure = incomplete(url, sink.written, digests, size, declared)
    if failure is not None:
        raise DownloadError(f"{failure} (the bytes were already written to {dest})")
    return DownloadResult(Path(dest), sink.written, digests.result()[0])
