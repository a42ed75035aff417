"""What an answer means: CKAN's envelope decoded, a malformed answer told apart from a good one, a
non-ok status made its typed error, a failed connection said in a few words."""

from __future__ import annotations

import json
import os
import re
from typing import Any, Mapping
from urllib.parse import urlsplit

from .. import exceptions as exc
from . import codec
from .calls import ACTION_PREFIX, always_answers
from .retry import parse_retry_after
from .site import not_a_site_root

ERROR_BODY_LIMIT = 64 * 1024


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


_SOLR_REASON = re.compile(r"\[Reason: (?:org\.apache\.solr\.[\w.]+?\.(?=\w+Error))?(.*?)(?:\\+n|\]\\*['\"]\))", re.S)


def solr_reason(message: str) -> str | None:
    """What Solr said of a search it could not run, out of CKAN's "Search Error" message (which wraps it, in
    quotes within quotes, after the whole query CKAN built): its first line, unescaped; None when it is not there."""
    found = _SOLR_REASON.search(message)
    if not found:
        return None
    reason = " ".join(re.sub(r"\\+(['\"])", r"\1", found.group(1)).split())
    return reason or None


def error_from_answer(status: int, reason: str | None, text: str, *, retry_after: str | None,
                      action: str | None, url: str | None) -> exc.HTTPError:
    """The typed error for a non-ok answer (``text``: at most 64 KiB of its body, token scrubbed).

    A body that is not CKAN's envelope (cut, or a proxy's page) keeps the status and its class:
    ``error.error`` is then None, which tells a caller that the reason was lost on the way.
    """
    message, error = parse_error_body(text)
    cls = error_class(status, error)
    message = message or reason or f"HTTP {status}"
    said_by_solr = solr_reason(message) if cls is exc.SearchError else None
    if said_by_solr:
        message = f"Solr cannot run this search: {said_by_solr}"
    if error is None and status in _NOT_AN_API_STATUSES and url and ACTION_PREFIX in url \
            and not message.startswith("invalid JSON"):
        message += not_a_site_root(url)
    failure = cls(status, message, text, action=action, url=url, error=error)
    failure.retry_after = parse_retry_after(retry_after)
    return failure


def refuse_oversized(declared_length: str | None, limit: int, *, action: str | None, url: str | None,
                     status: int) -> None:
    """[`BadApiError`][ckan_api_client.exceptions.BadApiError] when an answer announces more bytes than may be read into memory."""
    if declared_length and declared_length.isdigit() and int(declared_length) > limit:
        raise exc.BadApiError(f"the answer is {int(declared_length)} bytes, over the limit of {limit} "
                              "(max_response_bytes)", action=action, url=url, status_code=status)


def too_long(size: int, limit: int, *, action: str | None, url: str | None, status: int) -> exc.BadApiError:
    """The error for an answer that goes on past the size limit while it is read."""
    return exc.BadApiError(f"the answer goes on past the limit of {limit} bytes (max_response_bytes)",
                           action=action, url=url, status_code=status)


def decode_answer(status: int, body: bytes, *, action: str, url: str | None = None) -> Any:
    """The ``result`` of an ok answer to ``action``.

    Raises [`MalformedAnswer`][ckan_api_client.exceptions.MalformedAnswer] when the body is not a well-formed envelope (invalid or cut
    JSON, an HTML page, no ``success``, no ``result``, or a null ``result`` from an action that always
    has one ([`always_answers`][ckan_api_client.core.calls.always_answers]: reads, creates, updates; a delete may answer null)): the shells retry that for reads, and for writes it is an unknown outcome. A
    well-formed ``success: false`` raises the typed error it describes.
    """
    def malformed(message: str) -> exc.MalformedAnswer:
        return exc.MalformedAnswer(message, action=action, url=url, status_code=status)

    try:
        envelope = codec.loads(body)
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


