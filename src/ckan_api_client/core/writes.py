"""The write protocol, once, for every engine: creates, revises and removals whose outcome may be unknown.

A write that may have landed (the connection died after it was sent, a gateway error, a malformed
answer) is never sent again blindly: it is resolved by reading back. Each piece is an operation
(see [`operation`][ckan_api_client.core.operation]), used by the high-level client, the bulk engine, the
sync engine and the mirror alike:

* [`create_resolving`][ckan_api_client.core.writes.create_resolving]: send a create; tell apart "created now", "an earlier attempt of ours
  landed" (resolved by ``find``) and "it existed already" (its name, its id or both taken: then
  ``find`` says whether it is the caller's; if not, the refusal is raised, and [`taken`][ckan_api_client.core.writes.taken] names what);
* [`revise`][ckan_api_client.core.writes.revise]: ``package_revise`` with only the changed fields, matched on the
  ``metadata_modified`` they were computed against, so a concurrent edit is refused
  ([`ConcurrentModification`][ckan_api_client.exceptions.ConcurrentModification]) instead of overwritten, and a repeat
  of a write that landed cannot apply twice;
* [`repeated`][ckan_api_client.core.writes.repeated]: an idempotent write (a patch by name) sent again after an unknown outcome;
* [`remove`][ckan_api_client.core.writes.remove]: a delete or purge, counted by what was seen: done now, already gone, or gone after
  an attempt whose outcome was unknown.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..exceptions import BadApiError, CkanError, ConcurrentModification, NotFound, ValidationError, outcome_unknown
from .operation import Call, Operation

T = TypeVar("T")

DEFAULT_ATTEMPTS = 5


class CreateOutcome(enum.Enum):
    CREATED = "created"
    """The create was answered: it happened now."""
    RESOLVED = "resolved"
    """An attempt's outcome was unknown, and the object was found by reading back: that attempt landed."""
    TAKEN = "taken"
    """The server said its name or id is in use, with no uncertain attempt before: it existed already."""


@dataclass(frozen=True)
class Created(Generic[T]):
    outcome: CreateOutcome
    result: T
    """What the create answered, or what ``find`` found."""
    uncertain: int
    """How many attempts had an unknown outcome (each resolved by reading back)."""


def taken(error: ValidationError) -> set[str]:
    """Which of "name" and "id" CKAN refused a create for because they are in use."""
    found = set()
    for key in ("name", "id"):
        text = json.dumps(error.error_dict.get(key, ""))
        if "already" in text or "in use" in text:
            found.add(key)
    return found


def create_resolving(send: Call, find: Callable[[], Operation[T | None]], *,
                     attempts: int = DEFAULT_ATTEMPTS) -> Operation[Created[T]]:
    """Create something that ``find`` can look up, through unknown outcomes.

    ``find`` returns the object when it exists as the create would have made it (for the sync engine:
    owned by the source), else None. An answer "name (or id) in use", or a 409 whose reason was lost
    on the way, is looked up with ``find``: found, it is the earlier attempt (RESOLVED) or an object
    that was there before (TAKEN); not found, the refusal is raised as it is.
    """
    uncertain = 0
    for attempt in range(1, attempts + 1):
        try:
            result = yield send
            return Created(CreateOutcome.CREATED, result, uncertain)
        except ValidationError as error:
            found = (yield from find()) if taken(error) or error.reason_lost else None
            if found is None:
                raise
            return Created(CreateOutcome.RESOLVED if uncertain else CreateOutcome.TAKEN, found, uncertain)
        except CkanError as error:
            if not outcome_unknown(error) or attempt == attempts:
                raise
            uncertain += 1
            found = yield from find()
            if found is not None:
                return Created(CreateOutcome.RESOLVED, found, uncertain)
    raise AssertionError("unreachable: the last attempt returns or raises")


def revise(dataset_id: str, metadata_modified: str | None, to_set: Mapping[str, Any], removed: Sequence[str] = (),
           *, current: Mapping[str, Any] | None = None, retry: bool = False) -> Operation[dict[str, Any]]:
    """Send only ``to_set`` (and drop ``removed``) with ``package_revise``; the dataset as saved.

    Matched on ``metadata_modified`` when given: if the dataset changed since, CKAN refuses and
    [`ConcurrentModification`][ckan_api_client.exceptions.ConcurrentModification] is raised. List and dict fields are replaced whole (package_revise
    would merge them item by item): ``current`` tells which fields are lists or dicts on the server.
    ``retry`` lets the transport repeat a matched revise after an unknown outcome: a repeat of one that
    landed is refused as a concurrent modification, so only a caller that then reads the dataset
    again and compares (the sync engine) should ask for it.
    """
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


def repeated(write: Callable[[], Operation[T]], *, attempts: int = DEFAULT_ATTEMPTS) -> Operation[tuple[T, int]]:
    """Run an idempotent write (the same patch twice changes nothing more) until its outcome is known:
    sent again after an unknown outcome. Returns what it answered and how many attempts were uncertain."""
    for attempt in range(1, attempts + 1):
        try:
            return (yield from write()), attempt - 1
        except CkanError as error:
            if attempt == attempts or not outcome_unknown(error):
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


class Removal(enum.Enum):
    DONE = "done"
    """The delete or purge was answered: it happened now."""
    ALREADY_GONE = "already gone"
    """Not there at the first attempt."""
    GONE_AFTER_UNCERTAIN = "gone after an uncertain attempt"
    """Not there after an attempt whose outcome was unknown: maybe that attempt removed it."""


def remove(action: str, ref: str, *, attempts: int = DEFAULT_ATTEMPTS) -> Operation[Removal]:
    """Call a delete or purge action on ``ref``, counted by what was seen (see [`Removal`][ckan_api_client.core.writes.Removal]).

    Not repeated by the transport once sent: an unknown outcome comes back here, is noted, and the
    removal is sent again (removing twice changes nothing)."""
    uncertain = False
    for attempt in range(1, attempts + 1):
        try:
            yield Call(action, {"id": ref}, read_only=False)
            return Removal.DONE
        except NotFound:
            return Removal.GONE_AFTER_UNCERTAIN if uncertain else Removal.ALREADY_GONE
        except CkanError as error:
            if not outcome_unknown(error) or attempt == attempts:
                raise
            uncertain = True
    raise AssertionError("unreachable: the last attempt returns or raises")
