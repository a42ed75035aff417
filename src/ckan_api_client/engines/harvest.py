"""Harvest a DCAT catalogue into a CKAN, from the client side: the sync engine with a DCAT source.

``Harvest(client, "https://other.example/catalog.ttl").run()`` reads the catalogue (DCAT-AP in RDF,
Hydra-paged, or DCAT-US ``data.json``; see [`ckan_api_client.dcat`][ckan_api_client.dcat]) and makes the portal hold
exactly its datasets, with everything the sync engine promises: ownership markers (a dataset the
harvest did not create is never touched), a state file (an unchanged catalogue costs a compact search
page per 1,000 datasets and no writes), only changed datasets written, deletions under the delete guard,
a dry run. A source that cannot be read, or that holds no dataset, deletes nothing.

Each dataset's source id is its URI, else its ``dct:identifier``, else a stable hash of what it says;
its name comes from its title (unique in the catalogue), and stays what it is on the portal when the
title changes later.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from ..blocking.client import CkanLowlevelClient
from .._version import __version__
from ..dcat import Catalog, identity
from ..dcat.source import DEFAULT_MAX_SIZE
from .planning import Cleaner, DeleteLimit
from .report import Report
from .state import open_state, resolve_state_path
from .sync import PlannedWrite, SynchronizationClient

__all__ = ["Harvest", "name_from"]

CATALOG_KEY = "catalogue harvested"
"""The state's record of the last complete run's catalogue (its hash and the settings that shaped it)."""
DEFAULT_CLEANERS = ("tags", "emails", "oversized")
"""What a harvested record usually needs before CKAN takes it (keywords with slashes, long geometries)."""


def name_from(title: str, ref: str) -> str:
    """A CKAN name from a title: ASCII, lower case, ``-`` between words, at most 90 characters; a title that
    leaves too little is ``dataset-`` and a hash of the dataset's identity."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:90].strip("-")
    return slug if len(slug) >= 3 else f"dataset-{_short_hash(ref)}"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


class Harvest:
    """Harvests the DCAT catalogue ``source`` (a URL or a file) into the portal of ``client``.

    ``name`` names the harvest on the portal (ownership and state; default ``dcat:<source>``).
    Datasets go to ``owner_org``, or, with ``organization_from="publisher"``, each to an organization
    named after its publisher (created when missing). ``language`` picks among translated texts;
    ``contexts`` maps JSON-LD context URLs to local files (never fetched at run time).
    """

    def __init__(self, client: CkanLowlevelClient, source: str, *, name: str | None = None,
                 owner_org: str | None = None, organization_from: Literal["publisher"] | None = None,
                 language: str = "en", max_size: int = DEFAULT_MAX_SIZE, contexts: Mapping[str, Any] | None = None,
                 state: bool | str | os.PathLike[str] = True, max_delete: str | int | DeleteLimit = "50%",
                 allow_empty_source: bool = False, cleaners: Sequence[str | Cleaner] = DEFAULT_CLEANERS,
                 concurrency: int = 4) -> None:
        self.client = client
        self.source = source
        self.name = name or f"dcat:{source}"
        self.owner_org = owner_org
        self.organization_from = organization_from
        self.language = language
        self.max_size = max_size
        self.contexts = dict(contexts or {})
        self.max_delete, self.allow_empty_source = max_delete, allow_empty_source
        self.cleaners, self.concurrency = tuple(cleaners), concurrency
        self.state_path = resolve_state_path(state, client.base_url, self.name)

    def run(self, *, dry_run: bool = False, progress: Callable[[PlannedWrite, str], None] | None = None,
            report: Report | None = None) -> Report:
        """Harvest what changed since the last run (everything, the first time).

        A catalogue of one page (a file, a data.json, an unpaged RDF document) that is byte for byte the
        one the last complete run harvested is not parsed again: its datasets are known from the state,
        and only those deleted or edited on the portal since are read from it again."""
        report = report or Report("")
        report.operation, report.dry_run = "harvest", dry_run
        report.details["source"] = self.source
        state = open_state(self.state_path, self.client.base_url, self.name) if self.state_path else None
        licenses = {str(item["url"]): str(item["id"]) for item in self.client.list_licenses()
                    if item.get("url") and item.get("id")}
        catalog = Catalog(self.source, language=self.language, max_size=self.max_size, contexts=self.contexts,
                          licenses=licenses, options=self.client.options)
        try:
            seen = self.fingerprint(catalog)
            same = state is not None and seen is not None and len(state) > 0 and state.get_meta(CATALOG_KEY) == seen
            records: Iterable[dict[str, Any]] = iter(()) if same else self.records(catalog)
            present = [sid for sid, _ in state.entries()] if same and state is not None else None
            report.details["catalogue"] = "unchanged since the last complete run" if same else "read"
            sync = SynchronizationClient(
                self.client, self.name, source_id=identity, state=state.path if state is not None else False,
                max_delete=self.max_delete, allow_empty_source=self.allow_empty_source, cleaners=self.cleaners,
                concurrency=self.concurrency, default_organization=self.owner_org,
                organization_strategy="create" if self.organization_from else "map", free_names=True,
                refetch=lambda ids: self.again(ids, licenses))
            if dry_run:
                for write in sync.plan(records, report, present=present):
                    if progress is not None:
                        progress(write, write.operation)
            else:
                sync.sync(records, progress=progress, present=present, report=report)
                if state is not None and seen is not None and report.ok:
                    state.set_meta(CATALOG_KEY, seen)
        finally:
            catalog.close()
            if state is not None:
                state.close()
        return report

    def fingerprint(self, catalog: Catalog) -> str | None:
        """The catalogue's hash with everything that shapes its records (None: paged, not known before parsing)."""
        page = catalog.fingerprint()
        if page is None:
            return None
        settings = [page, __version__, self.language, self.owner_org, self.organization_from,
                    [c if isinstance(c, str) else getattr(c, "__qualname__", repr(c)) for c in self.cleaners]]
        return hashlib.sha256(json.dumps(settings).encode()).hexdigest()

    def again(self, ids: list[str], licenses: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """The records of these source ids, the catalogue read again (datasets deleted or edited on the portal)."""
        wanted = set(ids)
        with Catalog(self.source, language=self.language, max_size=self.max_size, contexts=self.contexts,
                     licenses=licenses, options=self.client.options) as catalog:
            yield from (record for record in self.records(catalog) if identity(record) in wanted)

    def records(self, catalog: Catalog) -> Iterator[dict[str, Any]]:
        """The catalogue's datasets as the records the sync engine takes: named, placed, lists as CKAN keeps them."""
        taken: set[str] = set()
        for dataset in catalog.datasets():
            ref = identity(dataset)
            name = name_from(str(dataset.get("title") or ""), ref)
            if name in taken:  # two datasets of one title: the later one (in URI order) gets its own suffix
                name = f"{name[:81]}-{_short_hash(ref)}"
            taken.add(name)
            dataset["name"] = name
            if self.organization_from == "publisher":
                publisher = str(dataset.get("publisher_name") or "unknown publisher")
                dataset["organization"] = {"name": name_from(publisher, publisher), "title": publisher}
            for resource in dataset.get("resources") or []:
                for key, value in list(resource.items()):
                    if isinstance(value, (list, dict)):  # a resource's extra fields are text on CKAN
                        resource[key] = json.dumps(value, ensure_ascii=False)
            yield dataset
