"""DCAT in and out: read a catalogue (DCAT-AP 2/3 in RDF, Hydra-paged, or DCAT-US ``data.json``) into CKAN
dataset dicts, and write CKAN datasets as DCAT-AP 3 (Turtle, RDF/XML, JSON-LD, N-Triples) or DCAT-US 1.1,
one dataset at a time.

Needs the ``dcat`` extra (``pip install ckan-api-client[dcat]``: rdflib). A floor between the shells and
the engines: it reads files and URLs (through the blocking transport), maps with pure functions
([`parse`][ckan_api_client.dcat.parse], [`serialize`][ckan_api_client.dcat.serialize],
[`dcatus`][ckan_api_client.dcat.dcatus]), and the harvest engine ([`harvest`][ckan_api_client.engines.harvest])
builds on it.

| module | what it holds |
|---|---|
| ``vocab`` | the namespaces and the one mapping table (documented in the docs) |
| ``contexts`` | the JSON-LD contexts known offline (DCAT-AP 3, schema.org) |
| ``source`` | a file or a URL, its format, Hydra pages, the size cap, a page's fingerprint |
| ``store`` | catalogues bigger than memory: a SQLite-backed store, Turtle fed in chunks |
| ``parse`` | RDF to CKAN dicts; a dataset's identity |
| ``geometry`` | geometries between GeoJSON and DCAT (centroid, bounding box) |
| ``serialize`` | CKAN dicts to DCAT-AP 3 graphs, and the streaming RDF writer |
| ``dcatus`` | DCAT-US 1.1 ``data.json`` both ways |
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

try:
    import rdflib  # noqa: F401
except ImportError:  # pragma: no cover - the package's own check (scripts/check-package) covers it
    raise ImportError("ckan_api_client.dcat needs rdflib: pip install 'ckan-api-client[dcat]'") from None

from ..core.options import ClientOptions
from .dcatus import DataJsonWriter, datasets_of
from .parse import KNOWN_LICENSES, datasets_in, identity
from .serialize import FORMATS, CatalogInfo, DcatApWriter
from .source import DEFAULT_MAX_SIZE, Body, Fetcher, SourceError, fingerprint_of, read_pages

__all__ = ["Catalog", "read_catalog", "catalog_writer", "identity", "CatalogInfo", "SourceError", "FORMATS",
           "DEFAULT_MAX_SIZE", "PROFILES", "write"]

PROFILES = ("dcat-ap-3", "dcat-us")


class Catalog:
    """A DCAT catalogue (a file or a URL) read once: its first page is fetched on first use, for
    [`fingerprint`][ckan_api_client.dcat.Catalog.fingerprint] (has it changed since the last run?) and then
    for [`datasets`][ckan_api_client.dcat.Catalog.datasets]. A context manager; ``close()`` frees the page."""

    def __init__(self, source: str, *, language: str = "en", max_size: int = DEFAULT_MAX_SIZE,
                 contexts: Mapping[str, Any] | None = None, licenses: Mapping[str, str] | None = None,
                 options: ClientOptions | None = None) -> None:
        self.source, self.language, self.max_size = source, language, max_size
        self.contexts = dict(contexts or {})
        self.licenses = {**KNOWN_LICENSES, **(licenses or {})}
        self.fetcher = Fetcher(max_size, options)
        self._first: Body | None = None

    def first_page(self) -> Body:
        if self._first is None:
            self._first = self.fetcher.get(self.source)
        return self._first

    def fingerprint(self) -> str | None:
        """A hash of the whole catalogue when it is one page (a file, a data.json, an unpaged RDF document);
        None when it is paged (its other pages are found only by parsing)."""
        return fingerprint_of(self.first_page())

    def datasets(self) -> Iterator[dict[str, Any]]:
        """Every dataset as a CKAN dataset dict, a page at a time (see [`read_catalog`][ckan_api_client.dcat.read_catalog])."""
        first, self._first = self.first_page(), None
        seen: set[str] = set()
        for page in read_pages(self.source, max_size=self.max_size, contexts=self.contexts, fetcher=self.fetcher,
                               first=first):
            items = datasets_of(page.document, licenses=self.licenses) if page.document is not None else \
                datasets_in(page.graph, language=self.language, licenses=self.licenses) \
                if page.graph is not None else iter(())
            new = 0
            for dataset in items:
                ref = identity(dataset)
                if ref not in seen:
                    seen.add(ref)
                    new += 1
                    yield dataset
            if not new and seen:  # a page of datasets already read: the paging went round, stop here
                break
        if not seen:
            raise SourceError(f"{self.source} holds no dataset (no dcat:Dataset in its RDF, or an empty data.json): "
                              "nothing to harvest")

    def close(self) -> None:
        if self._first is not None:
            self._first.discard()
            self._first = None
        self.fetcher.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_catalog(source: str, *, language: str = "en", max_size: int = DEFAULT_MAX_SIZE,
                 contexts: Mapping[str, Any] | None = None, licenses: Mapping[str, str] | None = None,
                 options: ClientOptions | None = None) -> Iterator[dict[str, Any]]:
    """Every dataset of a DCAT catalogue (a file or a URL) as a CKAN dataset dict, a page at a time.

    Raises [`SourceError`][ckan_api_client.dcat.source.SourceError] for a source that cannot be read
    (missing, over ``max_size`` bytes, an HTML page, malformed with the line named) or that holds no
    dataset, so that a harvest deletes nothing for it. ``language`` picks among translated texts;
    ``licenses`` maps licence URIs to CKAN licence ids (added to the well-known ones).
    """
    with Catalog(source, language=language, max_size=max_size, contexts=contexts, licenses=licenses,
                 options=options) as catalog:
        yield from catalog.datasets()


def catalog_writer(out: IO[str], *, profile: str = "dcat-ap-3", fmt: str = "turtle", info: CatalogInfo | None = None,
                   begun: bool = False, written: int = 0) -> DcatApWriter | DataJsonWriter:
    """A writer of one catalogue, dataset by dataset (``write(dataset)``, then ``close()``): DCAT-AP 3 in an
    RDF format, or DCAT-US 1.1 (``data.json``). ``begun``/``written``: continue a cut document."""
    if profile == "dcat-us":
        return DataJsonWriter(out, begun=begun, written=written)
    if profile != "dcat-ap-3":
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    return DcatApWriter(out, info or CatalogInfo(), fmt, begun=begun, written=written)


def write(datasets: Iterable[Mapping[str, Any]], out: IO[str], *, profile: str = "dcat-ap-3", fmt: str = "turtle",
          info: CatalogInfo | None = None) -> int:
    """Write datasets as one DCAT catalogue: DCAT-AP 3 in an RDF format, or DCAT-US 1.1 (``data.json``);
    how many were written."""
    writer = catalog_writer(out, profile=profile, fmt=fmt, info=info)
    count = 0
    for dataset in datasets:
        writer.write(dataset)
        count += 1
    writer.close()
    return count
