"""Catalogues bigger than memory: an rdflib store in a temporary SQLite file, and rdflib's Turtle parser
fed a chunk at a time.

rdflib keeps a graph in memory at about a kilobyte per triple: a catalogue of 100,000 datasets (three
million triples) would take gigabytes. Past [`LARGE_PAGE`][ckan_api_client.dcat.store.LARGE_PAGE] bytes,
a page is parsed into a [`DiskStore`][ckan_api_client.dcat.store.DiskStore] instead (N-Triples and
RDF/XML stream by nature; Turtle is fed to the parser in chunks of whole statements; JSON-LD is read
whole), and the mapper copies one dataset's neighbourhood out of it at a time
([`describe`][ckan_api_client.dcat.parse.describe]). SQLite is the standard library's: nothing more to
install.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.plugins.parsers.notation3 import BadSyntax, RDFSink, SinkParser
from rdflib.store import Store
from rdflib.term import Node

__all__ = ["LARGE_PAGE", "DiskStore", "disk_graph", "parse_turtle_chunks"]

LARGE_PAGE = 32 * 1024 * 1024
"""Bytes from which a page is parsed into a disk-backed graph rather than rdflib's in-memory store."""
_BATCH = 20_000
_CHUNK = 4 * 1024 * 1024


def _encode(node: Node) -> str:
    """A term as one compact string: ``<`` IRI, ``_`` blank node, ``"`` lang ``\\x00`` datatype ``\\x00`` text."""
    if isinstance(node, URIRef):
        return f"<{node}"
    if isinstance(node, BNode):
        return f"_{node}"
    if isinstance(node, Literal):
        return f'"{node.language or ""}\x00{node.datatype or ""}\x00{node}'
    raise TypeError(f"not an RDF term: {node!r}")


def _decode(text: str) -> Node:
    kind, rest = text[0], text[1:]
    if kind == "<":
        return URIRef(rest)
    if kind == "_":
        return BNode(rest)
    language, datatype, value = rest.split("\x00", 2)
    return Literal(value, lang=language or None, datatype=URIRef(datatype) if datatype else None)


class DiskStore(Store):
    """A triple store in a temporary SQLite file (deleted on close): adds are batched and kept once (a
    catalogue written a dataset at a time repeats shared triples, such as a media type's, once per
    dataset: kept each time, one subject's lookup would grow with the catalogue); lookups by subject
    use the table's key, by predicate and object an index built on the first lookup after adding."""

    def __init__(self, directory: str | None = None) -> None:
        super().__init__()
        self._file = tempfile.NamedTemporaryFile(prefix="dcat-", suffix=".sqlite", dir=directory, delete=False)
        self._file.close()
        self._db = sqlite3.connect(self._file.name, check_same_thread=False)
        self._db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-16000;"
                               "CREATE TABLE t (s TEXT NOT NULL, p TEXT NOT NULL, o TEXT NOT NULL, PRIMARY KEY (s, p, o))"
                               " WITHOUT ROWID;")
        self._pending: list[tuple[str, str, str]] = []
        self._indexed = False
        self._prefixes: dict[str, URIRef] = {}

    # ------------------------------------------------------------------ writing

    def add(self, triple: tuple[Node, Node, Node], context: Any = None, quoted: bool = False) -> None:
        s, p, o = triple
        self._pending.append((_encode(s), _encode(p), _encode(o)))
        if len(self._pending) >= _BATCH:
            self._flush()

    def addN(self, quads: Iterable[tuple[Node, Node, Node, Any]]) -> None:  # noqa: N802 (rdflib's name)
        for s, p, o, _ in quads:
            self.add((s, p, o))

    def _flush(self) -> None:
        if self._pending:
            self._db.executemany("INSERT OR IGNORE INTO t VALUES (?, ?, ?)", self._pending)
            self._pending.clear()
            self._indexed = False

    def _ready(self) -> None:
        self._flush()
        if not self._indexed:
            self._db.execute("CREATE INDEX IF NOT EXISTS by_po ON t (p, o)")
            self._indexed = True

    # ------------------------------------------------------------------ reading

    def triples(self, triple_pattern: tuple[Any, Any, Any], context: Any = None
                ) -> Iterator[tuple[tuple[Node, Node, Node], Iterator[Any]]]:
        self._ready()
        where, args = [], []
        for column, node in zip("spo", triple_pattern):
            if node is not None:
                where.append(f"{column} = ?")
                args.append(_encode(node))
        # The key whenever the subject is known: left to itself, SQLite (no statistics) may pick the
        # (p, o) index for ``s = ? AND p = ?`` and walk every triple of a common predicate.
        index = " INDEXED BY by_po" if triple_pattern[0] is None and triple_pattern[1] is not None else ""
        sql = f"SELECT s, p, o FROM t{index}" + (" WHERE " + " AND ".join(where) if where else "")
        for s, p, o in self._db.execute(sql, args).fetchall():
            yield (_decode(s), _decode(p), _decode(o)), iter(())

    def __len__(self, context: Any = None) -> int:
        self._ready()
        return int(self._db.execute("SELECT COUNT(*) FROM t").fetchone()[0])

    def contexts(self, triple: Any = None) -> Generator[Graph, None, None]:
        yield from ()

    def remove(self, triple: Any, context: Any = None) -> None:
        raise NotImplementedError("a DiskStore is written once, by the parser")

    # ------------------------------------------------------------------ prefixes

    def bind(self, prefix: str, namespace: URIRef, override: bool = True) -> None:
        if override or prefix not in self._prefixes:
            self._prefixes[prefix] = namespace

    def namespace(self, prefix: str) -> URIRef | None:
        return self._prefixes.get(prefix)

    def prefix(self, namespace: URIRef) -> str | None:
        return next((p for p, n in self._prefixes.items() if n == namespace), None)

    def namespaces(self) -> Iterator[tuple[str, URIRef]]:
        yield from list(self._prefixes.items())

    def close(self, commit_pending_transaction: bool = False) -> None:
        self._db.close()
        Path(self._file.name).unlink(missing_ok=True)


def disk_graph() -> Graph:
    """An empty graph over a new [`DiskStore`][ckan_api_client.dcat.store.DiskStore] (close it with ``graph.close()``)."""
    return Graph(store=DiskStore(), bind_namespaces="none")


def parse_turtle_chunks(stream: IO[bytes], graph: Graph, base: str) -> None:
    """Parse a Turtle document into ``graph`` a few megabytes at a time, never holding the whole text.

    rdflib's Turtle parser reads a whole document as one string, but it can be fed more text after
    whole statements, keeping its prefixes and blank-node labels. Each chunk is cut after a line that
    ends in a dot; when that dot was not a statement's end after all (a long literal's line), the
    unfinished statement is fed again with the next chunk: a triple it had already given is given
    twice (the same triple), a nested blank node it had begun stays unreachable. An error before the end
    of the text is malformed Turtle: rdflib's ``BadSyntax``, its line counted from the document's start.
    """
    parser = _StatementParser(RDFSink(graph), baseURI=graph.absolutize(base), turtle=True)
    parser.startDoc()
    carry = ""
    while True:
        block = stream.read(_CHUNK)
        text = carry + _decode_utf8(block, stream)
        if not block:
            parser.feed(text)
            break
        cut = _statement_end(text)
        if cut < 0:
            carry = text
            continue
        head, carry = text[:cut], text[cut:]
        try:
            parser.feed(head)
        except BadSyntax as error:
            if head[error._i:].strip():  # the parser stopped before the end of the text: malformed
                raise
            # It ran out of text inside a statement: give the statement back, with the next chunk.
            carry = head[parser.statement_start:] + carry
            parser.lines = parser.statement_line
    parser.endDoc()
    for prefix, namespace in parser._bindings.items():
        graph.bind(prefix, namespace)


def _decode_utf8(block: bytes, stream: IO[bytes]) -> str:
    """A block as text, completed by the few bytes of a character cut at its end."""
    for _ in range(4):
        try:
            return block.decode("utf-8")
        except UnicodeDecodeError as error:
            if error.start < len(block) - 4:
                raise
            more = stream.read(1)
            if not more:
                raise
            block += more
    return block.decode("utf-8")


def _statement_end(text: str) -> int:
    """Where to cut ``text`` after its last line that ends a statement (-1: no such line)."""
    end = len(text)
    while True:
        dot = text.rfind(".\n", 0, end)
        if dot < 0:
            return -1
        if dot == 0 or text[dot - 1] in " \t>\"')]":
            return dot + 2
        end = dot


class _StatementParser(SinkParser):
    """rdflib's Turtle parser, noting where the statement it is parsing began (to feed it again)."""

    statement_start = 0
    statement_line = 0

    def directiveOrStatement(self, argstr: str, h: int) -> int:  # noqa: N802 (rdflib's name)
        self.statement_start, self.statement_line = h, self.lines
        return int(super().directiveOrStatement(argstr, h))
