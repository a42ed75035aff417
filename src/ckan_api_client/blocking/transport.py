"""The blocking transport: the requests shell around the core ([`ckan_api_client.core`][ckan_api_client.core]).

Every request goes through [`Transport.exchange`][ckan_api_client.blocking.transport.Transport.exchange], in small stages:

1. **send** (`Transport._send`): one attempt, redirects followed only for GET/HEAD and without
   the token when they leave the site ([`next_hop`][ckan_api_client.core.exchange.next_hop]); errors mapped to
   [`TransportError`][ckan_api_client.exceptions.TransportError] (with whether the request was sent);
2. **status** (`Transport._check_status`): a non-ok answer becomes its typed error, a redirect
   on a write a [`RedirectError`][ckan_api_client.exceptions.RedirectError];
3. **read** (`Transport._read`): the body, bounded in size and by the request's deadline, or
   left to **stream** ([`Transport.stream_body`][ckan_api_client.blocking.transport.Transport.stream_body], errors mapped the same way);
4. **accept**: the caller's check of the answer ([`Transport.call_action`][ckan_api_client.blocking.transport.Transport.call_action] decodes CKAN's
   envelope there, so a malformed answer is a failure of this attempt like any other);

and after a failed attempt, [`after_failure`][ckan_api_client.core.exchange.BaseTransport.after_failure] says
whether and when to try again. Only sending and waiting are here.
"""

from __future__ import annotations

import http.cookiejar
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any, Callable, Mapping, TypeVar

import requests
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor

from .. import exceptions as exc
from ..core.answers import decode_answer, refuse_oversized, unreachable, why_unreachable
from ..core.calls import ActionCall, UploadFile, UploadParts
from ..core.exchange import (REDIRECT_STATUSES, BaseTransport, ErrorBody, RateLimiter, TransportStats, body_cut,
                             next_hop, past_deadline, read_bounded, redirect_refused)
from ..core.options import DEFAULT, NO_RETRY, ClientOptions, RetryPolicy, scrub
from . import preconnect

__all__ = ["Transport"]

logger = logging.getLogger("ckan_api_client")

READ_CHUNK = 1 << 16
T = TypeVar("T")


def _name_not_found(error: BaseException) -> bool:
    """True when the host name did not resolve (DNS), as opposed to a refused or lost connection."""
    reason = error.args[0] if error.args else None
    inner = getattr(reason, "reason", reason)
    return isinstance(inner, urllib3.exceptions.NameResolutionError)


def _socket_opened_ahead(connection: urllib3.connection.HTTPConnection) -> socket.socket | None:
    """The socket [opened ahead][ckan_api_client.blocking.preconnect] to the connection's host, set up as urllib3
    sets up its own (timeout, ``TCP_NODELAY``), or None."""
    if connection.source_address is not None:
        return None
    sock = preconnect.take(connection.host.strip("[]"), connection.port)
    if sock is not None:
        for option in connection.socket_options or ():
            sock.setsockopt(*option)
        if connection.timeout is None or isinstance(connection.timeout, (int, float)):
            sock.settimeout(connection.timeout)
    return sock


class _HTTPConnection(urllib3.connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _socket_opened_ahead(self) or super()._new_conn()


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    def _new_conn(self) -> socket.socket:  # TLS is then done on it as on a socket opened here
        return _socket_opened_ahead(self) or super()._new_conn()


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose first connection to a host takes the socket opened ahead, when there is one."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class Transport(BaseTransport):
    """One HTTP session to one CKAN site, with the options of one [`ClientOptions`][ckan_api_client.core.options.ClientOptions].

    Safe to share between threads: the connection pool holds ``options.pool_size`` connections.
    """

    def __init__(self, base_url: str, options: ClientOptions | None = None, *,
                 session: requests.Session | None = None, rate_limiter: RateLimiter | None = None,
                 stats: TransportStats | None = None) -> None:
        super().__init__(base_url, options, f"python-requests/{requests.__version__}", stats=stats,
                         rate_limiter=rate_limiter)
        self.session = session if session is not None else self._new_session(self.options.pool_size)

    @staticmethod
    def _new_session(pool_size: int) -> requests.Session:
        session = requests.Session()
        adapter = _Adapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # Keep no cookies: CKAN's API authenticates by token, and a stored session cookie could
        # silently authenticate the anonymous copy of a client.
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        return session

    def copy(self, **changes: Any) -> Transport:
        """A transport with ``changes`` to the options, sharing the session, the rate limit and the counters."""
        return Transport(self.base_url, self.options.replace(**changes), session=self.session,
                         rate_limiter=self.rate_limiter, stats=self.stats)

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------------ requests

    def call_action(self, call: ActionCall, *, files: Mapping[str, UploadFile] | None = None,
                    progress: Callable[[int], None] | None = None, retry: RetryPolicy | None = None,
                    timeout: Any = DEFAULT) -> Any:
        """Send one action call and return its ``result``; ``files`` go as a multipart body streamed
        from disk, with ``progress`` called with the bytes sent so far."""
        kwargs: dict[str, Any] = {"action": call.action, "idempotent": call.idempotent, "retry": retry,
                                  "timeout": timeout, "headers": call.headers}
        upload = UploadParts(call.fields or {}, files) if files else None
        if upload is not None:
            if not upload.rewindable and not call.idempotent:
                kwargs["retry"] = NO_RETRY

            def body() -> Any:
                encoder = MultipartEncoder(fields=[*upload.fields, *upload.rewound_files()], boundary=upload.boundary)
                return encoder if progress is None else \
                    MultipartEncoderMonitor(encoder, lambda monitor: progress(monitor.bytes_read))

            kwargs["body_factory"] = body
            kwargs["headers"] = {"Content-Type": upload.content_type}
        elif call.method == "GET":
            kwargs["params"] = call.params
        else:
            kwargs["data"] = call.body

        def accept(response: requests.Response) -> Any:
            return decode_answer(response.status_code, response.content, action=call.action, url=response.url)

        try:
            return self.exchange(call.method, call.path, accept, **kwargs)
        finally:
            if upload is not None:
                upload.close()

    def request(self, method: str, path: str, *, stream: bool = False, **options: Any) -> requests.Response:
        """Send one request with the transport's policies; return the ok response (its body read,
        unless ``stream``). See [`exchange`][ckan_api_client.blocking.transport.Transport.exchange] for the options."""
        return self.exchange(method, path, lambda response: response, stream=stream, **options)

    def exchange(self, method: str, path: str, accept: Callable[[requests.Response], T], *,
                 action: str | None = None, idempotent: bool | None = None, headers: Mapping[str, str] | None = None,
                 body_factory: Callable[[], Any] | None = None, stream: bool = False,
                 retry: RetryPolicy | None = None, timeout: Any = DEFAULT, deadline: Any = DEFAULT,
                 **kwargs: Any) -> T:
        """Send a request until ``accept`` takes an ok answer, or the retry policy gives up.

        ``idempotent``: may it be repeated after it may have reached the server (default: True for
        GET/HEAD/OPTIONS). ``body_factory`` builds a fresh body for each attempt (streamed
        uploads). ``deadline``: seconds for the whole request, retries included (default: the
        options' ``read_deadline`` for idempotent requests, none for others). Other keyword
        arguments go to ``requests``. Raises only exceptions of the tree.
        """
        plan = self.plan(method, path, idempotent=idempotent, headers=headers, retry=retry, timeout=timeout,
                         deadline=deadline)
        attempt = 0
        while True:
            attempt += 1
            if body_factory is not None:
                kwargs["data"] = body_factory()
            wait = self.slot(action)
            if wait > 0:
                time.sleep(wait)
            try:
                response = self._send(plan.method, plan.url, plan.headers, plan.timeout, kwargs, action)
                self._check_status(response, plan.method, action)
                if not stream:
                    self._read(response, action, plan.deadline_at)
                return accept(response)
            except exc.CkanError as failure:
                time.sleep(self.after_failure(plan, failure, attempt, action))

    # ------------------------------------------------------------------ stages

    def _send(self, method: str, url: str, headers: dict[str, str], timeout: Any, kwargs: dict[str, Any],
              action: str | None) -> requests.Response:
        """Stage 1: one attempt, following redirects only for GET/HEAD and dropping the token off-site."""
        try:
            response = self.session.request(method, url, headers=headers, timeout=timeout,
                                            verify=self.options.verify, allow_redirects=False, stream=True, **kwargs)
            hops = 0
            while (hop := next_hop(method, response.status_code, response.headers.get("Location"), response.url, hops,
                                   headers, self.base_url, self.options.auth_header)) is not None:
                hops += 1
                response.close()
                response = self.session.request(method, hop[0], headers=hop[1], timeout=timeout,
                                                verify=self.options.verify, allow_redirects=False, stream=True)
        except requests.RequestException as error:
            raise self._transport_error(error, action, url) from None
        logger.debug("%s %s%s -> %d", method, url, f" ({action})" if action else "", response.status_code)
        return response

    def _check_status(self, response: requests.Response, method: str, action: str | None) -> None:
        """Stage 2: a non-ok answer becomes its typed error (reading at most 64 KiB of its body)."""
        status = response.status_code
        if status in REDIRECT_STATUSES:
            response.close()
            raise redirect_refused(method, response.url, response.headers.get("Location"), status)
        if status >= 400:
            raise self.error_from_response(response, action)

    def _read(self, response: requests.Response, action: str | None, deadline_at: float | None) -> None:
        """Stage 3: the whole body into ``response.content``, bounded in size and by the deadline."""
        limit = self.options.max_response_bytes
        url, status = response.url, response.status_code
        try:
            refuse_oversized(response.headers.get("Content-Length"), limit, action=action, url=url, status=status)
            chunks = []
            size = 0
            for chunk in self.stream_body(response, action, deadline_at):
                size += len(chunk)
                read_bounded(size, limit, action, url, status)
                chunks.append(chunk)
        finally:
            response.close()
        response._content = b"".join(chunks)
        setattr(response, "_content_consumed", True)

    def stream_body(self, response: requests.Response, action: str | None = None,
                    deadline_at: float | None = None) -> Iterator[bytes]:
        """The stream stage: a body's bytes as they come, errors mapped to the tree
        ([`TransportError`][ckan_api_client.exceptions.TransportError] when it is cut, [`RequestTimeout`][ckan_api_client.exceptions.RequestTimeout] past the deadline)."""
        raw = response.raw
        try:
            while True:
                late = past_deadline(deadline_at, action, response.url)
                if late is not None:
                    raise late
                chunk = raw.read1(READ_CHUNK, decode_content=True)
                if not chunk:
                    return
                yield chunk
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
            response.close()
            timed_out = isinstance(error, (urllib3.exceptions.TimeoutError, TimeoutError))
            raise body_cut(error, timed_out, action, response.url, self.api_key) from None

    # ------------------------------------------------------------------ failures

    def _transport_error(self, error: requests.RequestException, action: str | None, url: str) -> exc.CkanError:
        """Map a requests exception; decide whether the request may have reached the server. A request
        the library refuses to send is a local error (never retried), not a failure of the connection."""
        if isinstance(error, (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL)):
            return exc.InvalidInput(scrub(f"the request cannot be sent: {error}", self.api_key))
        not_sent = isinstance(error, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError))
        if isinstance(error, requests.exceptions.ConnectionError) and not not_sent:
            reason = error.args[0] if error.args else None
            inner = getattr(reason, "reason", reason)
            not_sent = isinstance(inner, (urllib3.exceptions.NewConnectionError,
                                          urllib3.exceptions.ConnectTimeoutError,
                                          urllib3.exceptions.NameResolutionError))
        dns = _name_not_found(error)
        if dns:
            message = f"the host name of {url} does not resolve (DNS)"
        elif isinstance(error, requests.exceptions.ConnectTimeout):
            message = unreachable(url, "no connection within the connect timeout")
        elif isinstance(error, requests.exceptions.ReadTimeout):
            message = unreachable(url, "no answer within the read timeout")
        elif isinstance(error, requests.exceptions.ConnectionError):
            message = unreachable(url, scrub(why_unreachable(str(error)), self.api_key))
        else:
            message = scrub(f"{type(error).__name__}: {error}", self.api_key)
        cls = exc.RequestTimeout if isinstance(error, requests.Timeout) else exc.TransportError
        failure = cls(message, action=action, url=url, request_sent=not not_sent)
        failure.dns_failure = dns
        return failure

    def error_from_response(self, response: requests.Response, action: str | None) -> exc.HTTPError:
        """The typed HTTPError for a non-ok response, reading at most 64 KiB of its body."""
        body = ErrorBody()
        try:
            for chunk in self.stream_body(response, action):
                if not body.take(chunk):
                    break
        except exc.TransportError:
            pass  # a cut error body: what came is all there is
        finally:
            response.close()
        return body.error(response.status_code, response.reason, response.encoding, response.headers, action,
                          response.url, self.api_key)
