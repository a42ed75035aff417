"""One report for every engine: what a run did, counted, with each failure named.

The bulk engine (dump, load, delete), the sync engine and the mirror all fill a [`Report`][ckan_api_client.engines.report.Report];
the command line renders every one with the same function, and its JSON summary has the same keys
whatever the engine ([`Report.summary`][ckan_api_client.engines.report.Report.summary]). Requests, retries and writes are counted by the
transports, not by the engines ([`Measure`][ckan_api_client.engines.report.Measure]).
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..core.calls import is_read_only
from ..core.exchange import BaseTransport
from ..core.streams import BadLine, not_a_record
from ..exceptions import CkanError, InvalidInput, ValidationError

__all__ = ["Failure", "Report", "Measure", "Interrupted"]

FAILED, CONFLICT, INVALID = "failed", "conflict", "invalid"


@dataclass
class Failure:
    """One record (or file, table, organization) that was not done, and why.

    ``kind`` is ``failed`` (an error), ``conflict`` (left alone on purpose: a name or id held by an
    object the engine does not own) or ``invalid`` (a source record that cannot be synced).
    """

    kind: str
    operation: str
    ref: str | None
    """The record's name, id or reference, as the user knows it."""
    reason: str
    source_id: str | None = None
    line: int | None = None
    """The line of the input file it came from."""
    error_type: str | None = None
    field_errors: dict[str, Any] | None = None
    record: Any = None
    """The record as read (to fix and load again), or the text of a line that was not JSON."""

    @classmethod
    def of(cls, operation: str, ref: str | None, error: BaseException, **where: Any) -> Failure:
        """A failure from an exception: its message (or type and message, if it is not ours); bad input
        (:class:`InvalidInput`) is an invalid record, not a failed write."""
        reason = str(error) if isinstance(error, CkanError) else f"{type(error).__name__}: {error}"
        fields = error.error_dict if isinstance(error, ValidationError) else None
        kind = INVALID if isinstance(error, InvalidInput) else FAILED
        return cls(kind, operation, ref, reason, error_type=type(error).__name__, field_errors=fields or None,
                   **where)

    @classmethod
    def of_line(cls, operation: str, ref: str | None, number: int, value: Any) -> Failure | None:
        """The invalid record for a JSON Lines value that is not a record (with the line as read, to fix
        it), or ``None`` when it is one."""
        reason = not_a_record(value)
        if reason is None:
            return None
        return cls(INVALID, operation, ref, reason, line=number,
                   record=value.text if isinstance(value, BadLine) else value)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        what = " ".join(part for part in (self.operation, self.ref or self.source_id) if part)
        return f"{self.kind}: {where}{what}: {self.reason}"


@dataclass
class Report:
    """What a run did (or, dry, would do): counts by outcome, each failure, the requests it took."""

    operation: str
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    """Every failure, conflict and invalid record, in the order met."""
    notes: list[Failure] = field(default_factory=list)
    """What the cleaners changed in a record, and why (not failures)."""
    restored: list[str] = field(default_factory=list)
    """Names of datasets edited on the portal and put back as the source has them."""
    refused: str | None = None
    """Why the run wrote nothing (the delete guard), if it refused."""
    details: dict[str, Any] = field(default_factory=dict)
    """Facts of the run that are not counts (the mirror's identity, an incremental read, the output path)."""
    sink: Callable[[Failure], None] | None = field(default=None, repr=False, compare=False)
    """Called with each failure as it is added (the command line's ``--error-log`` writes it out)."""
    requests: int = 0
    search_requests: int = 0
    write_requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, outcome: str, n: int = 1) -> None:
        if n:
            with self._lock:
                self.counts[outcome] = self.counts.get(outcome, 0) + n

    def add(self, failure: Failure) -> Failure:
        with self._lock:
            self.failures.append(failure)
            if self.sink is not None:
                self.sink(failure)
        return failure

    def note(self, note: Failure) -> None:
        with self._lock:
            self.notes.append(note)

    def restore(self, name: str) -> None:
        with self._lock:
            self.restored.append(name)

    def of_kind(self, kind: str) -> list[Failure]:
        return [f for f in self.failures if f.kind == kind]

    @property
    def failed(self) -> int:
        return len(self.of_kind(FAILED))

    @property
    def errors(self) -> list[Failure]:
        """The failures that are errors (not conflicts, not invalid source records)."""
        return self.of_kind(FAILED)

    @property
    def conflicts(self) -> list[Failure]:
        return self.of_kind(CONFLICT)

    @property
    def invalid(self) -> list[Failure]:
        return self.of_kind(INVALID)

    @property
    def created(self) -> int:
        return self["created"]

    @property
    def updated(self) -> int:
        return self["updated"]

    @property
    def unchanged(self) -> int:
        return self["unchanged"]

    @property
    def deleted(self) -> int:
        return self["deleted"]

    @property
    def resolved(self) -> int:
        """Writes whose outcome was unknown (connection lost, gateway error), resolved by reading back."""
        return self["resolved by reading back"] + self["uncertain writes resolved by reading back"]

    @property
    def ok(self) -> bool:
        """Nothing failed, conflicted or was invalid."""
        return not self.failures

    def __getitem__(self, outcome: str) -> int:
        return self.counts.get(outcome, 0)

    def summary(self) -> dict[str, Any]:
        """The run in one JSON object, with the same keys for every engine."""
        return {"operation": self.operation, "dry_run": self.dry_run, "counts": dict(sorted(self.counts.items())),
                "failed": self.failed, "conflicts": len(self.of_kind(CONFLICT)),
                "invalid": len(self.of_kind(INVALID)), "restored": len(self.restored), "cleaned": len(self.notes),
                "refused": self.refused, "requests": self.requests, "search_requests": self.search_requests,
                "write_requests": self.write_requests, "retries": self.retries, "seconds": round(self.seconds, 3),
                "details": self.details}


class Measure:
    """Fills a report's requests, retries and seconds from the transports' own counters, over a ``with``."""

    def __init__(self, report: Report, *transports: BaseTransport) -> None:
        self.report = report
        self.transports = transports

    def __enter__(self) -> Measure:
        self.started = time.monotonic()
        self.before = [(t.stats.requests, t.stats.retries, t.stats.snapshot()) for t in self.transports]
        return self

    def __exit__(self, *exc_info: object) -> None:
        for transport, (requests, retries, actions) in zip(self.transports, self.before):
            after = transport.stats.snapshot()
            sent = {name: n - actions.get(name, 0) for name, n in after.items()}
            self.report.requests += transport.stats.requests - requests
            self.report.retries += transport.stats.retries - retries
            self.report.search_requests += sent.get("package_search", 0)
            self.report.write_requests += sum(n for name, n in sent.items() if is_write(name))
            by_site = self.report.details.setdefault("requests_by_site", {})
            by_site[transport.base_url] = by_site.get(transport.base_url, 0) + transport.stats.requests - requests
        self.report.seconds += time.monotonic() - self.started


def is_write(action: str) -> bool:
    """An action that changes the site (a download or any read is not)."""
    return action != "download" and not is_read_only(action)


class Interrupted(Exception):
    """A run stopped before the end (Ctrl-C): ``report`` says how far it got, ``where`` holds what was
    written (a ``.part`` file to resume from)."""

    def __init__(self, report: Report, where: str | None) -> None:
        super().__init__(f"{report.operation} interrupted")
        self.report = report
        self.where = where


class Progress:
    """How an engine tells of its progress (the command line draws a bar with it): [`total`][ckan_api_client.engines.report.Progress.total] when it
    learns how many items there are, [`advance`][ckan_api_client.engines.report.Progress.advance] as they are done. This base shows nothing."""

    wants_total = False
    """True when knowing the total is worth a request of its own (a bar on a terminal)."""

    def total(self, n: int) -> None:
        """How many items the run will go through, once known."""

    def advance(self, n: int = 1) -> None:
        """``n`` more items are done."""
