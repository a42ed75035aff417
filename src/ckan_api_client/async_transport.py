"""The async transport: the httpx shell around the same sans-IO core as the sync one.

The stages and decisions are those of :class:`~ckan_api_client.transport.Transport` (send →
status → read or stream → accept; :func:`~ckan_api_client.core.retry_delay` after a failed
attempt); only the waiting is different. Adds a concurrency limit (``options.concurrency``
requests in flight, the connection pool the same size) and an async rate limiter.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import logging
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from . import exceptions as exc
from .core import (DEFAULT, ERROR_BODY_LIMIT, REDIRECT_STATUSES, BaseTransport, ClientOptions, Exchange,
                   RateSchedule, RetryPolicy, error_from_answer, next_hop, redirect_refused, refuse_oversized,
                   retry_reason, scrub, too_long, unreachable, why_unreachable)
from .transport import TransportStats, log_retry

__all__ = ["AsyncTransport"]

logger = logging.getLogger("ckan_api_client")

T = TypeVar("T")
_DEFAULT = DEFAULT


def _httpx_verify(verify: bool | str) -> bool | ssl.SSLContext:
    """httpx wants a CA bundle (a file or a folder of them) as an SSL context."""
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return verify


def _httpx_timeout(timeout: Any) -> httpx.Timeout:
    if isinstance(timeout, tuple):
        connect, read = timeout
        return httpx.Timeout(read, connect=connect)
    return httpx.Timeout(timeout)


class AsyncRateLimiter:
    """At most ``max_rps`` requests per second over every task of one transport."""

    def __init__(self, max_rps: float) -> None:
        self.schedule = RateSchedule(max_rps)
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            delay = self.schedule.reserve(time.monotonic())
        if delay > 0:
            await asyncio.sleep(delay)


class AsyncTransport(BaseTransport):
    """One httpx ``AsyncClient`` to one CKAN site, with the options of one :class:`ClientOptions`."""

    def __init__(self, base_url: str, options: ClientOptions | None = None, *,
                 client: httpx.AsyncClient | None = None, stats: TransportStats | None = None) -> None:
        super().__init__(base_url, options, f"httpx/{httpx.__version__}")
        pool = self.options.pool_size
        # Keep no cookies: CKAN's API authenticates by token (see the sync transport).
        jar = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self.client = client or httpx.AsyncClient(
            verify=_httpx_verify(self.options.verify), timeout=_httpx_timeout(self.options.timeout), follow_redirects=False,
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool), cookies=jar)
        self.stats = stats or TransportStats()
        self.rate_limiter = AsyncRateLimiter(self.options.max_rps) if self.options.max_rps else None
        self._in_flight = asyncio.Semaphore(self.options.concurrency)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def request(self, method: str, path: str, *, stream: bool = False, **options: Any) -> httpx.Response:
        """The ok response (body read unless ``stream``: then close it, e.g. with ``aclose()``)."""
        async def same(response: httpx.Response) -> httpx.Response:
            return response
        return await self.exchange(method, path, same, stream=stream, **options)

    async def exchange(
        self,
        method: str,
        path: str,
        accept: Callable[[httpx.Response], Awaitable[T]],
        *,
        action: str | None = None,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        content: bytes | None = None,
        body_factory: Callable[[], dict[str, Any]] | None = None,
        stream: bool = False,
        retry: RetryPolicy | None = None,
        timeout: Any = _DEFAULT,
        deadline: float | None = _DEFAULT,
    ) -> T:
        """Send until ``accept`` takes an ok answer or the policy gives up (see ``Transport.exchange``).
        ``body_factory`` gives httpx's ``data``/``files`` afresh for each attempt (uploads)."""
        plan = Exchange.plan(self.options, self.base_url, self.user_agent, method, path, idempotent=idempotent,
                             headers=headers, retry=retry, timeout=timeout, deadline=deadline, now=time.monotonic())
        send_timeout = _httpx_timeout(plan.timeout)
        attempt = 0
        while True:
            attempt += 1
            body = body_factory() if body_factory is not None else {"content": content}
            if self.rate_limiter is not None:
                await self.rate_limiter.wait()
            self.stats.count_request(action)
            try:
                async with self._in_flight:
                    response = await self._send(plan.method, plan.url, plan.headers, list(params or []) or None, body,
                                                send_timeout, action)
                    await self._check_status(response, plan.method, action)
                    if not stream:
                        await self._read(response, action, plan.deadline_at)
                return await accept(response)
            except exc.CkanError as failure:
                delay = plan.delay_after(failure, attempt, time.monotonic())
                if delay is None:
                    raise
                log_retry(self.stats, plan, action, failure, attempt, delay)
                await asyncio.sleep(delay)

    async def _send(self, method: str, url: str, headers: dict[str, str], params: Any,
                    body: dict[str, Any], timeout: httpx.Timeout, action: str | None) -> httpx.Response:
        """Stage 1: one attempt, redirects followed only for GET/HEAD, the token dropped off-host."""
        try:
            try:
                request = self.client.build_request(method, url, headers=headers, params=params, timeout=timeout,
                                                    **body)
            except UnicodeEncodeError:
                raise exc.InvalidInput("the request cannot be sent: a header value is not ASCII") from None
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
        """Stage 2: a non-ok answer becomes its typed error."""
        status = response.status_code
        if status in REDIRECT_STATUSES:
            await response.aclose()
            raise redirect_refused(method, str(response.url), response.headers.get("Location"), status)
        if status >= 400:
            data = b""
            try:
                async for chunk in self.stream_body(response, action):
                    data += chunk
                    if len(data) >= ERROR_BODY_LIMIT:
                        break
            except exc.TransportError:
                pass  # a cut error body: what came is all there is
            finally:
                await response.aclose()
            text = scrub(data[:ERROR_BODY_LIMIT].decode(response.encoding or "utf-8", errors="replace"), self.api_key)
            raise error_from_answer(status, response.reason_phrase, text,
                                    retry_after=response.headers.get("Retry-After"), action=action,
                                    url=str(response.url))

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
                if size > limit:
                    raise too_long(size, limit, action=action, url=url, status=status)
                chunks.append(chunk)
        finally:
            await response.aclose()
        response._content = b"".join(chunks)

    async def stream_body(self, response: httpx.Response, action: str | None = None,
                          deadline_at: float | None = None) -> AsyncIterator[bytes]:
        """The stream stage: a body's bytes as they come, errors mapped to the tree."""
        try:
            async for chunk in response.aiter_bytes():
                if deadline_at is not None and time.monotonic() > deadline_at:
                    raise exc.RequestTimeout(
                        "the answer took longer than the request's deadline (read_deadline / deadline=)",
                        action=action, url=str(response.url))
                yield chunk
        except httpx.HTTPError as error:
            await response.aclose()
            cls = exc.RequestTimeout if isinstance(error, httpx.TimeoutException) else exc.TransportError
            failure = cls(scrub(f"the answer was cut off: {type(error).__name__}: {error}", self.api_key),
                          action=action, url=str(response.url))
            failure.body_cut = True
            raise failure from None

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
