"""Where a DCAT catalogue comes from: a file or a URL, in RDF (Turtle, RDF/XML, JSON-LD, N-Triples) or as a
DCAT-US ``data.json``, one page at a time when the catalogue is paged with Hydra.

The format is taken from the Content-Type, else the file's extension, else its first bytes. A source
over the size cap is refused before it is parsed; a source that is an HTML page, not RDF, or RDF
without a single dataset is one clear [`SourceError`][ckan_api_client.dcat.source.SourceError], never a half-read catalogue: a caller (the
harvest) that meets one deletes nothing. JSON-LD contexts are never fetched at run time: the known
ones are resolved offline, others can be given as local files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF

from ..blocking.transport import Transport
from ..core.options import ClientOptions
from ..exceptions import CkanError
from .store import LARGE_PAGE, disk_graph, parse_turtle_chunks
from .contexts import KNOWN_CONTEXTS
from .vocab import DCAT, HYDRA

logger = logging.getLogger("ckan_api_client")

__all__ = ["SourceError", "repair_turtle", "Page", "Body", "Fetcher", "DEFAULT_MAX_SIZE", "read_pages", "fingerprint_of", "detect_format",
           "KNOWN_CONTEXTS"]

DEFAULT_MAX_SIZE = 200 * 1024 * 1024
"""Bytes a source (one page of it) may have before it is refused, unparsed (``--max-size``)."""
MAX_PAGES = 100_000

_BY_TYPE = {"text/turtle": "turtle", "application/x-turtle": "turtle", "application/rdf+xml": "xml",
            "application/ld+json": "json-ld", "application/n-triples": "nt", "text/n3": "n3",
            "text/plain": None, "application/json": "json", "application/xml": "xml", "text/xml": "xml"}
_BY_SUFFIX = {".ttl": "turtle", ".turtle": "turtle", ".rdf": "xml", ".xml": "xml", ".owl": "xml", ".jsonld": "json-ld",
              ".json-ld": "json-ld", ".nt": "nt", ".n3": "n3", ".json": "json"}

ACCEPT = ("text/turtle, application/rdf+xml;q=0.9, application/ld+json;q=0.8, application/json;q=0.7, "
          "application/n-triples;q=0.6")
"""What a catalogue's URL is asked for: RDF first, Turtle preferred."""



class SourceError(CkanError):
    """The DCAT source cannot be read as a catalogue: nothing is harvested (and nothing deleted) from it."""


@dataclass
class Page:
    """One page of a catalogue: where it came from, and what it holds (an RDF graph, or a DCAT-US document)."""

    where: str
    graph: Graph | None = None
    document: Mapping[str, Any] | None = None
    next_page: str | None = field(default=None, repr=False)


@dataclass
class Body:
    """What a source sent: in memory when small, else in a file (the source's own, or a temporary copy of a
    download past [`LARGE_PAGE`][ckan_api_client.dcat.store.LARGE_PAGE] bytes, deleted by `discard`)."""

    data: bytes | None = None
    path: Path | None = None
    content_type: str | None = None
    temporary: bool = False

    @property
    def large(self) -> bool:
        return self.data is None

    def head(self, size: int = 65536) -> bytes:
        if self.data is not None:
            return self.data[:size]
        assert self.path is not None
        with open(self.path, "rb") as fh:
            return fh.read(size)

    def open(self) -> IO[bytes]:
        assert self.path is not None
        return open(self.path, "rb")

    def read(self) -> bytes:
        return self.data if self.data is not None else self.path.read_bytes() if self.path else b""

    def discard(self) -> None:
        self.data = None
        if self.temporary and self.path is not None:
            self.path.unlink(missing_ok=True)


def detect_format(data: bytes, content_type: str | None = None, name: str | None = None) -> str:
    """``turtle``, ``xml``, ``json-ld``, ``nt``, ``n3`` or ``dcat-us``: from the Content-Type, the name, the bytes."""
    kind = _BY_TYPE.get((content_type or "").split(";")[0].strip().lower())
    if kind is None and name:
        kind = _BY_SUFFIX.get(Path(urlsplit(name).path).suffix.lower())
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:300]:
        raise SourceError("the source is an HTML page, not a DCAT catalogue (give the catalogue's own address, "
                          "e.g. /catalog.ttl)")
    if kind in (None, "json") or head.startswith((b"{", b"[")):
        if head.startswith((b"{", b"[")):
            start = data[:65536]
            if b"project-open-data" in start or (b'"dataset"' in start and b'"@graph"' not in start):
                return "dcat-us"  # a data.json (which may name a context of its own)
            return "json-ld" if b"@context" in start or b'"@graph"' in start else "dcat-us"
        if kind == "json":
            raise SourceError("the source is not JSON, though it is named or served as JSON")
    if kind is not None:
        return kind
    if head.startswith((b"<?xml", b"<rdf:rdf")):
        return "xml"
    if re.match(rb"^(@prefix|@base|prefix|base)\b", head) or b"@prefix" in head:
        return "turtle"
    if re.match(rb"^(<[^>]+>|_:\S+)\s+<[^>]+>\s+", head):
        return "nt"
    raise SourceError("the source is not a DCAT catalogue in any format read here (Turtle, RDF/XML, JSON-LD, "
                      "N-Triples, DCAT-US data.json)")


def _one_line(error: Exception) -> str:
    """A parser's error in one line, with the line it names."""
    text = " ".join(str(error).split())
    line = re.search(r"line (\d+)", text)
    return (f"line {line.group(1)}: " if line and "line" not in text[:20] else "") + text[:300]


_TURTLE_SKIPPED = re.compile(r'<[^>\s]*>|"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"'
                             r"|'(?:[^'\\\n]|\\.)*'|#[^\n]*")
"""What a repair of Turtle leaves alone: IRIs, strings and comments."""
_SLASHED_NAME = re.compile(r"(?<![\w:\\])([A-Za-z][\w-]*)?:([\w-][\w.\-/]*[\w-])")
_PREFIX_WITHOUT_DOT = re.compile(r"^(\s*@(?:prefix|base)\b[^\n]*>)[ \t]*$", re.MULTILINE)


def repair_turtle(text: str) -> tuple[str, list[str]]:
    """Turtle with two slips common in published catalogues mended, and what was mended: an ``@prefix`` or
    ``@base`` line without its final ``.``, and a ``/`` in a prefixed name (``ex:a/b``, to be written
    ``ex:a\\/b``). Both are errors to a conformant parser; their meaning is not in doubt."""
    said: list[str] = []

    def dot(match: re.Match[str]) -> str:
        said.append(f"line {text.count(chr(10), 0, match.start()) + 1}: an @prefix without its final '.'")
        return match.group(1) + " ."

    text = _PREFIX_WITHOUT_DOT.sub(dot, text)
    parts, last = [], 0
    for kept in _TURTLE_SKIPPED.finditer(text):
        parts.append(("code", last, text[last:kept.start()]))
        parts.append(("kept", kept.start(), kept.group()))
        last = kept.end()
    parts.append(("code", last, text[last:]))
    out = []
    for kind, start, part in parts:
        if kind == "code" and "/" in part:
            def escaped(match: re.Match[str], start: int = start, part: str = part) -> str:
                if "/" not in match.group(2):
                    return match.group()
                line = text.count("\n", 0, start + match.start()) + 1
                said.append(f"line {line}: a '/' in the prefixed name {match.group()}")
                return f"{match.group(1) or ''}:{match.group(2).replace('/', chr(92) + '/')}"
            part = _SLASHED_NAME.sub(escaped, part)
        out.append(part)
    return "".join(out), said


def parse_rdf(body: Body, fmt: str, where: str, contexts: Mapping[str, Any]) -> Graph:
    """An RDF document as a graph; [`SourceError`][ckan_api_client.dcat.source.SourceError] (naming the line) when it is malformed.

    A large one in Turtle, N-Triples or RDF/XML is parsed from its file into a disk-backed graph
    ([`store`][ckan_api_client.dcat.store]), so memory does not grow with the catalogue."""
    on_disk = body.large and fmt in ("turtle", "nt", "xml")
    graph = disk_graph() if on_disk else Graph()
    try:
        if on_disk and fmt == "turtle":
            with body.open() as stream:
                parse_turtle_chunks(stream, graph, where)
        elif on_disk:
            with body.open() as stream:
                graph.parse(source=stream, format=fmt, publicID=where)
        elif fmt == "json-ld":
            graph.parse(data=json.dumps(_offline_contexts(json.loads(body.read()), contexts)), format="json-ld",
                        publicID=where)
        else:
            graph.parse(data=body.read(), format=fmt, publicID=where)
    except SourceError:
        graph.close()
        raise
    except Exception as error:  # rdflib raises many kinds (BadSyntax, SAXParseException, ValueError, ...)
        graph.close()
        repaired = _repaired(body, where) if fmt == "turtle" and not on_disk else None
        if repaired is None:
            raise SourceError(f"{where} is not well-formed {fmt}: {_one_line(error)}") from None
        return repaired
    return graph


def _repaired(body: Body, where: str) -> Graph | None:
    """The Turtle document parsed after [`repair_turtle`][ckan_api_client.dcat.source.repair_turtle], each
    repair said as a warning; None when nothing was mended or it is still not well-formed."""
    text, said = repair_turtle(body.read().decode("utf-8", errors="replace"))
    if not said:
        return None
    graph = Graph()
    try:
        graph.parse(data=text, format="turtle", publicID=where)
    except Exception:  # still malformed: the original error is the one to tell
        graph.close()
        return None
    for what in said:
        logger.warning("%s is not well-formed Turtle, read as meant: %s", where, what)
    return graph


def _offline_contexts(document: Any, contexts: Mapping[str, Any]) -> Any:
    """The JSON-LD document with every context given by URL replaced by the known (or given) one: no context
    is ever fetched at run time."""
    if isinstance(document, list):
        return [_offline_contexts(item, contexts) for item in document]
    if not isinstance(document, dict):
        return document
    out = {}
    for key, value in document.items():
        if key == "@context":
            out[key] = _context(value, contexts)
        else:
            out[key] = _offline_contexts(value, contexts)
    return out


def _context(value: Any, contexts: Mapping[str, Any]) -> Any:
    if isinstance(value, list):
        return [_context(item, contexts) for item in value]
    if isinstance(value, str):
        known = contexts.get(value) or contexts.get(value.rstrip("/")) or KNOWN_CONTEXTS.get(value)
        if known is None:
            raise SourceError(f"the JSON-LD context {value} is not one known here, and contexts are never fetched "
                              "at run time: give it as a local file (--jsonld-context URL=FILE)")
        if isinstance(known, (str, Path)):
            loaded = json.loads(Path(known).read_text(encoding="utf-8"))
            known = loaded.get("@context", loaded) if isinstance(loaded, dict) else loaded
        return known
    return value


def next_page_of(graph: Graph, where: str) -> str | None:
    """The next page of a Hydra-paged catalogue (``hydra:next``, or ``hydra:nextPage`` as ckanext-dcat
    writes it), resolved against the page's address; None on the last page."""
    for predicate in (HYDRA.next, HYDRA.nextPage):
        for value in graph.objects(None, predicate):
            if isinstance(value, (URIRef, Literal)) and str(value).strip():
                return urljoin(where, str(value).strip())
    return None


class Fetcher:
    """Reads a source's pages: local files, or URLs through one transport (timeouts, retries, TLS, the
    size cap checked on the declared length before reading, and again while reading)."""

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE, options: ClientOptions | None = None) -> None:
        self.max_size = max_size
        self.options = options or ClientOptions()
        self._transports: dict[str, Transport] = {}

    def get(self, where: str) -> Body:
        """A file's or URL's content: in memory when small, else in a file."""
        if where.startswith(("http://", "https://")):
            return self._download(where)
        path = Path(where)
        if not path.is_file():
            raise SourceError(f"no such file: {where}")
        size = path.stat().st_size
        if size > self.max_size:
            raise SourceError(self._too_big(where, size))
        return Body(path=path) if size > LARGE_PAGE else Body(data=path.read_bytes())

    def _download(self, where: str) -> Body:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(where))
        transport = self._transports.get(origin)
        if transport is None:
            transport = self._transports[origin] = Transport(origin, self.options.replace(api_key=None))
        try:
            response = transport.request("GET", where, stream=True, idempotent=True, action="catalog",
                                         headers={"Accept": ACCEPT})
        except CkanError as error:
            raise SourceError(f"{where} cannot be read: {error}") from None
        body = Body(content_type=response.headers.get("Content-Type"))
        spool: IO[bytes] | None = None
        try:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > self.max_size:
                raise SourceError(self._too_big(where, int(declared)))
            chunks: list[bytes] = []
            size = 0
            for chunk in transport.stream_body(response, "catalog"):
                size += len(chunk)
                if size > self.max_size:
                    raise SourceError(self._too_big(where, size, more=True))
                if spool is None and size > LARGE_PAGE:  # past the in-memory size: on to a temporary file
                    spool = tempfile.NamedTemporaryFile(prefix="dcat-page-", delete=False)
                    body.path, body.temporary = Path(spool.name), True
                    spool.writelines(chunks)
                    chunks.clear()
                (spool.write if spool is not None else chunks.append)(chunk)
            body.data = b"".join(chunks) if spool is None else None
        except BaseException:
            body.discard()
            raise
        finally:
            response.close()
            if spool is not None:
                spool.close()
        return body

    def _too_big(self, where: str, size: int, more: bool = False) -> str:
        return (f"{where} is {'over ' if more else ''}{size:,} bytes, over the size cap of {self.max_size:,} "
                "(--max-size): refused before parsing")

    def close(self) -> None:
        for transport in self._transports.values():
            transport.close()


def read_pages(source: str, *, max_size: int = DEFAULT_MAX_SIZE, contexts: Mapping[str, Any] | None = None,
               options: ClientOptions | None = None, fetcher: Fetcher | None = None,
               first: Body | None = None) -> Iterator[Page]:
    """Each page of a catalogue, parsed, following Hydra paging; a page seen twice ends the walk.
    ``first``: the first page, already fetched (with ``fetcher``, which the caller then closes)."""
    own = fetcher is None
    fetcher = fetcher or Fetcher(max_size, options)
    seen: set[str] = set()
    where: str | None = source
    try:
        while where is not None and where not in seen and len(seen) < MAX_PAGES:
            seen.add(where)
            body, first = (first, None) if first is not None else (fetcher.get(where), None)
            try:
                fmt = detect_format(body.head(), body.content_type, where)
                if fmt == "dcat-us":
                    try:
                        document = json.loads(body.read())
                    except ValueError as error:
                        raise SourceError(f"{where} is not well-formed JSON: {_one_line(error)}") from None
                    yield Page(where, document=document)
                    return
                graph = parse_rdf(body, fmt, where, contexts or {})
            finally:
                body.discard()
            try:
                page = Page(where, graph=graph, next_page=next_page_of(graph, where))
                yield page
            finally:
                graph.close()
            where = page.next_page
    finally:
        if own:
            fetcher.close()


NEXT_PAGE_TERMS = (b":next", b"#next", b'"next"')
"""How Hydra's ``next``/``nextPage`` is spelled in Turtle, RDF/XML, N-Triples or JSON-LD (lower case)."""


def fingerprint_of(body: Body) -> str | None:
    """A hash of a catalogue that is this one page, or None when it may have more pages (its next pages are
    known only by parsing): when it names Hydra and a term ``next``/``nextPage`` (``x:next``, ``…#next``, or
    a JSON key ``"next"``), it is taken as paged. The word "next" in a text does not count."""
    digest = hashlib.sha256()
    hydra = following = False
    tail = b""
    chunks: Iterator[bytes] = iter([body.data]) if body.data is not None else _file_chunks(body)
    for chunk in chunks:
        digest.update(chunk)
        window = (tail + chunk).lower()
        hydra = hydra or b"hydra" in window
        following = following or any(term in window for term in NEXT_PAGE_TERMS)
        tail = chunk[-16:]
    return None if hydra and following else digest.hexdigest()


def _file_chunks(body: Body) -> Iterator[bytes]:
    with body.open() as stream:
        while chunk := stream.read(1 << 20):
            yield chunk


def datasets_on(graph: Graph) -> int:
    """How many datasets (and dataset series) a graph describes."""
    return len(set(graph.subjects(RDF.type, DCAT.Dataset)) | set(graph.subjects(RDF.type, DCAT.DatasetSeries)))
