"""The sync transport: the requests shell around the sans-IO core (:mod:`ckan_api_client.core`).

Every request of the layers above goes through :meth:`Transport.exchange`, in small stages:

1. **send** (:meth:`Transport._send`): one attempt, redirects followed only for GET/HEAD and without
   the token when they leave the host; errors mapped to
   :class:`~ckan_api_client.exceptions.TransportError` (with whether the request was sent);
2. **status** (:meth:`Transport._check_status`): a non-ok answer becomes its typed error
   (:func:`~ckan_api_client.core.error_from_answer`), a redirect on a write a
   :class:`~ckan_api_client.exceptions.RedirectError`;
3. **read** (:meth:`Transport._read`): the body, bounded in size and by the request's deadline
   (a body trickled byte by byte ends in :class:`~ckan_api_client.exceptions.RequestTimeout`),
   or left to **stream** (:meth:`Transport.stream_body`, errors mapped the same way);
4. **accept**: the caller's check of the answer (the action layer decodes CKAN's envelope there,
   so a malformed answer is a failure of this attempt like any other);

and after a failed attempt, :func:`~ckan_api_client.core.retry_delay` (pure) says whether and when
to try again. The token is never put in a URL, a log line, a repr or an exception.
"""

from __future__ import annotations

import http.cookiejar
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

import requests
import urllib3.exceptions

from . import exceptions as exc
from .core import (DEFAULT, DEFAULT_TIMEOUT, ERROR_BODY_LIMIT, NO_RETRY, REDIRECT_STATUSES, BaseTransport,
                   ClientOptions, Exchange, RateSchedule, RetryPolicy, Secret, error_from_answer, next_hop,
                   redirect_refused, refuse_oversized, retry_reason, scrub, too_long, unreachable, url_for,
                   why_unreachable)

__all__ = ["Transport", "RetryPolicy", "RateLimiter", "Secret", "TransportStats", "DEFAULT_TIMEOUT", "NO_RETRY"]

logger = logging.getLogger("ckan_api_client")

READ_CHUNK = 1 << 16
T = TypeVar("T")
_DEFAULT = DEFAULT


@dataclass
class TransportStats:
    """Counters shared by every request of a transport (thread-safe)."""

    requests: int = 0
    retries: int = 0
    retry_reasons: dict[str, int] = field(default_factory=dict)
    by_action: dict[str, int] = field(default_factory=dict)
    """Requests sent per action name (each attempt counts)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_request(self, action: str | None = None) -> None:
        with self._lock:
            self.requests += 1
            if action:
                self.by_action[action] = self.by_action.get(action, 0) + 1

    def snapshot(self) -> dict[str, int]:
        """A copy of the per-action counts, to subtract later ones from."""
        with self._lock:
            return dict(self.by_action)

    def count_retry(self, reason: str) -> None:
        with self._lock:
            self.retries += 1
            self.retry_reasons[reason] = self.retry_reasons.get(reason, 0) + 1


class RateLimiter:
    """At most ``max_rps`` requests per second, shared by every thread that uses one transport."""

    def __init__(self, max_rps: float) -> None:
        self.schedule = RateSchedule(max_rps)
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            delay = self.schedule.reserve(time.monotonic())
        if delay > 0:
            time.sleep(delay)


def log_retry(stats: TransportStats, plan: Exchange, action: str | None, failure: exc.CkanError, attempt: int,
              delay: float) -> None:
    """Count a retry and say it in one line: what, why, which attempt, after how long."""
    stats.count_retry(retry_reason(failure))
    why = failure.message if isinstance(failure, exc.TransportError) else retry_reason(failure)
    logger.warning("retrying %s after %s (attempt %d of %d, in %.1fs)", action or f"{plan.method} {plan.url}",
                   why, attempt + 1, plan.policy.max_attempts, delay)


def _name_not_found(error: BaseException) -> bool:
    """True when the host name did not resolve (DNS), as opposed to a refused or lost connection."""
    reason = error.args[0] if error.args else None
    inner = getattr(reason, "reason", reason)
    return isinstance(inner, urllib3.exceptions.NameResolutionError)


class Transport(BaseTransport):
    """One HTTP session to one CKAN site, with the options of one :class:`ClientOptions`.

    Safe to share between threads: the connection pool holds ``options.pool_size`` connections.
    """

    def __init__(self, base_url: str, options: ClientOptions | None = None, *,
                 session: requests.Session | None = None, rate_limiter: RateLimiter | None = None,
                 stats: TransportStats | None = None) -> None:
        super().__init__(base_url, options, f"python-requests/{requests.__version__}")
        self.session = session if session is not None else self._new_session(self.options.pool_size)
        self.stats = stats or TransportStats()
        self.rate_limiter = rate_limiter or (RateLimiter(self.options.max_rps) if self.options.max_rps else None)

    @staticmethod
    def _new_session(pool_size: int) -> requests.Session:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # Keep no cookies: CKAN's API authenticates by token, and a stored session cookie could
        # silently authenticate the anonymous copy of a client.
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        return session

    # ------------------------------------------------------------------ copies

    def copy(self, **changes: Any) -> Transport:
        """A transport with ``changes`` to the options, sharing the session and the rate limit."""
        return Transport(self.base_url, self.options.replace(**changes), session=self.session,
                         rate_limiter=self.rate_limiter)

    def close(self) -> None:
        self.session.close()

    def url_for(self, path: str) -> str:
        return url_for(self.base_url, path)

    # ------------------------------------------------------------------ requests

    def request(self, method: str, path: str, *, stream: bool = False, **options: Any) -> requests.Response:
        """Send one request with the transport's policies; return the ok response (its body read,
        unless ``stream``). See :meth:`exchange` for the options."""
        return self.exchange(method, path, lambda response: response, stream=stream, **options)

    def exchange(
        self,
        method: str,
        path: str,
        accept: Callable[[requests.Response], T],
        *,
        action: str | None = None,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
        body_factory: Callable[[], Any] | None = None,
        stream: bool = False,
        retry: RetryPolicy | None = None,
        timeout: Any = _DEFAULT,
        deadline: float | None = _DEFAULT,
        **kwargs: Any,
    ) -> T:
        """Send a request until ``accept`` takes an ok answer, or the retry policy gives up.

        ``idempotent``: may it be repeated after it may have reached the server (default: True for
        GET/HEAD/OPTIONS). ``body_factory`` builds a fresh body for each attempt (streamed
        uploads). ``deadline``: seconds for the whole request, retries included (default: the
        options' ``read_deadline`` for idempotent requests, none for others). Other keyword
        arguments go to ``requests``. Raises only exceptions of the tree.
        """
        plan = Exchange.plan(self.options, self.base_url, self.user_agent, method, path, idempotent=idempotent,
                             headers=headers, retry=retry, timeout=timeout, deadline=deadline, now=time.monotonic())
        attempt = 0
        while True:
            attempt += 1
            if body_factory is not None:
                kwargs["data"] = body_factory()
            if self.rate_limiter is not None:
                self.rate_limiter.wait()
            self.stats.count_request(action)
            try:
                response = self._send(plan.method, plan.url, plan.headers, plan.timeout, kwargs, action)
                self._check_status(response, plan.method, action)
                if not stream:
                    self._read(response, action, plan.deadline_at)
                return accept(response)
            except exc.CkanError as failure:
                delay = plan.delay_after(failure, attempt, time.monotonic())
                if delay is None:
                    raise
                self._wait_to_retry(plan, action, failure, attempt, delay)

    # ------------------------------------------------------------------ stages

    def _send(self, method: str, url: str, headers: dict[str, str], timeout: Any, kwargs: dict[str, Any],
              action: str | None) -> requests.Response:
        """Stage 1: one attempt, following redirects only for GET/HEAD and dropping the token off-host."""
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
                if size > limit:
                    raise too_long(size, limit, action=action, url=url, status=status)
                chunks.append(chunk)
        finally:
            response.close()
        response._content = b"".join(chunks)
        setattr(response, "_content_consumed", True)

    def stream_body(self, response: requests.Response, action: str | None = None,
                    deadline_at: float | None = None) -> Iterator[bytes]:
        """The stream stage: a body's bytes as they come, errors mapped to the tree
        (:class:`TransportError` when it is cut, :class:`RequestTimeout` past the deadline)."""
        raw = response.raw
        try:
            while True:
                if deadline_at is not None and time.monotonic() > deadline_at:
                    raise exc.RequestTimeout(
                        "the answer took longer than the request's deadline (read_deadline / deadline=)",
                        action=action, url=response.url)
                chunk = raw.read1(READ_CHUNK, decode_content=True)
                if not chunk:
                    return
                yield chunk
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
            response.close()
            timed_out = isinstance(error, (urllib3.exceptions.TimeoutError, TimeoutError))
            cls = exc.RequestTimeout if timed_out else exc.TransportError
            failure = cls(scrub(f"the answer was cut off: {type(error).__name__}: {error}", self.api_key),
                          action=action, url=response.url)
            failure.body_cut = True
            raise failure from None

    # ------------------------------------------------------------------ failures

    def _wait_to_retry(self, plan: Exchange, action: str | None, failure: exc.CkanError, attempt: int,
                       delay: float) -> None:
        """Count and log a retry, then sleep before it."""
        log_retry(self.stats, plan, action, failure, attempt, delay)
        time.sleep(delay)

    def _transport_error(self, error: requests.RequestException, action: str | None,
                         url: str) -> exc.CkanError:
        """Map a requests exception; decide whether the request may have reached the server. A header
        the library refuses is a local error (never retried), not a failure of the connection."""
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
        data = b""
        try:
            for chunk in self.stream_body(response, action):
                data += chunk
                if len(data) >= ERROR_BODY_LIMIT:
                    break
        except exc.TransportError:
            pass  # a cut error body: what came is all there is
        finally:
            response.close()
        text = scrub(data[:ERROR_BODY_LIMIT].decode(response.encoding or "utf-8", errors="replace"), self.api_key)
        return error_from_answer(response.status_code, response.reason, text,
                                 retry_after=response.headers.get("Retry-After"), action=action, url=response.url)
