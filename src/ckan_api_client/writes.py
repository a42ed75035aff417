"""The write protocols, in one place: every create, revise and delete of the layers above goes through here.

* :func:`create_resolving`: send a create; when its outcome is unknown (the connection died after
  it was sent, a gateway error) look the object up before ever sending it again, and tell apart
  "created now", "an earlier attempt of ours landed" and "the name was already taken".
* :func:`revise_dataset`: ``package_revise`` with only the changed fields, matched on the
  ``metadata_modified`` they were computed against, so a concurrent edit is refused
  (:class:`~ckan_api_client.exceptions.ConcurrentModification`) instead of overwritten, and a
  repeat of a write that landed cannot apply twice (so it may be retried).
* :func:`remove`: a delete or purge; what is already gone counts as done, so it may be repeated.

Used by the high-level client, the bulk engine and the sync client alike.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Callable, Generic, Mapping, Sequence, TypeVar

from .exceptions import (BadApiError, CkanError, ConcurrentModification, NotFound, ValidationError,
                         outcome_unknown)
from .low_level import CkanLowlevelClient
from .operations import Call, Operation

__all__ = ["CreateOutcome", "Created", "create_resolving", "name_taken", "removal", "remove", "revise",
           "revise_dataset"]

T = TypeVar("T")

DEFAULT_ATTEMPTS = 5


class CreateOutcome(enum.Enum):
    CREATED = "created"
    """The create was answered: it happened now."""
    RESOLVED = "resolved"
    """An attempt's outcome was unknown, and the object was found by reading back: that attempt landed."""
    TAKEN = "taken"
    """The server said the name is in use, with no uncertain attempt before: the object existed already."""


@dataclass(frozen=True)
class Created(Generic[T]):
    outcome: CreateOutcome
    result: T
    """What the create answered, or what ``find`` found."""
    uncertain: int
    """How many attempts had an unknown outcome (each resolved by reading back)."""


def name_taken(error: ValidationError) -> bool:
    """True when CKAN refused a create because the name is in use ("That URL is already in use")."""
    text = json.dumps(error.error_dict.get("name", ""))
    return "already" in text or "in use" in text


def create_resolving(send: Callable[[], T], find: Callable[[], T | None], *,
                     attempts: int = DEFAULT_ATTEMPTS) -> Created[T]:
    """Create something that ``find`` can look up, through unknown outcomes; see the module documentation.

    ``find`` returns the object when it exists as the create would have made it (by name, and
    for the sync client: owned by the source), else None. A "name in use" answer that ``find``
    does not accept is raised as it is.
    """
    uncertain = 0
    for attempt in range(1, attempts + 1):
        try:
            return Created(CreateOutcome.CREATED, send(), uncertain)
        except ValidationError as error:
            # "Name in use", or a 409 whose reason was lost on the way (a cut body): look it up.
            found = find() if name_taken(error) or error.reason_lost else None
            if found is None:
                raise
            return Created(CreateOutcome.RESOLVED if uncertain else CreateOutcome.TAKEN, found, uncertain)
        except CkanError as error:
            if not outcome_unknown(error) or attempt == attempts:
                raise
            uncertain += 1
            found = find()
            if found is not None:
                return Created(CreateOutcome.RESOLVED, found, uncertain)
    raise AssertionError("unreachable: the last attempt returns or raises")


def revise(dataset_id: str, metadata_modified: str | None, to_set: Mapping[str, Any], removed: Sequence[str] = (),
           *, current: Mapping[str, Any] | None = None, retry: bool = False) -> Operation[dict[str, Any]]:
    """The operation of :func:`revise_dataset` (for the sync and the async client alike)."""
    match: dict[str, Any] = {"id": dataset_id}
    if metadata_modified:
        match["metadata_modified"] = metadata_modified
    now = current or {}
    drop = [f"-{k}" for k in removed] + [f"-{k}" for k, v in to_set.items()
                                           if isinstance(v, (list, dict)) or isinstance(now.get(k), (list, dict))]
    payload: dict[str, Any] = {"match": match, "update": dict(to_set)}
    if drop:
        payload["filter"] = drop
    try:
        # Matched on metadata_modified, a repeat of a write that landed is refused, never applied twice.
        result = yield Call("package_revise", payload, read_only=retry and bool(metadata_modified))
    except ValidationError as error:
        # A refused match, or (matched) a 409 whose reason was lost on the way: the caller reads
        # the dataset again and compares, which tells a landed repeat from a real conflict.
        if "match" in error.error_dict or (metadata_modified and error.reason_lost):
            raise ConcurrentModification(
                error.status_code, f"dataset {dataset_id} changed on the server since it was read: read it "
                "again and re-apply the change", error.original, action=error.action, url=error.url,
                error=error.error) from None
        raise
    if not isinstance(result, dict) or not isinstance(result.get("package"), dict):
        raise BadApiError("package_revise did not return the package", action="package_revise")
    package: dict[str, Any] = result["package"]
    return package


def revise_dataset(client: CkanLowlevelClient, dataset_id: str, metadata_modified: str | None,
                   to_set: Mapping[str, Any], removed: Sequence[str] = (), *,
                   current: Mapping[str, Any] | None = None, retry: bool = False) -> dict[str, Any]:
    """Send only ``to_set`` (and drop ``removed``) with ``package_revise``; return the dataset as saved.

    Matched on ``metadata_modified`` when given: if the dataset changed since, CKAN refuses and
    :class:`ConcurrentModification` is raised. List and dict fields are replaced whole (package_revise
    would merge them item by item): ``current`` tells which fields are lists or dicts on the server.
    ``retry`` lets the transport repeat a matched revise after an unknown outcome: a repeat of one that
    landed is refused as a concurrent modification, so only a caller that then reads the dataset
    again and compares (the sync client) should ask for it.
    """
    return client.run(revise(dataset_id, metadata_modified, to_set, removed, current=current, retry=retry))


def removal(action: str, ref: str) -> Operation[bool]:
    """The operation of :func:`remove`."""
    try:
        yield Call(action, {"id": ref}, read_only=True)
    except NotFound:
        return False
    return True


def remove(client: CkanLowlevelClient, action: str, ref: str) -> bool:
    """Call a delete or purge action on ``ref``; False when it was already gone.

    Deleting twice changes nothing, so the call may be retried after a lost answer.
    """
    return client.run(removal(action, ref))
