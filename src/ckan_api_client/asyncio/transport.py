"""The async transport: the httpx shell around the same core as the blocking one.

The stages and decisions are those of [`Transport`][ckan_api_client.blocking.transport.Transport] (send →
status → read or stream → accept; the retry decision after a failed attempt), all taken from
[`ckan_api_client.core`][ckan_api_client.core]; only the waiting is different. Adds a concurrency limit
(``options.concurrency`` requests in flight, the connection pool the same size).
"""

from __future__ import annotations

import asyncio
import functools
import http.cookiejar
import logging
import os
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from .. import exceptions as exc
from ..core.answers import decode_answer, refuse_oversized, unreachable, why_unreachable
from ..core.calls import ActionCall, UploadFile, UploadParts
from ..core.exchange import (REDIRECT_STATUSES, BaseTransport, ErrorBody, TransportStats, body_cut, next_hop,
                             past_deadline, read_bounded, redirect_refused)
from ..core.options import DEFAULT, NO_RETRY, ClientOptions, RetryPolicy, scrub

__all__ = ["AsyncTransport"]

logger = logging.getLogger("ckan_api_client")

T = TypeVar("T")


def _httpx_verify(verify: bool | str) -> ssl.SSLContext:
    """httpx wants the certificates as an SSL context; one per setting and process, because building one
    (reading the CA bundle) costs 20-100 ms of CPU: once per client would dominate a short job."""
    return _ssl_context(verify, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=16)
def _ssl_context(verify: bool | str, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """The context for ``verify`` (a CA bundle file or folder, True, or False), as httpx builds it; the
    environment's ``SSL_CERT_FILE``/``SSL_CERT_DIR`` are part of the key, so a change is seen."""
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return httpx.create_ssl_context(verify=verify)


def _httpx_timeout(timeout: Any) -> httpx.Timeout:
    if isinstance(timeout, tuple):
        connect, read = timeout
        return httpx.Timeout(read, connect=connect)
    return httpx.Timeout(timeout)


class _CountingReader:
    """A file as httpx reads it for a multipart body, reporting the bytes read so far."""

    def __init__(self, fileobj: Any, sent: list[int], progress: Callable[[int], None]) -> None:
        self.fileobj, self.sent, self.progress = fileobj, sent, progress

    def read(self, size: int = -1) -> bytes:
        chunk: bytes = self.fileobj.read(size)
        self.sent[0] += len(chunk)
        self.progress(self.sent[0])
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fileobj, name)


class AsyncTransport(BaseTransport):
    """One httpx ``AsyncClient`` to one CKAN site, with the options of one [`ClientOptions`][ckan_api_client.core.options.ClientOptions]."""

    def __init__(self, base_url: str, options: ClientOptions | None = None, *,
                 client: httpx.AsyncClient | None = None, stats: TransportStats | None = None) -> None:
        super().__init__(base_url, options, f"httpx/{httpx.__version__}", stats=stats)
        pool = self.options.pool_size
        # Keep no cookies: CKAN's API authenticates by token (see the blocking transport).
        jar = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self.client = client or httpx.AsyncClient(
            verify=_httpx_verify(self.options.verify), timeout=_httpx_timeout(self.options.timeout),
            follow_redirects=False, limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
            cookies=jar)
        self._in_flight = asyncio.Semaphore(self.options.concurrency)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def call_action(self, call: ActionCall, *, files: Mapping[str, UploadFile] | None = None,
                          progress: Callable[[int], None] | None = None, retry: RetryPolicy | None = None,
                          timeout: Any = DEFAULT) -> Any:
        """Send one action call and return its ``result`` (see the blocking transport's ``call_action``)."""
        kwargs: dict[str, Any] = {"action": call.action, "idempotent": call.idempotent, "headers": call.headers,
                                  "retry": retry, "timeout": timeout}
        upload = UploadParts(call.fields or {}, files) if files else None
        if upload is not None:
            if not upload.rewindable and not call.idempotent:
                kwargs["retry"] = NO_RETRY
            kwargs["headers"] = {}

            def body() -> dict[str, Any]:
                parts = upload.rewound_files()
                if progress is not None:
                    sent = [0]
                    parts = [(field, (name, _CountingReader(fileobj, sent, progress), kind))  # type: ignore[misc]
                             for field, (name, fileobj, kind) in parts]
                return {"data": dict(upload.fields), "files": parts}

            kwargs["body_factory"] = body
        elif call.method == "GET":
            kwargs["params"] = call.params
        else:
            kwargs["content"] = call.body

        async def accept(response: httpx.Response) -> Any:
            return decode_answer(response.status_code, response.content, action=call.action, url=str(response.url))

        try:
            return await self.exchange(call.method, call.path, accept, **kwargs)
        finally:
            if upload is not None:
                upload.close()

    async def request(self, method: str, path: str, *, stream: bool = False, **options: Any) -> httpx.Response:
        """The ok response (body read unless ``stream``: then close it, e.g. with ``aclose()``)."""
        async def same(response: httpx.Response) -> httpx.Response:
            return response
        return await self.exchange(method, path, same, stream=stream, **options)

    async def exchange(self, method: str, path: str, accept: Callable[[httpx.Response], Awaitable[T]], *,
                       action: str | None = None, idempotent: bool | None = None,
                       headers: Mapping[str, str] | None = None, params: Sequence[tuple[str, str]] | None = None,
                       content: bytes | None = None, body_factory: Callable[[], dict[str, Any]] | None = None,
                       stream: bool = False, retry: RetryPolicy | None = None, timeout: Any = DEFAULT,
                       deadline: Any = DEFAULT) -> T:
        """Send until ``accept`` takes an ok answer or the policy gives up (see ``Transport.exchange``).
        ``body_factory`` gives httpx's ``data``/``files`` afresh for each attempt (uploads)."""
        plan = self.plan(method, path, idempotent=idempotent, headers=headers, retry=retry, timeout=timeout,
                         deadline=deadline)
        send_timeout = _httpx_timeout(plan.timeout)
        attempt = 0
        while True:
            attempt += 1
            body = body_factory() if body_factory is not None else {"content": content}
            wait = self.slot(action)
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                async with self._in_flight:
                    response = await self._send(plan.method, plan.url, plan.headers, list(params or []) or None, body,
                                                send_timeout, action)
                    await self._check_status(response, plan.method, action)
                    if not stream:
                        await self._read(response, action, plan.deadline_at)
                return await accept(response)
            except exc.CkanError as failure:
                await asyncio.sleep(self.after_failure(plan, failure, attempt, action))

    async def _send(self, method: str, url: str, headers: dict[str, str], params: Any,
                    body: dict[str, Any], timeout: httpx.Timeout, action: str | None) -> httpx.Response:
        """Stage 1: one attempt, redirects followed only for GET/HEAD, the token dropped off-site."""
        try:
            request = self.client.build_request(method, url, headers=headers, params=params, timeout=timeout, **body)
            response = await self.client.send(request, stream=True)
            hops = 0
            while (hop := next_hop(method, response.status_code, response.headers.get("Location"), str(response.url),
                                   hops, headers, self.base_url, self.options.auth_header)) is not None:
                hops += 1
                await response.aclose()
                response = await self.client.send(self.client.build_request(method, hop[0], headers=hop[1],
                                                                            timeout=timeout), stream=True)
        except httpx.HTTPError as error:
            raise self._transport_error(error, action, url) from None
        logger.debug("%s %s%s -> %d", method, url, f" ({action})" if action else "", response.status_code)
        return response

    async def _check_status(self, response: httpx.Response, method: str, action: str | None) -> None:
        """Stage 2: a non-ok answer becomes its typed error (reading at most 64 KiB of its body)."""
        status = response.status_code
        if status in REDIRECT_STATUSES:
            await response.aclose()
            raise redirect_refused(method, str(response.url), response.headers.get("Location"), status)
        if status >= 400:
            body = ErrorBody()
            try:
                async for chunk in self.stream_body(response, action):
                    if not body.take(chunk):
                        break
            except exc.TransportError:
                pass  # a cut error body: what came is all there is
            finally:
                await response.aclose()
            raise body.error(status, response.reason_phrase, response.encoding, response.headers, action,
                             str(response.url), self.api_key)

    async def _read(self, response: httpx.Response, action: str | None, deadline_at: float | None) -> None:
        """Stage 3: the whole body (``response.content``), bounded in size and by the deadline."""
        limit = self.options.max_response_bytes
        url, status = str(response.url), response.status_code
        try:
            refuse_oversized(response.headers.get("Content-Length"), limit, action=action, url=url, status=status)
            chunks = []
            size = 0
            async for chunk in self.stream_body(response, action, deadline_at):
                size += len(chunk)
                read_bounded(size, limit, action, url, status)
                chunks.append(chunk)
        finally:
            await response.aclose()
        response._content = b"".join(chunks)

    async def stream_body(self, response: httpx.Response, action: str | None = None,
                          deadline_at: float | None = None) -> AsyncIterator[bytes]:
        """The stream stage: a body's bytes as they come, errors mapped to the tree."""
        try:
            async for chunk in response.aiter_bytes():
                late = past_deadline(deadline_at, action, str(response.url))
                if late is not None:
                    raise late
                yield chunk
        except httpx.HTTPError as error:
            await response.aclose()
            raise body_cut(error, isinstance(error, httpx.TimeoutException), action, str(response.url),
                           self.api_key) from None

    def _transport_error(self, error: httpx.HTTPError, action: str | None, url: str) -> exc.CkanError:
        """Map an httpx exception; decide whether the request may have reached the server. A request the
        library refuses to send (a header it cannot carry) is a local error, never retried."""
        if isinstance(error, (httpx.LocalProtocolError, httpx.UnsupportedProtocol, httpx.InvalidURL)):
            return exc.InvalidInput(scrub(f"the request cannot be sent: {type(error).__name__}: {error}",
                                          self.api_key))
        not_sent = isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
        cause: BaseException | None = error
        dns = False
        texts = []
        while cause is not None:
            dns = dns or isinstance(cause, socket.gaierror)
            texts.append(f"{type(cause).__name__}: {cause}")
            cause = cause.__cause__ or cause.__context__
        if dns:
            message = f"the host name of {url} does not resolve (DNS)"
        elif isinstance(error, httpx.ConnectTimeout):
            message = unreachable(url, "no connection within the connect timeout")
        elif isinstance(error, httpx.ReadTimeout):
            message = unreachable(url, "no answer within the read timeout")
        elif isinstance(error, (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)):
            message = unreachable(url, scrub(why_unreachable(" | ".join(texts)), self.api_key))
        else:
            message = scrub(f"{type(error).__name__}: {error}", self.api_key)
        cls = exc.RequestTimeout if isinstance(error, httpx.TimeoutException) else exc.TransportError
        failure = cls(message, action=action, url=url, request_sent=not not_sent)
        failure.dns_failure = dns
        return failure
