"""Whether and when to try a failed request again: a pure function of the failure, the attempt,
whether the request may be repeated, and the policy (backoff is the policy's, apart)."""

from __future__ import annotations

import email.utils
import time

from .. import exceptions as exc
from .options import RetryPolicy

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

    * no answer ([`TransportError`][ckan_api_client.exceptions.TransportError]): again when the request may be repeated, or certainly
      never reached the server; never for a host name of another site that does not resolve
      (``dead_link``: once is enough);
    * a status of ``policy.statuses``: again when the request may be repeated, and always on 429
      (refused unprocessed), after ``Retry-After`` when the server gives one no longer than
      ``policy.max_retry_after``;
    * a malformed ok answer ([`MalformedAnswer`][ckan_api_client.exceptions.MalformedAnswer]): again when the request may be repeated: a
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


