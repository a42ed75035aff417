"""One request as both shells send it, decided here once: the headers (the token only for the site's
origin), the deadline, the redirect to follow or refuse, the wait before a retry, the rate limit's slots,
the counters. The shells ([`transport`][ckan_api_client.blocking.transport],
[`transport`][ckan_api_client.asyncio.transport]) only send bytes and wait."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urljoin

from .. import exceptions as exc
from .._version import __version__
from .answers import ERROR_BODY_LIMIT, error_from_answer, too_long
from .options import DEFAULT, ClientOptions, RetryPolicy, Secret, check_header_value, scrub
from .retry import retry_delay, retry_reason
from .site import check_token_transport, same_origin, site_root, url_for

logger = logging.getLogger("ckan_api_client")

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

@dataclass(frozen=True)
class Exchange:
    """One request as both shells send it: where, with which headers, and by what rules it is retried."""

    method: str
    url: str
    headers: dict[str, str]
    idempotent: bool
    policy: RetryPolicy
    timeout: Any
    deadline_at: float | None
    same_site: bool

    @classmethod
    def plan(cls, options: ClientOptions, base_url: str, user_agent: str, method: str, path: str, *,
             idempotent: bool | None, headers: Mapping[str, str] | None, retry: RetryPolicy | None,
             timeout: Any, deadline: Any, now: float) -> Exchange:
        """Idempotent by default for GET/HEAD/OPTIONS; the options' ``read_deadline`` for idempotent
        requests unless ``deadline`` says otherwise; the token only for the site's own origin."""
        method = method.upper()
        url = url_for(base_url, path)
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "OPTIONS")
        if deadline == DEFAULT:
            deadline = options.read_deadline if idempotent else None
        sent = {"User-Agent": user_agent, **{k: check_header_value(k, v) for k, v in (headers or {}).items()}}
        same_site = same_origin(url, base_url)
        if options.api_key is not None and same_site:
            sent[options.auth_header] = options.api_key.reveal()
        return cls(method, url, sent, idempotent, retry or options.retry,
                   options.timeout if timeout == DEFAULT else timeout, now + deadline if deadline else None, same_site)

    def delay_after(self, failure: exc.CkanError, attempt: int, now: float) -> float | None:
        """Seconds to wait before trying again after ``failure``, or None to raise it: the retry
        decision, no repeat for another site's name that does not resolve, and never past the deadline."""
        dead_link = isinstance(failure, exc.TransportError) and failure.dns_failure and not self.same_site
        delay = retry_delay(failure, attempt=attempt, idempotent=self.idempotent, policy=self.policy,
                            dead_link=dead_link)
        if delay is None or (self.deadline_at is not None and now + delay > self.deadline_at):
            return None
        return delay


MAX_REDIRECTS = 10


def next_hop(method: str, status: int, location: str | None, current_url: str, hops: int,
             headers: Mapping[str, str], base_url: str, auth_header: str) -> tuple[str, dict[str, str]] | None:
    """Where to follow a redirect, with which headers; None to stop (not a redirect, not a GET/HEAD,
    no Location, or too many hops). The token never goes to another origin."""
    if method not in ("GET", "HEAD") or status not in REDIRECT_STATUSES or not location or hops >= MAX_REDIRECTS:
        return None
    target = urljoin(current_url, location)
    hop_headers = dict(headers)
    if not same_origin(target, base_url):
        hop_headers.pop(auth_header, None)
    return target, hop_headers


def redirect_refused(method: str, url: str, location: str | None, status: int) -> exc.RedirectError:
    """The error for a redirect that is not followed (a write's)."""
    return exc.RedirectError(
        f"{method} {url} was redirected to {location!r} (HTTP {status}); a write is never re-sent to a redirect "
        "target, because its body would be dropped or sent where it was not meant to go: use the final URL as "
        "the client's base_url")


class RateSchedule:
    """The slots of a requests-per-second limit: ``reserve(now)`` says how long to wait for the next.

    Not thread-safe by itself: the sync shell holds a lock around it, the async one an asyncio lock.
    """

    def __init__(self, max_rps: float) -> None:
        if max_rps <= 0:
            raise exc.InvalidInput("max_rps must be positive")
        self.interval = 1.0 / max_rps
        self._next = 0.0

    def reserve(self, now: float) -> float:
        slot = max(now, self._next)
        self._next = slot + self.interval
        return slot - now




class RateLimiter:
    """At most ``max_rps`` requests per second over every thread and task of one transport:
    [`reserve`][ckan_api_client.core.exchange.RateLimiter.reserve] says how long this request waits for its slot (the shell sleeps or awaits it)."""

    def __init__(self, max_rps: float) -> None:
        self.schedule = RateSchedule(max_rps)
        self._lock = threading.Lock()  # held for microseconds: harmless on an event loop too

    def reserve(self) -> float:
        """Seconds until this request's slot (0: go now)."""
        with self._lock:
            return self.schedule.reserve(time.monotonic())


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


def log_retry(stats: TransportStats, plan: Exchange, action: str | None, failure: exc.CkanError, attempt: int,
              delay: float) -> None:
    """Count a retry and say it in one line: what, why, which attempt, after how long."""
    stats.count_retry(retry_reason(failure))
    why = failure.message if isinstance(failure, exc.TransportError) else retry_reason(failure)
    logger.warning("retrying %s after %s (attempt %d of %d, in %.1fs)", action or f"{plan.method} {plan.url}",
                   why, attempt + 1, plan.policy.max_attempts, delay)


# ---------------------------------------------------------------- what both shells do with a body


def past_deadline(deadline_at: float | None, action: str | None, url: str) -> exc.RequestTimeout | None:
    """The error for a body still coming after the request's deadline (None while there is time)."""
    if deadline_at is not None and time.monotonic() > deadline_at:
        return exc.RequestTimeout("the answer took longer than the request's deadline (read_deadline / deadline=)",
                                  action=action, url=url)
    return None


def body_cut(error: BaseException, timed_out: bool, action: str | None, url: str,
             secret: Secret | None) -> exc.TransportError:
    """The error for a body cut off while it was read (a timeout while reading counts as one)."""
    cls = exc.RequestTimeout if timed_out else exc.TransportError
    failure = cls(scrub(f"the answer was cut off: {type(error).__name__}: {error}", secret), action=action, url=url)
    failure.body_cut = True
    return failure


class ErrorBody:
    """The first 64 KiB of a non-ok answer's body, gathered as the shell reads it, then its typed error."""

    def __init__(self) -> None:
        self.data = b""

    def take(self, chunk: bytes) -> bool:
        """Keep a chunk; False once enough has come (the shell stops reading)."""
        self.data += chunk
        return len(self.data) < ERROR_BODY_LIMIT

    def error(self, status: int, reason: str | None, encoding: str | None, headers: Mapping[str, str],
              action: str | None, url: str, secret: Secret | None) -> exc.HTTPError:
        text = scrub(self.data[:ERROR_BODY_LIMIT].decode(encoding or "utf-8", errors="replace"), secret)
        return error_from_answer(status, reason, text, retry_after=headers.get("Retry-After"), action=action, url=url)


def read_bounded(size: int, limit: int, action: str | None, url: str, status: int) -> None:
    """Raise when a body read into memory goes past the size limit."""
    if size > limit:
        raise too_long(size, limit, action=action, url=url, status=status)


class BaseTransport:
    """What the sync and the async transport share: the site, its options, the counters and the rate
    limit, the plan of each request, and a repr without the token. The shells add only sending and waiting."""

    def __init__(self, base_url: str, options: ClientOptions | None, library: str, *,
                 stats: TransportStats | None = None, rate_limiter: RateLimiter | None = None) -> None:
        self.base_url = site_root(base_url)
        self.options = options or ClientOptions()
        check_token_transport(self.base_url, self.options.api_key, self.options.allow_insecure_http)
        self.user_agent = self.options.agent(f"ckan-api-client/{__version__} (+{library})")
        self.stats = stats or TransportStats()
        self.rate_limiter = rate_limiter or (RateLimiter(self.options.max_rps) if self.options.max_rps else None)

    @property
    def api_key(self) -> Secret | None:
        return self.options.api_key

    @property
    def retry(self) -> RetryPolicy:
        return self.options.retry

    def url_for(self, path: str) -> str:
        return url_for(self.base_url, path)

    def plan(self, method: str, path: str, *, idempotent: bool | None, headers: Mapping[str, str] | None,
             retry: RetryPolicy | None, timeout: Any, deadline: Any) -> Exchange:
        return Exchange.plan(self.options, self.base_url, self.user_agent, method, path, idempotent=idempotent,
                             headers=headers, retry=retry, timeout=timeout, deadline=deadline, now=time.monotonic())

    def slot(self, action: str | None) -> float:
        """Count an attempt; the seconds it waits for its slot under the rate limit (0 without one)."""
        self.stats.count_request(action)
        return self.rate_limiter.reserve() if self.rate_limiter is not None else 0.0

    def after_failure(self, plan: Exchange, failure: exc.CkanError, attempt: int, action: str | None) -> float:
        """The wait before the next attempt (counted and logged); ``failure`` raised when there is none."""
        delay = plan.delay_after(failure, attempt, time.monotonic())
        if delay is None:
            raise failure
        log_retry(self.stats, plan, action, failure, attempt, delay)
        return delay

    def __repr__(self) -> str:
        key = "<set>" if self.api_key is not None else None
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key!r})"
