"""Delete (or purge) many records, and search: the two bulk commands that need no files."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from ..blocking.client import CkanLowlevelClient
from ..blocking.concurrency import run_concurrently
from ..core.objects import entity_of
from ..core.writes import Removal, remove
from ..exceptions import InvalidInput
from .report import Failure, Measure, Progress, Report

__all__ = ["delete", "search"]

_ACTIONS = {("dataset", False): "package_delete", ("dataset", True): "dataset_purge",
            ("organization", False): "organization_delete", ("organization", True): "organization_purge",
            ("group", False): "group_delete", ("group", True): "group_purge"}


def delete(client: CkanLowlevelClient, kind: str, refs: Iterable[str], *, purge: bool = False,
           concurrency: int = 4, progress: Progress | None = None,
           report: Report | None = None) -> Report:
    """Delete (or purge) datasets, organizations or groups by id or name, counted by what was seen:
    deleted (purged), not found, or gone after an attempt whose outcome was unknown."""
    entity = entity_of(kind)
    action = _ACTIONS[(entity, purge)]
    done = "purged" if purge else "deleted"
    report = report or Report("")
    report.operation = f"{'purge' if purge else 'delete'} {kind}"

    def delete_one(ref: str) -> str:
        if not isinstance(ref, str) or not ref:
            raise InvalidInput(f"not an id or name: {ref!r}")
        removal = client.run(remove(action, ref))
        return {Removal.DONE: done, Removal.ALREADY_GONE: "not found"}.get(removal, removal.value)

    with Measure(report, client.transport):
        client.check_token()
        if progress is not None and isinstance(refs, (list, tuple)):
            progress.total(len(refs))
        for ref, outcome in run_concurrently(refs, delete_one, concurrency=concurrency):
            if isinstance(outcome, Exception):
                report.add(Failure.of(action, str(ref), outcome))
            else:
                report.count(outcome)
            if progress is not None:
                progress.advance(1)
    return report


def search(client: CkanLowlevelClient, *, q: str = "*:*", fq: str | None = None, include_private: bool = False,
           include_drafts: bool = False, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Every dataset matching a search, a page per request, in a stable (id) order."""
    count = 0
    for page in client.search_pages(None, client.page_size or 1000, q=q, fq=fq, include_private=include_private,
                                    include_drafts=include_drafts):
        for dataset in page:
            if limit is not None and count >= limit:
                return
            count += 1
            yield dataset
