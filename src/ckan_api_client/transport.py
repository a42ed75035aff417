"""Transport: one HTTP session, authentication, timeouts, retries and error mapping.

Everything above this module (actions, entity operations, high-level objects, bulk engine, CLI)
sends its requests through :class:`Transport`, so the policies here hold everywhere:

* a default timeout (connect, read) on every request: nothing waits forever;
* retries with exponential backoff and full jitter on connection errors, 502/503/504 and 429
  (honouring ``Retry-After``): always for idempotent requests, and for writes only when the
  request certainly never reached the server, on 429 (the server refused it unprocessed), or when
  the caller opts in with ``RetryPolicy(retry_writes=True)``;
* redirects followed only for GET/HEAD, without the token when they leave the host; a redirect on
  a write is an error (the body would be dropped);
* the token is never put in a URL, a log line, a repr or an exception; it is refused over plain
  http to a host that is not loopback unless explicitly allowed;
* non-ok answers become the typed exceptions of :mod:`ckan_api_client.exceptions`, parsed from
  CKAN's error envelope and tolerant of HTML pages and bare JSON strings, reading at most 64 KiB
  of an error body.

Retries are hand-written rather than urllib3's ``Retry`` because whether a POST may be repeated
depends on the CKAN *action* (``package_show`` may, ``package_create`` may not), which an
adapter-level policy keyed on HTTP methods cannot express.
"""

from __future__ import annotations

import email.utils
import http.cookiejar
import ipaddress
import json
import logging
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions

from . import exceptions as exc
from ._version import __version__

__all__ = ["Transport", "RetryPolicy", "RateLimiter", "Secret", "TransportStats", "DEFAULT_TIMEOUT",
           "parse_error_body"]

logger = logging.getLogger("ckan_api_client")

DEFAULT_TIMEOUT = (10.0, 120.0)
"""Default (connect, read) timeout in seconds."""

ERROR_BODY_LIMIT = 64 * 1024
DEFAULT_MAX_RESPONSE = 1 << 30
"""Largest ok answer read into memory (1 GiB): an endless or absurd body is an error, not a hang."""
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_API_SUFFIX = re.compile(r"/api(/\d+)?(/action(/[A-Za-z_]*)?)?/?$")
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10


class Secret:
    """A string that never shows itself: repr/str print a placeholder; ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:  # pickling would write the token out: refuse it
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class RetryPolicy:
    """How failed requests are repeated.

    ``max_attempts`` counts the first try. The wait before retry *n* is a uniform random time in
    ``[0, min(backoff_max, backoff_base * 2**(n-1))]`` (full jitter), or the server's
    ``Retry-After`` when it gives one no longer than ``max_retry_after``.
    """

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 120.0
    statuses: frozenset[int] = RETRY_STATUSES
    retry_writes: bool = False

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1))))


NO_RETRY = RetryPolicy(max_attempts=1)


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
        if max_rps <= 0:
            raise exc.InvalidInput("max_rps must be positive")
        self.interval = 1.0 / max_rps
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _name_not_found(error: requests.RequestException) -> bool:
    """True when the host name did not resolve (DNS), as opposed to a refused or lost connection."""
    reason = error.args[0] if error.args else None
    inner = getattr(reason, "reason", reason)
    return isinstance(inner, urllib3.exceptions.NameResolutionError)


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_error_body(text: str) -> tuple[str | None, dict[str, Any] | None]:
    """Read CKAN's error envelope out of a response body.

    Returns ``(message, error)``: ``error`` is the ``error`` object of a JSON envelope (None when
    there is none); ``message`` is the best human-readable summary: the envelope's message, the
    field errors, a bare JSON string, an HTML page's title, or the start of plain text.
    """
    stripped = text.strip()
    if not stripped:
        return None, None
    try:
        body = json.loads(stripped)
    except ValueError:
        body = None
        if stripped.startswith("{") or stripped.startswith("["):
            return f"invalid JSON in error body: {stripped[:200]}", None
    if isinstance(body, str):
        return body.strip() or None, None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message")
            if not message:
                fields = {k: v for k, v in error.items() if k not in ("__type", "message")}
                message = "; ".join(
                    f"{k}: {'; '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in fields.items()
                ) or error.get("__type")
            return (str(message) if message else None), error
        if isinstance(error, str):
            return error, None
        return f"JSON body without an error object: {stripped[:200]}", None
    if body is not None:
        return f"unexpected JSON body: {stripped[:200]}", None
    lower = stripped.lower()
    if "<html" in lower[:1000] or "<!doctype" in lower[:100]:
        start = lower.find("<title>")
        end = lower.find("</title>", start)
        if start != -1 and end != -1:
            title = " ".join(stripped[start + 7:end].split())
            return f"HTML page: {title}" if title else "HTML page", None
        return "HTML page (no title)", None
    return " ".join(stripped[:300].split()), None


_ERROR_TYPES: dict[str, type[exc.HTTPError]] = {
    "Not Found Error": exc.NotFound,
    "Authorization Error": exc.NotAuthorized,
    "Validation Error": exc.ValidationError,
    "Search Query Error": exc.SearchQueryError,
    "Search Error": exc.SearchError,
    "Search Index Error": exc.SearchError,
}


def error_class(status: int, error: Mapping[str, Any] | None) -> type[exc.HTTPError]:
    if error is not None and str(error.get("__type")) in _ERROR_TYPES:
        return _ERROR_TYPES[str(error.get("__type"))]
    if status == 400:
        return exc.BadRequest
    if status == 403:
        return exc.NotAuthorized
    if status == 404:
        return exc.NotFound
    if status == 409:
        return exc.ValidationError
    if status == 429:
        return exc.RateLimited
    if status >= 500:
        return exc.ServerError
    return exc.HTTPError


def read_limited(response: requests.Response, limit: int = ERROR_BODY_LIMIT) -> str:
    """Read at most ``limit`` bytes of a (streamed) response body, as text, and close it."""
    try:
        if response.raw is None or getattr(response, "_content_consumed", False):
            data = (response.content or b"")[:limit]
        else:
            data = b""
            for chunk in response.iter_content(chunk_size=16384):
                data += chunk
                if len(data) >= limit:
                    data = data[:limit]
                    break
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        data = b""
    finally:
        response.close()
    return data.decode(response.encoding or "utf-8", errors="replace")


class Transport:
    """One HTTP session to one CKAN site, with auth, timeouts, retries and error mapping.

    Safe to share between threads: the connection pool is sized by ``pool_maxsize``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | Secret | None = None,
        *,
        timeout: float | tuple[float, float] | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        verify: bool | str = True,
        auth_header: str = "Authorization",
        user_agent: str | None = None,
        allow_insecure_http: bool = False,
        pool_maxsize: int = 32,
        session: requests.Session | None = None,
        max_rps: float | None = None,
        rate_limiter: RateLimiter | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.strip():
            raise exc.InvalidInput("base_url must be a non-empty URL string")
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise exc.InvalidInput(f"base_url must be an http(s) URL, got {base_url!r}")
        api_suffix = _API_SUFFIX.search(parts.path)
        if api_suffix:
            root = f"{parts.scheme}://{parts.netloc}{parts.path[:api_suffix.start()]}"
            raise exc.InvalidInput(f"{base_url!r} is an API address: give the site's root URL instead, "
                                   f"e.g. {root!r}")
        self.base_url = base_url.strip().rstrip("/")
        self._host = (parts.hostname or "").lower()
        self._port = parts.port
        self._scheme = parts.scheme
        self._api_key = api_key if isinstance(api_key, Secret) or api_key is None else Secret(api_key)
        if self._api_key is not None and not self._api_key.reveal():
            self._api_key = None
        if self._api_key is not None and parts.scheme == "http" and not _is_loopback(self._host) \
                and not allow_insecure_http:
            raise exc.InvalidInput(
                f"refusing to send an API token over plain http to {self._host}: use https, or pass "
                "allow_insecure_http=True if you accept that anyone on the path can read it")
        self.timeout = timeout
        self.retry = retry if retry is not None else RetryPolicy()
        self.verify = verify
        self.auth_header = auth_header
        self.user_agent = user_agent or f"ckan-api-client/{__version__} (+python-requests/{requests.__version__})"
        self.allow_insecure_http = allow_insecure_http
        self.pool_maxsize = pool_maxsize
        self.session = session if session is not None else self._new_session(pool_maxsize)
        self.stats = TransportStats()
        self.rate_limiter = rate_limiter or (RateLimiter(max_rps) if max_rps else None)
        self.max_response_bytes = max_response_bytes

    @staticmethod
    def _new_session(pool_maxsize: int) -> requests.Session:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # Keep no cookies: CKAN's API authenticates by token, and a stored session cookie could
        # silently authenticate the anonymous copy of a client.
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        return session

    # ------------------------------------------------------------------ copies

    @property
    def api_key(self) -> Secret | None:
        return self._api_key

    def copy(self, **changes: Any) -> "Transport":
        """A transport with the same options (and session), changing only what is given."""
        options: dict[str, Any] = dict(
            api_key=self._api_key, timeout=self.timeout, retry=self.retry, verify=self.verify,
            auth_header=self.auth_header, user_agent=self.user_agent,
            allow_insecure_http=self.allow_insecure_http, pool_maxsize=self.pool_maxsize, session=self.session,
            rate_limiter=self.rate_limiter, max_response_bytes=self.max_response_bytes)
        options.update(changes)
        return Transport(self.base_url, **options)

    def __repr__(self) -> str:
        key = "<set>" if self._api_key is not None else None
        return f"Transport(base_url={self.base_url!r}, api_key={key!r})"

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------------ requests

    def url_for(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + "/" + path.lstrip("/")

    def _same_origin(self, url: str) -> bool:
        parts = urlsplit(url)
        return ((parts.hostname or "").lower(), parts.port, parts.scheme) == (self._host, self._port, self._scheme)

    def _scrub(self, text: str) -> str:
        if self._api_key is not None and self._api_key.reveal() and self._api_key.reveal() in text:
            return text.replace(self._api_key.reveal(), "********")
        return text

    def request(
        self,
        method: str,
        path: str,
        *,
        action: str | None = None,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
        body_factory: Callable[[], Any] | None = None,
        stream: bool = False,
        retry: RetryPolicy | None = None,
        timeout: float | tuple[float, float] | None | str = "default",
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request with the transport's policies; return the ok response.

        ``idempotent`` says whether the request may be repeated after it may have reached the
        server (default: True for GET/HEAD/OPTIONS). ``body_factory`` builds a fresh body for
        each attempt (for streamed uploads). Other keyword arguments go to ``requests``.
        Raises a :class:`~ckan_api_client.exceptions.HTTPError` subclass on a non-ok status, a
        :class:`~ckan_api_client.exceptions.TransportError` when no answer came.
        """
        method = method.upper()
        url = self.url_for(path)
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "OPTIONS")
        policy = retry or self.retry
        req_headers = {"User-Agent": self.user_agent}
        if headers:
            req_headers.update(headers)
        if self._api_key is not None and self._same_origin(url):
            req_headers[self.auth_header] = self._api_key.reveal()
        if timeout == "default":
            timeout = self.timeout
        attempt = 0
        while True:
            attempt += 1
            if body_factory is not None:
                kwargs["data"] = body_factory()
            if self.rate_limiter is not None:
                self.rate_limiter.wait()
            self.stats.count_request(action)
            started = time.monotonic()
            try:
                response = self._send(method, url, req_headers, timeout, kwargs)
            except requests.RequestException as error:
                failure = self._transport_error(error, action, url)
                retryable = idempotent or not failure.request_sent or policy.retry_writes
                if _name_not_found(error) and not self._same_origin(url):
                    retryable = False  # another site's name that does not resolve (a dead link): once is enough
                if retryable and attempt < policy.max_attempts:
                    delay = policy.backoff(attempt)
                    self._wait_to_retry(method, url, action, type(failure).__name__, attempt, policy, delay)
                    continue
                raise failure from None
            elapsed = time.monotonic() - started
            status = response.status_code
            logger.debug("%s %s%s -> %d in %.3fs", method, url, f" ({action})" if action else "", status, elapsed)
            if status in policy.statuses and attempt < policy.max_attempts and \
                    (idempotent or policy.retry_writes or status == 429):
                hinted = _parse_retry_after(response.headers.get("Retry-After"))
                if hinted is None or hinted <= policy.max_retry_after:
                    delay = hinted if hinted is not None else policy.backoff(attempt)
                    response.close()
                    self._wait_to_retry(method, url, action, f"HTTP {status}", attempt, policy, delay)
                    continue
            if status in REDIRECT_STATUSES:
                response.close()
                raise exc.RedirectError(
                    f"{method} {url} was redirected to {response.headers.get('Location')!r} (HTTP {status}); "
                    "a write is never re-sent to a redirect target, because its body would be dropped or sent "
                    "where it was not meant to go: use the final URL as the client's base_url")
            if not response.ok:
                raise self.error_from_response(response, action)
            if not stream:
                try:
                    self._read_body(response, action)  # read it all now (bounded) and release the connection
                except exc.TransportError as failure:  # cut off mid-body
                    if (idempotent or policy.retry_writes) and attempt < policy.max_attempts:
                        delay = policy.backoff(attempt)
                        self._wait_to_retry(method, url, action, "a body cut short", attempt, policy, delay)
                        continue
                    raise failure from None
            return response

    def _read_body(self, response: requests.Response, action: str | None) -> None:
        """Read an ok response's body into ``response.content``, refusing one over the size limit."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            response.close()
            raise exc.BadApiError(f"the answer is {int(declared)} bytes, over the limit of {self.max_response_bytes} "
                                  "(max_response_bytes)", action=action, url=response.url,
                                  status_code=response.status_code)
        chunks = []
        size = 0
        try:
            for chunk in response.iter_content(chunk_size=1 << 16):
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise exc.BadApiError(f"the answer goes on past the limit of {self.max_response_bytes} bytes "
                                          "(max_response_bytes)", action=action, url=response.url,
                                          status_code=response.status_code)
                chunks.append(chunk)
        except requests.RequestException as error:
            raise self._transport_error(error, action, response.url) from None
        finally:
            response.close()
        response._content = b"".join(chunks)
        setattr(response, "_content_consumed", True)

    def _send(self, method: str, url: str, headers: dict[str, str],
              timeout: Any, kwargs: dict[str, Any]) -> requests.Response:
        """One attempt, following redirects only for GET/HEAD and dropping the token off-host."""
        follow = method in ("GET", "HEAD")
        response = self.session.request(method, url, headers=headers, timeout=timeout, verify=self.verify,
                                        allow_redirects=False, stream=True, **kwargs)
        hops = 0
        while follow and response.status_code in REDIRECT_STATUSES and hops < MAX_REDIRECTS:
            location = response.headers.get("Location")
            if not location:
                break
            hops += 1
            target = urljoin(response.url, location)
            response.close()
            hop_headers = dict(headers)
            if not self._same_origin(target):
                hop_headers.pop(self.auth_header, None)
            response = self.session.request(method, target, headers=hop_headers, timeout=timeout,
                                            verify=self.verify, allow_redirects=False, stream=True)
        return response

    def _wait_to_retry(self, method: str, url: str, action: str | None, reason: str, attempt: int,
                       policy: RetryPolicy, delay: float) -> None:
        """Count and log a retry, then sleep before it."""
        self.stats.count_retry(reason)
        logger.warning("retrying %s %s%s after %s (attempt %d of %d) in %.2fs", method, url,
                       f" ({action})" if action else "", reason, attempt + 1, policy.max_attempts, delay)
        time.sleep(delay)

    def _transport_error(self, error: requests.RequestException, action: str | None,
                         url: str) -> exc.TransportError:
        """Map a requests exception; decide whether the request may have reached the server."""
        not_sent = isinstance(error, requests.exceptions.ConnectTimeout)
        if isinstance(error, requests.exceptions.ConnectionError) and not not_sent:
            reason = error.args[0] if error.args else None
            inner = getattr(reason, "reason", reason)
            not_sent = isinstance(inner, (urllib3.exceptions.NewConnectionError,
                                          urllib3.exceptions.ConnectTimeoutError,
                                          urllib3.exceptions.NameResolutionError))
        if isinstance(error, requests.exceptions.SSLError):
            not_sent = True
        if _name_not_found(error):
            message = f"the host name of {url} does not resolve (DNS)"
        else:
            message = self._scrub(f"{type(error).__name__}: {error}")
        cls = exc.RequestTimeout if isinstance(error, requests.Timeout) else exc.TransportError
        return cls(message, action=action, url=url, request_sent=not not_sent)

    def error_from_response(self, response: requests.Response, action: str | None) -> exc.HTTPError:
        """Build the typed HTTPError for a non-ok response, reading at most 64 KiB of its body."""
        text = self._scrub(read_limited(response))
        message, error = parse_error_body(text)
        status = response.status_code
        if not message:
            message = response.reason or f"HTTP {status}"
        cls = error_class(status, error)
        error_obj = cls(status, message, text, action=action, url=response.url, error=error)
        if isinstance(error_obj, exc.RateLimited):
            error_obj.retry_after = _parse_retry_after(response.headers.get("Retry-After"))
        return error_obj

