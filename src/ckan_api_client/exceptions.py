"""The one exception tree of ckan-api-client.

::

    CkanError                       base of everything this library raises
    ├── HTTPError                   the server answered with a non-ok status (the original client's exception)
    │   ├── BadRequest              400, e.g. an unknown action
    │   ├── NotAuthorized           403
    │   ├── NotFound                404
    │   ├── ValidationError         409 "Validation Error", with the field errors in ``error_dict``
    │   │   └── ConcurrentModification  an update refused because the object changed meanwhile
    │   ├── SearchQueryError        409 "Search Query Error" (bad Solr syntax)
    │   ├── SearchError             409/500 "Search Error" / "Search Index Error"
    │   ├── RateLimited             429
    │   └── ServerError             5xx
    ├── TransportError              no usable answer: timeout, refused or reset connection
    │   └── RequestTimeout          connect or read timeout fired
    ├── BadApiError                 an ok status but a body of the wrong shape
    │   └── MalformedAnswer         not a well-formed envelope at all (cut or invalid JSON, HTML, null result)
    ├── RedirectError               a redirect that would drop the request body or leave the host
    ├── DownloadError               a file download that is not the file (HTML page, wrong size or hash)
    │   └── DestinationExists       the local file exists and differs (not replaced unless asked)
    ├── InvalidToken                the server does not recognise the API token (it would act as anonymous)
    ├── MassDeleteRefused           a sync would delete more than its limit allows: nothing was written
    └── InvalidInput                bad input caught before any request (also a ValueError)

No exception carries the API token: messages come from the server's answer and are scrubbed of
the token before they are stored.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = [
    "CkanError",
    "HTTPError",
    "BadRequest",
    "NotAuthorized",
    "NotFound",
    "ValidationError",
    "SearchQueryError",
    "SearchError",
    "RateLimited",
    "ServerError",
    "TransportError",
    "RequestTimeout",
    "BadApiError",
    "MalformedAnswer",
    "RedirectError",
    "DownloadError",
    "InvalidInput",
    "InvalidToken",
    "DestinationExists",
    "MassDeleteRefused",
    "OperationFailure",
    "ConcurrentModification",
    "outcome_unknown",
]


class CkanError(Exception):
    """Base of every error raised by ckan-api-client."""


class HTTPError(CkanError):
    """The server answered with a non-ok HTTP status.

    ``status_code``, ``message`` and ``original`` are the original client's documented attributes:
    ``original`` is the response body as text (cut at 64 KiB). ``action`` and ``url`` say what was
    called; ``error`` is CKAN's parsed error object (``{"__type": ..., "message": ...}``) when
    the body had one, else ``None``; ``error_type`` is its ``__type``.
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        original: str | None = None,
        *,
        action: str | None = None,
        url: str | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(status_code, message)
        self.status_code = status_code
        self.message = message
        self.original = original
        self.action = action
        self.url = url
        self.error: dict[str, Any] | None = dict(error) if error is not None else None
        self.retry_after: float | None = None
        """Seconds the server asked to wait before trying again (``Retry-After``), if it said."""

    @property
    def reason_lost(self) -> bool:
        """True when the body was not CKAN's error envelope (cut short, or a proxy's page): the
        status is known, but not why; a caller for whom the reason matters reads back instead."""
        return self.error is None

    @property
    def error_type(self) -> str | None:
        """CKAN's ``__type`` for this error ("Not Found Error", "Validation Error", ...)."""
        if self.error is None:
            return None
        value = self.error.get("__type")
        return str(value) if value is not None else None

    def __str__(self) -> str:
        where = f" {self.action}" if self.action else (f" {self.url}" if self.url else "")
        kind = f" [{self.error_type}]" if self.error_type else ""
        return f"HTTP {self.status_code}{where}{kind}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, message={self.message!r}, action={self.action!r})"


class BadRequest(HTTPError):
    """400: the request was malformed, or the action does not exist."""


class NotAuthorized(HTTPError):
    """403: the key (or its absence) does not allow this."""


class NotFound(HTTPError):
    """404: no such object (or action)."""


class ValidationError(HTTPError):
    """409: CKAN rejected the data; ``error_dict`` maps each field to its messages."""

    @property
    def error_dict(self) -> dict[str, Any]:
        """Field errors, e.g. ``{"name": ["Must be purely lowercase alphanumeric ..."]}``."""
        if not self.error:
            return {}
        return {k: v for k, v in self.error.items() if k not in ("__type", "message")}

    def __str__(self) -> str:
        base = super().__str__()
        fields = self.error_dict
        if not fields or not (self.error or {}).get("message"):
            return base  # without a message of its own, the message already lists the fields
        parts = []
        for key, value in fields.items():
            text = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
            parts.append(f"{key}: {text}")
        return f"{base} ({', '.join(parts)})"


class SearchQueryError(HTTPError):
    """409 "Search Query Error": the search parameters were invalid (e.g. Solr syntax)."""


class SearchError(HTTPError):
    """"Search Error" or "Search Index Error": the search backend failed."""


class RateLimited(HTTPError):
    """429: too many requests; ``retry_after`` is the server's hint in seconds, if it gave one."""


class ServerError(HTTPError):
    """5xx: the server (or a gateway in front of it) failed."""


class TransportError(CkanError):
    """No usable HTTP answer: the connection was refused, reset or timed out.

    ``request_sent`` is False when the request certainly never reached the server (so it is
    safe to send again), True when it may have been processed: the outcome of a write is then
    unknown and must be found by reading back, not by sending it again.
    """

    def __init__(self, message: str, *, action: str | None = None, url: str | None = None,
                 request_sent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.action = action
        self.url = url
        self.request_sent = request_sent
        self.status_code: int | None = None
        self.dns_failure = False
        """The host name did not resolve: nothing was sent, and for another site's link, trying again will not help."""
        self.body_cut = False
        """The answer had begun (status and headers came) and its body was cut off."""

    def __str__(self) -> str:
        where = f" {self.action}" if self.action else (f" {self.url}" if self.url else "")
        return f"transport error{where}: {self.message}"


class RequestTimeout(TransportError):
    """The connect or read timeout fired."""


class BadApiError(CkanError):
    """The server answered ok, but not with what the API promises (wrong shape, invalid JSON)."""

    def __init__(self, message: str, *, action: str | None = None, url: str | None = None,
                 status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.action = action
        self.url = url
        self.status_code = status_code

    def __str__(self) -> str:
        where = f" {self.action}" if self.action else (f" {self.url}" if self.url else "")
        return f"unexpected API answer{where}: {self.message}"


class MalformedAnswer(BadApiError):
    """An ok status whose body is not a well-formed answer: invalid or cut JSON, an HTML page, no
    ``result``, or a null ``result`` from a read that always has one. Reads are retried on it; for a
    write it means the outcome is unknown (it may have been applied)."""


class RedirectError(CkanError):
    """A redirect that the client will not follow: on a write (the body would be lost)."""


class DownloadError(CkanError):
    """What came back is not the file: an HTML page, or a size or hash that does not match."""


class DestinationExists(DownloadError):
    """The file to write exists and differs from what would be written; ``path`` says which."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class InvalidToken(CkanError):
    """The server does not recognise the API token: CKAN would silently treat every call as anonymous."""


class MassDeleteRefused(CkanError):
    """A sync would delete more than it is allowed to (or the source is empty or unreadable): nothing was written."""


class InvalidInput(CkanError, ValueError):
    """Bad input from the caller, caught before any request was sent."""


class OperationFailure(CkanError):
    """A multi-step operation could not complete (kept from the original client's exceptions)."""


class ConcurrentModification(ValidationError):
    """The object changed on the server since it was read: the update was refused, not applied.

    Read it again, re-apply your change, and update again.
    """


def outcome_unknown(error: BaseException) -> bool:
    """True when a write that failed with ``error`` may nevertheless have been applied.

    That is a connection lost after the request was sent, a timeout, or a gateway error
    (502/503/504: a proxy may have forwarded the request before failing). Such a write must be
    resolved by reading back, not by sending it again blindly.
    """
    if isinstance(error, TransportError):
        return error.request_sent
    if isinstance(error, ServerError):
        return error.status_code in (502, 503, 504)
    return isinstance(error, BadApiError)  # an ok status with a broken body: it was processed
