"""Every option of a client, once: the token as a secret that never shows itself, the retry policy, and
[`ClientOptions`][ckan_api_client.core.options.ClientOptions], frozen, built and checked once and handed down to every layer."""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import re
from dataclasses import dataclass, field, fields
from typing import Any, Union
from urllib.parse import quote, quote_plus

from .. import exceptions as exc

logger = logging.getLogger("ckan_api_client")

RETRY_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_READ_DEADLINE = 600.0
"""Seconds a read-only request may take in all (attempts and waits included) by default: a body
trickled byte by byte never trips a per-read timeout, so this bounds it."""

class Secret:
    """A string that never shows itself: repr/str print a placeholder; ``reveal()`` gives the value.

    [`spellings`][ckan_api_client.core.options.Secret.spellings] are the forms in which the value (and the text it was cleaned from) can appear
    in a message: raw, escaped as ``repr`` and JSON print it, URL-encoded. [`scrub`][ckan_api_client.core.options.scrub] masks them all.
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
    [`InvalidInput`][ckan_api_client.exceptions.InvalidInput] before any request, with the token never shown.
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
    """``value`` if an HTTP header can carry it, else [`InvalidInput`][ckan_api_client.exceptions.InvalidInput] (a local error, never retried)."""
    if not isinstance(value, str) or (value and not re.match(r"^[\x20-\x7e\t]*$", value)) or value != value.strip():
        raise exc.InvalidInput(f"the {name} header value has a control or non-ASCII character, or whitespace around "
                               "it: no HTTP header can carry that")
    return value



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

    Build it with [`build`][ckan_api_client.core.options.ClientOptions.build] (which checks the values and wraps the token) or change one with
    [`replace`][ckan_api_client.core.options.ClientOptions.replace]. The clients accept the same names as keyword arguments.
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
        """Options from keyword arguments, checked; [`InvalidInput`][ckan_api_client.exceptions.InvalidInput] names a wrong one."""
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
        check_timeout(updated.timeout)
        if updated.read_deadline is not None and not _positive(updated.read_deadline):
            raise exc.InvalidInput("read_deadline must be a positive number of seconds (or None for no limit)")
        if not isinstance(updated.max_response_bytes, int) or updated.max_response_bytes < 1:
            raise exc.InvalidInput("max_response_bytes must be a positive integer")
        if updated.max_rps is not None and updated.max_rps <= 0:
            raise exc.InvalidInput("max_rps must be positive")
        if updated.user_agent is not None:
            check_header_value("User-Agent", updated.user_agent)
        if not isinstance(updated.auth_header, str) or not re.match(r"^[A-Za-z0-9-]+$", updated.auth_header):
            raise exc.InvalidInput(f"auth_header must be a header name (letters, digits, -), not {updated.auth_header!r}")
        return updated

    @property
    def pool_size(self) -> int:
        """Connections kept open: one per request in flight and one for a check run alongside them (the
        token's, while a dump's walks start), never fewer than 4. One fewer, and urllib3 warns that its pool
        is full and throws a connection away."""
        return max(4, self.concurrency + 1)

    def agent(self, default: str) -> str:
        return self.user_agent or default



def _positive(seconds: Any) -> bool:
    return isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and 0 < seconds < float("inf")


def check_timeout(timeout: Any) -> None:
    """[`InvalidInput`][ckan_api_client.exceptions.InvalidInput] unless ``timeout`` is None, a positive number
    of seconds, or a (connect, read) pair of them (either may be None: no limit)."""
    if timeout is None or _positive(timeout):
        return
    if isinstance(timeout, tuple) and len(timeout) == 2 and all(t is None or _positive(t) for t in timeout):
        return
    raise exc.InvalidInput(f"timeout must be a positive number of seconds or a (connect, read) pair of them, "
                           f"not {timeout!r}")


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


DEFAULT: Any = "default"
"""The default of an argument whose default comes from the options (the same word in every layer)."""

