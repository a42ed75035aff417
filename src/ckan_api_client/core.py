"""The sans-IO core: every decision the clients make about a request, with no I/O in it.

Both shells, the sync :class:`~ckan_api_client.transport.Transport` (requests) and the async
:class:`~ckan_api_client.async_transport.AsyncTransport` (httpx), only send bytes and wait; what to
send, what an answer means and whether to try again is decided here, once:

* :class:`ActionCall` and :func:`build_action_call`: an Action API request (URL under any base
  path, method, JSON body or query parameters, whether it may be repeated);
* :func:`decode_answer`: CKAN's envelope on an ok status, a malformed answer told apart
  (:class:`~ckan_api_client.exceptions.MalformedAnswer`: invalid or cut JSON, an HTML page, a
  missing or null ``result`` from a read that always has one), :func:`error_from_answer` for the rest;
* :func:`retry_delay`: whether and when to try again (a pure function of the failure, the attempt,
  whether the request may be repeated, and the policy);
* :class:`RateSchedule`: the slots of a requests-per-second limit;
* :class:`Capabilities` from ``status_show``; the keyset paging of ``package_search``
  (:func:`id_page_query`) and of DataStore tables (:func:`datastore_next_page`).
"""

from __future__ import annotations

import dataclasses
import email.utils
import ipaddress
import json
import logging
import os
import random
import re
import time
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence, Union
from urllib.parse import quote, quote_plus, urljoin, urlsplit

from . import exceptions as exc
from ._version import __version__

logger = logging.getLogger("ckan_api_client")

__all__ = ["ActionCall", "Capabilities", "ClientOptions", "NO_RETRY", "RateSchedule", "RetryPolicy", "Secret", "build_action_call",
           "decode_answer", "error_from_answer", "is_read_only", "parse_error_body", "retry_delay"]

RETRY_STATUSES = frozenset({429, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ERROR_BODY_LIMIT = 64 * 1024
DEFAULT_READ_DEADLINE = 600.0
"""Seconds a read-only request may take in all (attempts and waits included) by default: a body
trickled byte by byte never trips a per-read timeout, so this bounds it."""

ACTION_PREFIX = "/api/3/action/"
ACTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_API_SUFFIX = re.compile(r"/api(/\d+)?(/action(/[A-Za-z_]*)?)?/?$")
_READ_SUFFIXES = ("_show", "_list", "_search", "_search_sql", "_autocomplete", "_count", "_info",
                  "_list_for_user", "_activity_list", "_followee_list", "_follower_list")
_READ_PREFIXES = ("am_following_", "help_show", "status_show")
_MAY_ANSWER_NULL = frozenset({"help_show"})
"""Read-only actions whose ``result`` may legitimately be null (help_show of an undocumented action)."""
_WRITES_THAT_ANSWER = ("_create", "_update", "_patch", "_revise", "_upsert")
"""Writes that always answer what they wrote (a delete or a purge answers null)."""


class Secret:
    """A string that never shows itself: repr/str print a placeholder; ``reveal()`` gives the value.

    :meth:`spellings` are the forms in which the value (and the text it was cleaned from) can appear
    in a message: raw, escaped as ``repr`` and JSON print it, URL-encoded. :func:`scrub` masks them all.
    """

    __slots__ = ("_value", "_spellings")

    def __init__(self, value: str, *, given: str | None = None) -> None:
        self._value = value
        self._spellings = tuple(sorted({form for text in {value, given or value} if text
                                        for form in _spellings_of(text)}, key=len, reverse=True))

    def reveal(self) -> str:
        return self._value

    def spellings(self) -> tuple[str, ...]:
        """Every form of the secret to mask in a message, longest first."""
        return self._spellings

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:  # pickling would write the token out: refuse it
        raise TypeError("a Secret cannot be pickled")


def _spellings_of(text: str) -> set[str]:
    forms = {text, repr(text)[1:-1], json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1],
             quote(text, safe=""), quote_plus(text, safe="")}
    forms |= {form.strip() for form in forms}
    return {form for form in forms if len(form) >= 4}  # a fragment that short would mask ordinary words


def scrub(text: str, secret: Secret | None) -> str:
    """``text`` with every spelling of the secret blotted out (for messages built from answers and errors)."""
    if secret is None:
        return text
    for form in secret.spellings():
        if form in text:
            text = text.replace(form, "********")
    return text


_HEADER_SAFE = re.compile(r"^[\x21-\x7e]+$")
"""What a token may hold: printable ASCII without spaces (CKAN's tokens are JWTs, old API keys UUIDs)."""


def token_secret(token: str | Secret | None) -> Secret | None:
    """The token as it will be sent, or None for no token.

    Whitespace around it is stripped with a warning (a token read from a file ends with a newline);
    anything an HTTP header cannot carry (a space, a control or non-ASCII character inside it) is
    :class:`~ckan_api_client.exceptions.InvalidInput` before any request, with the token never shown.
    """
    if token is None:
        return None
    raw = token.reveal() if isinstance(token, Secret) else token
    if not isinstance(raw, str):
        raise exc.InvalidInput(f"the API token must be a string, not {type(raw).__name__}")
    stripped = raw.strip()
    if not stripped:
        return None
    if stripped != raw:
        logger.warning("the API token had whitespace around it (a newline from a file?): it was stripped")
    if not _HEADER_SAFE.match(stripped):
        raise exc.InvalidInput("the API token contains a space, a control character or a non-ASCII character, "
                               "which no HTTP header can carry: check how it was read or pasted")
    if isinstance(token, Secret) and stripped == raw:
        return token
    return Secret(stripped, given=raw)


def check_header_value(name: str, value: str) -> str:
    """``value`` if an HTTP header can carry it, else :class:`InvalidInput` (a local error, never retried)."""
    if not isinstance(value, str) or (value and not re.match(r"^[\x20-\x7e\t]*$", value)) or value != value.strip():
        raise exc.InvalidInput(f"the {name} header value has a control or non-ASCII character, or whitespace around "
                               "it: no HTTP header can carry that")
    return value


# ---------------------------------------------------------------- the site


def site_root(base_url: str) -> str:
    """The validated root URL of a CKAN site (no trailing slash); :class:`InvalidInput` otherwise, in one
    line that says what is wrong: no scheme, no host, a port that is not a number, an API address."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise exc.InvalidInput("the site URL is empty: give the portal's address, e.g. https://demo.ckan.org")
    text = base_url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        if "://" not in text:
            raise exc.InvalidInput(f"{text!r} has no scheme: give the site's URL with it, e.g. 'https://{text}'")
        raise exc.InvalidInput(f"{text!r} is not an http(s) URL")
    try:
        port = parts.port
    except ValueError:
        raise exc.InvalidInput(f"{text!r} has no valid port: after the host's ':' comes a number from 1 to "
                               "65535") from None
    if not parts.hostname or port == 0 or any(c.isspace() for c in text):
        raise exc.InvalidInput(f"{text!r} is not a usable site URL (no host, port 0, or a space in it)")
    if parts.query or parts.fragment:
        root = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
        raise exc.InvalidInput(f"{text!r} has a query or a fragment: give the site's root URL, e.g. {root!r}")
    api_suffix = _API_SUFFIX.search(parts.path)
    if api_suffix:
        root = f"{parts.scheme}://{parts.netloc}{parts.path[:api_suffix.start()]}"
        raise exc.InvalidInput(f"{text!r} is an API address: give the site's root URL instead, e.g. {root!r}")
    return text.rstrip("/")


def not_a_site_root(url: str | None) -> str:
    """What to add to an error whose answer is not CKAN's API at all: the URL is not a CKAN site root."""
    if not url:
        return ""
    parts = urlsplit(url)
    path = parts.path
    if ACTION_PREFIX in path:
        path = path[:path.index(ACTION_PREFIX)]
    root = f"{parts.scheme}://{parts.netloc}{path}".rstrip("/")
    origin = f"{parts.scheme}://{parts.netloc}"
    hint = f"try {origin!r}" if root != origin else "check the address: it may not be a CKAN portal"
    return f"; {root} does not answer as a CKAN site root (no Action API under /api/3/action/): {hint}"


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token_transport(base_url: str, api_key: Secret | None, allow_insecure_http: bool) -> None:
    """Refuse to send a token over plain http to a host that is not loopback, unless allowed."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if api_key is not None and parts.scheme == "http" and not is_loopback(host) and not allow_insecure_http:
        raise exc.InvalidInput(
            f"refusing to send an API token over plain http to {host}: use https, or pass "
            "allow_insecure_http=True if you accept that anyone on the path can read it")


def same_origin(url: str, base_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(base_url)
    try:
        return ((a.hostname or "").lower(), a.port, a.scheme) == ((b.hostname or "").lower(), b.port, b.scheme)
    except ValueError:  # a port that is not a number: not the site's origin
        return False


def unreachable(url: str, why: str) -> str:
    """One line for a request that got no answer: where to, and why in a few words (no library internals)."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 0
    return f"no answer from {parts.hostname}:{port} ({why})"


_ERRNO = re.compile(r"\[Errno (\d+)\]")
_TLS_TEXT = re.compile(r"(certificate verify failed[^'\"()]*|wrong version number|handshake failure)", re.I)


def why_unreachable(text: str) -> str:
    """The reason inside an HTTP library's connection error text, in a few words: "connection refused",
    "certificate verify failed: self-signed certificate", ...; the last resort is the text, cut short."""
    tls = _TLS_TEXT.search(text)
    if tls:
        return "TLS: " + tls.group(1).strip().rstrip(".")
    errno = _ERRNO.findall(text)
    if errno:
        return os.strerror(int(errno[-1])).lower()
    if "RemoteDisconnected" in text or "Server disconnected" in text or "Connection aborted" in text:
        return "the connection was closed before an answer came"
    return " ".join(text.split())[:200]


def url_for(base_url: str, path: str) -> str:
    if path.startswith(("http://", "https://")):
        return path
    return base_url + "/" + path.lstrip("/")


# ---------------------------------------------------------------- options

DEFAULT_TIMEOUT = (10.0, 120.0)
"""Default (connect, read) timeout in seconds."""
DEFAULT_MAX_RESPONSE = 1 << 30
"""Largest ok answer read into memory (1 GiB): an endless or absurd body is an error, not a hang."""
DEFAULT_CONCURRENCY = 8

Timeout = Union[float, tuple[float, float], None]


@dataclass(frozen=True)
class ClientOptions:
    """Every option of a client, in one frozen object: built once, handed down, never re-listed.

    Build it with :meth:`build` (which checks the values and wraps the token) or change one with
    :meth:`replace`. The clients accept the same names as keyword arguments.
    """

    api_key: Secret | None = field(default=None, repr=False)
    timeout: Timeout = DEFAULT_TIMEOUT
    """Seconds: one number, or (connect, read) (each read of the body, not the whole)."""
    read_deadline: float | None = DEFAULT_READ_DEADLINE
    """Seconds a read-only request may take in all, retries included (None: no limit)."""
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy())
    verify: bool | str = True
    """TLS verification: True, False, or the path of a CA bundle."""
    auth_header: str = "Authorization"
    user_agent: str | None = None
    allow_insecure_http: bool = False
    """Send the token over plain http to a host that is not loopback."""
    max_rps: float | None = None
    """A requests-per-second limit shared by every thread or task of the client."""
    concurrency: int = DEFAULT_CONCURRENCY
    """Requests in flight at once: the connection pool's size, and the async client's limit."""
    page_size: int | None = None
    """Rows per package_search page (default: the server's largest for ids, 1,000 for full datasets)."""
    max_response_bytes: int = DEFAULT_MAX_RESPONSE

    @classmethod
    def build(cls, api_key: str | Secret | None = None, **options: Any) -> ClientOptions:
        """Options from keyword arguments, checked; :class:`InvalidInput` names a wrong one."""
        return cls().replace(api_key=api_key, **options)

    def replace(self, **changes: Any) -> ClientOptions:
        """A copy with ``changes`` applied and checked (``api_key`` may be given as a plain string)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise exc.InvalidInput(f"unknown client option(s): {', '.join(sorted(unknown))}")
        if "api_key" in changes:
            changes["api_key"] = token_secret(changes["api_key"])
        if changes.get("retry", RetryPolicy()) is None:
            changes["retry"] = RetryPolicy()
        updated = dataclasses.replace(self, **changes)
        if updated.page_size is not None and (not isinstance(updated.page_size, int) or updated.page_size < 1):
            raise exc.InvalidInput("page_size must be a positive integer (or None for the defaults)")
        if not isinstance(updated.concurrency, int) or updated.concurrency < 1:
            raise exc.InvalidInput("concurrency must be a positive integer")
        if updated.max_rps is not None and updated.max_rps <= 0:
            raise exc.InvalidInput("max_rps must be positive")
        if updated.user_agent is not None:
            check_header_value("User-Agent", updated.user_agent)
        if not isinstance(updated.auth_header, str) or not re.match(r"^[A-Za-z0-9-]+$", updated.auth_header):
            raise exc.InvalidInput(f"auth_header must be a header name (letters, digits, -), not {updated.auth_header!r}")
        return updated

    @property
    def pool_size(self) -> int:
        """Connections kept open: one per request in flight, and never fewer than 4."""
        return max(4, self.concurrency)

    def agent(self, default: str) -> str:
        return self.user_agent or default


class BaseTransport:
    """What the sync and the async transport share: the site, its options, and a repr without the token."""

    def __init__(self, base_url: str, options: ClientOptions | None, library: str) -> None:
        self.base_url = site_root(base_url)
        self.options = options or ClientOptions()
        check_token_transport(self.base_url, self.options.api_key, self.options.allow_insecure_http)
        self.user_agent = self.options.agent(f"ckan-api-client/{__version__} (+{library})")

    @property
    def api_key(self) -> Secret | None:
        return self.options.api_key

    @property
    def retry(self) -> RetryPolicy:
        return self.options.retry

    def __repr__(self) -> str:
        key = "<set>" if self.api_key is not None else None
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key!r})"


# ---------------------------------------------------------------- retries


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


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (a number or an HTTP date), or None."""
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
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_delay(failure: exc.CkanError, *, attempt: int, idempotent: bool, policy: RetryPolicy,
                dead_link: bool = False) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None: give up and raise ``failure``.

    * no answer (:class:`TransportError`): again when the request may be repeated, or certainly
      never reached the server; never for a host name of another site that does not resolve
      (``dead_link``: once is enough);
    * a status of ``policy.statuses``: again when the request may be repeated, and always on 429
      (refused unprocessed), after ``Retry-After`` when the server gives one no longer than
      ``policy.max_retry_after``;
    * a malformed ok answer (:class:`MalformedAnswer`): again when the request may be repeated: a
      cut body cannot be told from garbage, and repeating a read is always safe;
    * anything else: no.
    """
    if attempt >= policy.max_attempts:
        return None
    repeatable = idempotent or policy.retry_writes
    if isinstance(failure, exc.TransportError):
        if dead_link or not (repeatable or not failure.request_sent):
            return None
        return policy.backoff(attempt)
    if isinstance(failure, exc.HTTPError):
        if failure.status_code not in policy.statuses or not (repeatable or failure.status_code == 429):
            return None
        hinted = failure.retry_after
        if hinted is not None:
            return hinted if hinted <= policy.max_retry_after else None
        return policy.backoff(attempt)
    if isinstance(failure, exc.MalformedAnswer):
        return policy.backoff(attempt) if repeatable else None
    return None


def retry_reason(failure: exc.CkanError) -> str:
    """A short name for a retry's cause, for counters and logs."""
    if isinstance(failure, exc.HTTPError):
        return f"HTTP {failure.status_code}"
    if isinstance(failure, exc.MalformedAnswer):
        return "a malformed answer"
    if isinstance(failure, exc.TransportError) and failure.body_cut:
        return "a body cut short"
    return type(failure).__name__


DEFAULT: Any = "default"
"""The default of an argument whose default comes from the options (the same word in every layer)."""


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


# ---------------------------------------------------------------- actions


def is_read_only(action: str) -> bool:
    """True for actions that change nothing (``*_show``, ``*_list``, ``*_search``, ...): safe to retry."""
    return action.endswith(_READ_SUFFIXES) or action.startswith(_READ_PREFIXES)


def always_answers(action: str) -> bool:
    """True when the action's ``result`` is never null: reads (but help_show) and creates, updates, patches."""
    if action in _MAY_ANSWER_NULL:
        return False
    return is_read_only(action) or action.endswith(_WRITES_THAT_ANSWER)


def form_value(key: str, value: Any) -> str:
    """A field of a multipart form as text; nested values cannot be sent that way."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    raise exc.InvalidInput(
        f"field {key!r} is a {type(value).__name__}: a multipart upload carries only plain values; "
        "send nested fields in a separate call")


def query_params(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``data`` as query parameters for a GET action (lists repeated, nested values as JSON)."""
    params: list[tuple[str, str]] = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
            params.extend((key, str(v)) for v in value)
        elif isinstance(value, (dict, list, tuple)):
            params.append((key, json.dumps(value)))
        elif isinstance(value, bool):
            params.append((key, "true" if value else "false"))
        else:
            params.append((key, str(value)))
    return params


@dataclass(frozen=True)
class ActionCall:
    """One Action API request, ready for a shell to send."""

    action: str
    method: str
    path: str
    params: Sequence[tuple[str, str]] = ()
    body: bytes | None = None
    """The JSON body of a POST without files (a multipart body is built by the shell)."""
    fields: Mapping[str, Any] | None = None
    """The plain fields of a multipart POST."""
    idempotent: bool = False
    """May be sent again after it may have reached the server."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json"} if self.body is not None else {}


def build_action_call(name: str, data: Mapping[str, Any] | None, *, method: str = "POST", multipart: bool = False,
                      read_only: bool | None = None) -> ActionCall:
    """Validate and describe a call of the action ``name``; :class:`InvalidInput` before anything is sent."""
    if not isinstance(name, str) or not ACTION_NAME.match(name):
        raise exc.InvalidInput(f"{name!r} is not an action name")
    if data is not None and not isinstance(data, Mapping):
        raise exc.InvalidInput(f"the data for {name} must be a dict, not {type(data).__name__}")
    method = method.upper()
    if method not in ("GET", "POST"):
        raise exc.InvalidInput(f"actions are called with GET or POST, not {method}")
    payload = dict(data or {})
    idempotent = is_read_only(name) if read_only is None else read_only
    path = f"{ACTION_PREFIX}{name}"
    if multipart:
        if method != "POST":
            raise exc.InvalidInput("file uploads are sent with POST")
        fields = {k: form_value(k, v) for k, v in payload.items() if v is not None}
        return ActionCall(name, method, path, fields=fields, idempotent=idempotent)
    if method == "GET":
        return ActionCall(name, method, path, params=query_params(payload), idempotent=idempotent)
    return ActionCall(name, method, path, body=json.dumps(payload).encode("utf-8"), idempotent=idempotent)


@dataclass(frozen=True)
class RawRequest:
    """A request of the seed's ``request(method, path, data=...)``, described."""

    headers: dict[str, str]
    body: Any
    """bytes for a serialized body, else what was given (a form dict with files, a file, None)."""
    action: str | None
    idempotent: bool


def describe_raw_request(method: str, path: Any, data: Any, headers: Mapping[str, str] | None,
                         with_files: bool) -> RawRequest:
    """A non-string ``data`` goes as JSON (unless files make it a form); an action path tells the
    action, and whether the request may be repeated."""
    if not isinstance(path, str):
        raise exc.InvalidInput("path must be a string")
    sent_headers = dict(headers or {})
    if data is not None and not with_files and not isinstance(data, (str, bytes, bytearray)) \
            and not hasattr(data, "read"):
        data = json.dumps(data).encode("utf-8")
        sent_headers["Content-Type"] = "application/json"
    if isinstance(data, str):
        data = data.encode("utf-8")
    action = None
    if path.startswith(ACTION_PREFIX):
        action = path[len(ACTION_PREFIX):].split("?")[0].strip("/") or None
    idempotent = method.upper() in ("GET", "HEAD", "OPTIONS") or (action is not None and is_read_only(action))
    return RawRequest(sent_headers, data, action, idempotent)


# ---------------------------------------------------------------- answers


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
        if isinstance(error, dict) and "success" in body:  # CKAN's envelope (another server's JSON is not)
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


_NOT_AN_API_STATUSES = frozenset({404, 405, 501})
"""Statuses with which a server that is not CKAN (or a page path, not the site root) answers an action URL."""

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


def error_from_answer(status: int, reason: str | None, text: str, *, retry_after: str | None,
                      action: str | None, url: str | None) -> exc.HTTPError:
    """The typed error for a non-ok answer (``text``: at most 64 KiB of its body, token scrubbed).

    A body that is not CKAN's envelope (cut, or a proxy's page) keeps the status and its class:
    ``error.error`` is then None, which tells a caller that the reason was lost on the way.
    """
    message, error = parse_error_body(text)
    cls = error_class(status, error)
    message = message or reason or f"HTTP {status}"
    if error is None and status in _NOT_AN_API_STATUSES and url and ACTION_PREFIX in url \
            and not message.startswith("invalid JSON"):
        message += not_a_site_root(url)
    failure = cls(status, message, text, action=action, url=url, error=error)
    failure.retry_after = parse_retry_after(retry_after)
    return failure


def refuse_oversized(declared_length: str | None, limit: int, *, action: str | None, url: str | None,
                     status: int) -> None:
    """:class:`BadApiError` when an answer announces more bytes than may be read into memory."""
    if declared_length and declared_length.isdigit() and int(declared_length) > limit:
        raise exc.BadApiError(f"the answer is {int(declared_length)} bytes, over the limit of {limit} "
                              "(max_response_bytes)", action=action, url=url, status_code=status)


def too_long(size: int, limit: int, *, action: str | None, url: str | None, status: int) -> exc.BadApiError:
    """The error for an answer that goes on past the size limit while it is read."""
    return exc.BadApiError(f"the answer goes on past the limit of {limit} bytes (max_response_bytes)",
                           action=action, url=url, status_code=status)


def decode_answer(status: int, body: bytes, *, action: str, url: str | None = None) -> Any:
    """The ``result`` of an ok answer to ``action``.

    Raises :class:`MalformedAnswer` when the body is not a well-formed envelope (invalid or cut
    JSON, an HTML page, no ``success``, no ``result``, or a null ``result`` from an action that always
    has one (:func:`always_answers`: reads, creates, updates; a delete may answer null)): the shells retry that for reads, and for writes it is an unknown outcome. A
    well-formed ``success: false`` raises the typed error it describes.
    """
    def malformed(message: str) -> exc.MalformedAnswer:
        return exc.MalformedAnswer(message, action=action, url=url, status_code=status)

    try:
        envelope = json.loads(body)
    except ValueError:
        summary, _ = parse_error_body(body[:ERROR_BODY_LIMIT].decode("utf-8", errors="replace"))
        hint = not_a_site_root(url) if summary and summary.startswith("HTML page") else ""
        raise malformed(f"the answer is not JSON ({summary or 'empty'}){hint}") from None
    if not isinstance(envelope, dict) or "success" not in envelope:
        raise malformed(f"the answer has no 'success' field: {str(envelope)[:200]}")
    if envelope["success"] is not True:
        error = envelope.get("error")
        if not isinstance(error, dict):
            raise malformed("the answer says success: false but gives no error")
        message = str(error.get("message") or error.get("__type") or "unknown error")
        raise error_class(status, error)(status, message, body[:ERROR_BODY_LIMIT].decode("utf-8", errors="replace"),
                                         action=action, url=url, error=error)
    if "result" not in envelope:
        raise malformed("the answer has no 'result' field")
    result = envelope["result"]
    if result is None and always_answers(action):
        raise malformed(f"{action} answered a null result")
    return result


# ---------------------------------------------------------------- what the site can do


@dataclass(frozen=True)
class Capabilities:
    """What a CKAN site says of itself in ``status_show``."""

    ckan_version: str
    extensions: frozenset[str]

    @classmethod
    def from_status(cls, status: Any) -> Capabilities:
        if not isinstance(status, dict) or not isinstance(status.get("ckan_version"), str):
            raise exc.BadApiError("status_show did not give a ckan_version", action="status_show")
        return cls(status["ckan_version"], frozenset(map(str, status.get("extensions") or [])))

    @property
    def version(self) -> tuple[int, ...]:
        """The CKAN version as numbers: ``"2.11.0a"`` gives ``(2, 11, 0)``."""
        numbers = []
        for part in self.ckan_version.split("."):
            digits = re.match(r"\d+", part)
            if not digits:
                break
            numbers.append(int(digits.group()))
        return tuple(numbers)

    def at_least(self, *version: int) -> bool:
        return self.version >= tuple(version)

    def has_extension(self, name: str) -> bool:
        return name in self.extensions
