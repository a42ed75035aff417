"""CKAN datasets to DCAT-AP 3 (RDF), one dataset at a time: pure functions that build a small graph per
dataset, and writers that stream those graphs into one document (Turtle, N-Triples, RDF/XML, JSON-LD)
so that memory does not grow with the catalog.

What a CKAN dataset says is mapped back with the table of [`ckan_api_client.dcat.vocab`][ckan_api_client.dcat.vocab], so a
harvested dataset exported again says what its source said; what a plain CKAN dataset has (its
organization, maintainer, licence, resources) fills the DCAT-AP properties a catalogue must have.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import IO, Any
from urllib.parse import quote, urlsplit

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import FOAF, RDF, RDFS, SKOS, XSD, NamespaceManager
from rdflib.namespace import XMLNS

from ..core.objects import canonical_format
from .geometry import as_dcat
from .vocab import (ADMS, DATASET_FIELDS, DCAT, DCATAP, DCT, EU_FILE_TYPE, GSP, IANA_MEDIA_TYPE, PREFIXES,
                    RESOURCE_FIELDS, SPDX, VCARD)

__all__ = ["CatalogInfo", "dataset_graph", "catalog_graph", "RdfWriter", "FORMATS"]

FORMATS = {"turtle": "ttl", "xml": "rdf", "json-ld": "jsonld", "nt": "nt"}
"""The RDF serializations written, and the usual file extension of each."""

_IRI_UNSAFE = re.compile(r"[\s<>\"{}|\\^`]")
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def text(value: Any, lang: str | None = None) -> Literal:
    """A text literal, without the control characters no XML document may hold (they are noise in the
    records that have them, and would make an RDF/XML export unreadable)."""
    return Literal(_NOT_XML.sub("", str(value)), lang=lang)


def iri(value: Any) -> URIRef | None:
    """A value as an IRI: an absolute http(s), mailto or urn reference, unsafe characters escaped; None otherwise."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if not re.match(r"^(https?://[^/\s]+|mailto:|urn:)", text, re.I):
        return None
    return URIRef(_IRI_UNSAFE.sub(lambda m: quote(m.group()), text))


def _list(value: Any) -> list[Any]:
    """A list field as CKAN may hold it: a list, JSON text of a list (an extra), or one value."""
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
        return parsed if isinstance(parsed, list) else [value]
    return [] if value in (None, "") else [value]


def flattened(dataset: Mapping[str, Any]) -> dict[str, Any]:
    """The dataset's fields with its extras among them (a plain CKAN keeps ckanext-dcat's fields as extras)."""
    out = dict(dataset)
    for extra in dataset.get("extras") or []:
        if isinstance(extra, Mapping) and isinstance(extra.get("key"), str):
            out.setdefault(extra["key"], extra.get("value"))
    return out


class CatalogInfo:
    """The catalogue the datasets belong to: where its URIs live, and who publishes it."""

    def __init__(self, base_url: str | None = None, title: str = "CKAN catalogue", description: str | None = None,
                 publisher: str | None = None, language: str = "en") -> None:
        self.base_url = (base_url or "").rstrip("/")
        self.title = title
        self.description = description or f"The datasets of {title}"
        self.publisher = publisher or title
        self.language = language

    @property
    def uri(self) -> URIRef:
        return URIRef(f"{self.base_url}/catalog") if self.base_url else URIRef("urn:ckan:catalog")

    def dataset_uri(self, dataset: Mapping[str, Any]) -> URIRef:
        given = iri(dataset.get("uri"))
        if given is not None:
            return given
        ref = dataset.get("id") or dataset.get("name") or "dataset"
        return URIRef(f"{self.base_url}/dataset/{quote(str(ref))}") if self.base_url else URIRef(f"urn:uuid:{ref}")

    def resource_uri(self, dataset_uri: URIRef, resource: Mapping[str, Any], position: int) -> URIRef:
        given = iri(resource.get("uri"))
        if given is not None:
            return given
        ref = resource.get("id") or str(position)
        if str(dataset_uri).startswith("urn:"):
            return URIRef(f"urn:uuid:{ref}") if resource.get("id") else URIRef(f"{dataset_uri}:resource:{ref}")
        return URIRef(f"{dataset_uri}/resource/{quote(str(ref))}")


def catalog_graph(info: CatalogInfo) -> Graph:
    """The catalogue itself: title, description and publisher (what DCAT-AP asks of every catalogue)."""
    graph = _graph()
    catalog = info.uri
    graph.add((catalog, RDF.type, DCAT.Catalog))
    graph.add((catalog, DCT.title, text(info.title, info.language)))
    graph.add((catalog, DCT.description, text(info.description, info.language)))
    publisher = URIRef(f"{catalog}/publisher") if not str(catalog).startswith("urn:") else URIRef("urn:ckan:publisher")
    graph.add((catalog, DCT.publisher, publisher))
    graph.add((publisher, RDF.type, FOAF.Agent))
    graph.add((publisher, FOAF.name, text(info.publisher)))
    return graph


def _prefixes() -> NamespaceManager:
    holder = Graph(bind_namespaces="none")
    holder.bind("xml", XMLNS)
    for prefix, namespace in PREFIXES.items():
        holder.bind(prefix, namespace)
    return holder.namespace_manager


_NAMESPACES = _prefixes()
"""One namespace manager for every graph written: it caches the prefixed name of each IRI, which is most of
the time a serializer takes when each small graph starts with an empty cache."""


def _graph() -> Graph:
    return Graph(bind_namespaces="none", namespace_manager=_NAMESPACES)


# ---------------------------------------------------------------- a dataset


def dataset_graph(dataset: Mapping[str, Any], info: CatalogInfo) -> Graph:
    """One CKAN dataset as DCAT-AP 3 triples (with its link from the catalogue)."""
    record = flattened(dataset)
    graph = _graph()
    subject = info.dataset_uri(record)
    graph.add((info.uri, DCAT.dataset, subject))
    graph.add((subject, RDF.type, DCAT.Dataset))
    lang = info.language
    title = record.get("title") or record.get("name") or str(subject)
    graph.add((subject, DCT.title, text(title, lang)))
    graph.add((subject, DCT.description, text(record.get("notes") or title, lang)))
    graph.add((subject, DCT.identifier, text(record.get("identifier") or record.get("id") or subject)))
    for field in DATASET_FIELDS:
        if field.ckan in ("title", "notes", "identifier"):
            continue
        _add(graph, subject, field.predicate, field.kind, record.get(field.ckan), lang)
    _dates(graph, subject, record)
    for tag in record.get("tags") or []:
        name = tag.get("name") if isinstance(tag, Mapping) else tag
        if isinstance(name, str) and name:
            graph.add((subject, DCAT.keyword, text(name, lang)))
    for notation in _list(record.get("alternate_identifier")):
        node = BNode()
        graph.add((subject, ADMS.identifier, node))
        graph.add((node, RDF.type, ADMS.Identifier))
        graph.add((node, SKOS.notation, text(notation)))
    _publisher(graph, subject, record)
    _contact(graph, subject, record)
    _temporal(graph, subject, record)
    _spatial(graph, subject, record, lang)
    licence = iri(record.get("license_url")) or _license_iri(record.get("license_id"))
    for position, resource in enumerate(record.get("resources") or []):
        if isinstance(resource, Mapping):
            _distribution(graph, subject, info.resource_uri(subject, resource, position), resource, licence, lang)
    return graph


def _add(graph: Graph, subject: Any, predicate: Any, kind: str, value: Any, lang: str) -> None:
    """A mapped field's value(s) as triples: IRIs where the kind wants them (a value that is not one is left
    out, never written as a wrong literal), dates typed, texts with the catalogue's language."""
    for item in (_list(value) if kind in ("uris", "texts") else [value]):
        if item in (None, ""):
            continue
        if kind in ("uri", "uris"):
            target = iri(item)
            if target is not None:
                graph.add((subject, predicate, target))
                _typed_object(graph, predicate, target)
        elif kind == "date":
            graph.add((subject, predicate, _date(item)))
        elif kind == "ref":
            target = iri(item)
            if target is not None:
                graph.add((subject, predicate, target))
                _typed_object(graph, predicate, target)
            else:
                node = BNode()
                graph.add((subject, predicate, node))
                graph.add((node, RDFS.label, text(item)))
                _typed_object(graph, predicate, node)
        else:
            graph.add((subject, predicate, text(item, lang) if predicate in (DCT.title, DCT.description)
                       else text(item)))


_OBJECT_CLASSES = {DCT.accrualPeriodicity: DCT.Frequency, DCT.language: DCT.LinguisticSystem,
                   DCT.conformsTo: DCT.Standard, DCT.accessRights: DCT.RightsStatement, DCT.license: DCT.LicenseDocument,
                   DCT.rights: DCT.RightsStatement, DCAT.theme: SKOS.Concept, DCT.type: SKOS.Concept,
                   FOAF.page: FOAF.Document, DCAT.landingPage: FOAF.Document, DCT.spatial: DCT.Location,
                   DCT.format: DCT.MediaTypeOrExtent, DCAT.mediaType: DCT.MediaType, ADMS.status: SKOS.Concept,
                   DCATAP.applicableLegislation: URIRef("http://data.europa.eu/eli/ontology#LegalResource"),
                   DCATAP.hvdCategory: SKOS.Concept, DCAT.inSeries: DCAT.DatasetSeries}
"""What the object of a property is (DCAT-AP's ranges): said of each object, so that a reader (and the
SHACL shapes) knows it without fetching it."""


def _typed_object(graph: Graph, predicate: Any, target: Any) -> None:
    cls = _OBJECT_CLASSES.get(predicate)
    if cls is not None:
        graph.add((target, RDF.type, cls))


def _date(value: Any) -> Literal:
    given = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", given):
        return Literal(given, datatype=XSD.date)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?", given):
        return Literal(given, datatype=XSD.dateTime)
    if re.fullmatch(r"\d{4}", given):
        return Literal(given, datatype=XSD.gYear)
    return text(given)


def _dates(graph: Graph, subject: Any, record: Mapping[str, Any]) -> None:
    """``dct:issued`` and ``dct:modified``: the source's when it gave them, else CKAN's own."""
    for predicate, field, fallback in ((DCT.issued, "issued", "metadata_created"),
                                       (DCT.modified, "modified", "metadata_modified")):
        if record.get(field) in (None, "") and record.get(fallback):
            graph.add((subject, predicate, _date(record[fallback])))


def _publisher(graph: Graph, subject: Any, record: Mapping[str, Any]) -> None:
    """``dct:publisher``: the harvested publisher, else the dataset's organization."""
    org: Mapping[str, Any] = record["organization"] if isinstance(record.get("organization"), Mapping) else {}
    name = record.get("publisher_name") or org.get("title") or org.get("name")
    uri = iri(record.get("publisher_uri"))
    if not name and uri is None:
        return
    node: Any = uri or BNode()
    graph.add((subject, DCT.publisher, node))
    graph.add((node, RDF.type, FOAF.Agent))
    graph.add((node, FOAF.name, text(name or uri)))
    email = record.get("publisher_email")
    if isinstance(email, str) and "@" in email:
        graph.add((node, FOAF.mbox, URIRef("mailto:" + email.removeprefix("mailto:").strip())))
    if iri(record.get("publisher_url")) is not None:
        graph.add((node, FOAF.homepage, iri(record.get("publisher_url"))))  # type: ignore[arg-type]
    if iri(record.get("publisher_type")) is not None:
        graph.add((node, DCT.type, iri(record.get("publisher_type"))))  # type: ignore[arg-type]


def _contact(graph: Graph, subject: Any, record: Mapping[str, Any]) -> None:
    """``dcat:contactPoint``: the harvested contact, else the maintainer (or the author)."""
    name = record.get("contact_name") or record.get("maintainer") or record.get("author")
    email = record.get("contact_email") or record.get("maintainer_email") or record.get("author_email")
    uri = iri(record.get("contact_uri"))
    if not (name or email or uri):
        return
    node: Any = uri or BNode()
    graph.add((subject, DCAT.contactPoint, node))
    graph.add((node, RDF.type, VCARD.Kind))
    if name:
        graph.add((node, VCARD.fn, text(name)))
    if isinstance(email, str) and "@" in email and not any(c.isspace() for c in email.strip()):
        graph.add((node, VCARD.hasEmail, URIRef("mailto:" + email.removeprefix("mailto:").strip())))
    if iri(record.get("contact_url")) is not None:
        graph.add((node, VCARD.hasURL, iri(record.get("contact_url"))))  # type: ignore[arg-type]


def _temporal(graph: Graph, subject: Any, record: Mapping[str, Any]) -> None:
    start, end = record.get("temporal_start"), record.get("temporal_end")
    if not (start or end):
        return
    node = BNode()
    graph.add((subject, DCT.temporal, node))
    graph.add((node, RDF.type, DCT.PeriodOfTime))
    if start:
        graph.add((node, DCAT.startDate, _date(start)))
    if end:
        graph.add((node, DCAT.endDate, _date(end)))


def _spatial(graph: Graph, subject: Any, record: Mapping[str, Any], lang: str) -> None:
    uri = iri(record.get("spatial_uri"))
    label = record.get("spatial_text")
    if not (uri or label or any(record.get(k) for k in ("spatial", "spatial_bbox", "spatial_centroid"))):
        return
    node: Any = uri or BNode()
    graph.add((subject, DCT.spatial, node))
    graph.add((node, RDF.type, DCT.Location))
    if label:
        graph.add((node, SKOS.prefLabel, text(label, lang)))
    shapes: dict[str, str] = {}
    for key in ("spatial", "spatial_bbox", "spatial_centroid"):  # the exact geometry's first
        kind_and_wkt = as_dcat(record.get(key))
        if kind_and_wkt is not None:
            shapes.setdefault(*kind_and_wkt)
    for kind, wkt in sorted(shapes.items()):  # a point as its centroid, any other shape as its box: dcat.geometry
        graph.add((node, DCAT.centroid if kind == "centroid" else DCAT.bbox, Literal(wkt, datatype=GSP.wktLiteral)))


_LICENSES = {"cc-by": "CC_BY_4_0", "cc-by-sa": "CC_BYSA_4_0", "cc-zero": "CC0", "odc-by": "ODC_BY",
             "odc-odbl": "ODC_ODBL", "odc-pddl": "ODC_PDDL", "cc-nc": "CC_BYNC_4_0"}


def _license_iri(license_id: Any) -> URIRef | None:
    """The EU licence IRI of a CKAN licence id; a licence id that is itself an IRI (a harvested licence the
    portal did not know) as it is."""
    code = _LICENSES.get(str(license_id or "").lower())
    if code:
        return URIRef(f"http://publications.europa.eu/resource/authority/licence/{code}")
    return iri(license_id)


# ---------------------------------------------------------------- a resource


def _distribution(graph: Graph, dataset: Any, subject: URIRef, resource: Mapping[str, Any], licence: URIRef | None,
                  lang: str) -> None:
    graph.add((dataset, DCAT.distribution, subject))
    graph.add((subject, RDF.type, DCAT.Distribution))
    access = iri(resource.get("access_url")) or iri(resource.get("url")) or subject
    graph.add((subject, DCAT.accessURL, access))
    download = iri(resource.get("download_url")) or (iri(resource.get("url")) if resource.get("url_type") == "upload"
                                                     else None)
    if download is not None:
        graph.add((subject, DCAT.downloadURL, download))
    for field in RESOURCE_FIELDS:
        if field.ckan in ("access_url", "download_url", "license"):
            continue
        _add(graph, subject, field.predicate, field.kind, resource.get(field.ckan), lang)
    own_licence = iri(resource.get("license")) or licence
    if own_licence is not None:
        graph.add((subject, DCT.license, own_licence))
        graph.add((own_licence, RDF.type, DCT.LicenseDocument))
    fmt = resource.get("format")
    if isinstance(fmt, str) and fmt.strip():
        code = canonical_format(fmt)
        target = URIRef(EU_FILE_TYPE + quote(code.replace(" ", "_")))
        graph.add((subject, DCT.format, target))
        graph.add((target, RDF.type, DCT.MediaTypeOrExtent))
    media = resource.get("mimetype")
    if isinstance(media, str) and re.fullmatch(r"[\w.+-]+/[\w.+-]+", media.strip()):
        target = URIRef(IANA_MEDIA_TYPE + media.strip().lower())
        graph.add((subject, DCAT.mediaType, target))
        graph.add((target, RDF.type, DCT.MediaType))
    size = resource.get("size")
    if isinstance(size, int) or (isinstance(size, str) and size.isdigit()):
        graph.add((subject, DCAT.byteSize, Literal(int(size), datatype=XSD.nonNegativeInteger)))
    digest = resource.get("hash")
    if isinstance(digest, str) and re.fullmatch(r"(\w+:)?[0-9a-fA-F]{32,128}", digest.strip()):
        algorithm, _, value = digest.strip().rpartition(":")
        algorithm = (algorithm or resource.get("hash_algorithm") or _by_length(value)).lower().replace("-", "")
        node = BNode()
        graph.add((subject, SPDX.checksum, node))
        graph.add((node, RDF.type, SPDX.Checksum))
        graph.add((node, SPDX.checksumValue, Literal(value.lower(), datatype=XSD.hexBinary)))
        graph.add((node, SPDX.algorithm, SPDX[f"checksumAlgorithm_{algorithm}"]))
        graph.add((SPDX[f"checksumAlgorithm_{algorithm}"], RDF.type, SPDX.ChecksumAlgorithm))


def _by_length(digest: str) -> str:
    return {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}.get(len(digest), "sha256")


# ---------------------------------------------------------------- Turtle, fast

_LOCAL = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_BY_LENGTH = sorted(((str(ns), prefix) for prefix, ns in PREFIXES.items()), key=lambda item: -len(item[0]))
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _term(node: Any) -> str:
    """A node in Turtle: a prefixed name where one of ours fits, else ``<iri>``, ``_:b``, or a literal."""
    if isinstance(node, URIRef):
        text = str(node)
        for namespace, prefix in _BY_LENGTH:
            if text.startswith(namespace) and _LOCAL.match(text[len(namespace):]):
                return f"{prefix}:{text[len(namespace):]}"
        return "<" + text.replace(">", "%3E") + ">"
    if isinstance(node, BNode):
        return f"_:b{node}"
    value = "".join(_ESCAPES.get(c, c) for c in str(node))
    if node.language:
        return f'"{value}"@{node.language}'
    if node.datatype is not None:
        return f'"{value}"^^{_term(node.datatype)}'
    return f'"{value}"'


def turtle(graph: Graph) -> str:
    """The triples of a small graph as Turtle, grouped by subject (the ``@prefix`` lines are the writer's).

    rdflib's own Turtle serializer looks up a prefixed name for every IRI through its namespace trie,
    which on a catalogue of unique dataset and resource IRIs is most of the time spent; this knows its
    dozen prefixes and writes the rest as IRIs. Read back by rdflib in the tests."""
    by_subject: dict[Any, list[tuple[str, str]]] = {}
    for subject, predicate, obj in graph:
        verb = "a" if predicate == RDF.type else _term(predicate)
        by_subject.setdefault(subject, []).append((verb, _term(obj)))
    blocks = []
    for subject in sorted(by_subject, key=lambda s: (isinstance(s, BNode), str(s))):
        pairs = sorted(by_subject[subject], key=lambda pair: (pair[0] != "a", pair))
        lines = " ;\n    ".join(f"{verb} {obj}" for verb, obj in pairs)
        blocks.append(f"{_term(subject)} {lines} .\n")
    return "\n".join(blocks) + "\n"


# ---------------------------------------------------------------- writing a document


class RdfWriter:
    """A DCAT document written as it goes: the catalogue first, then each dataset's graph, in constant memory.

    Turtle and N-Triples are written graph after graph (Turtle's prefixes once); RDF/XML inside one
    ``rdf:RDF`` element; JSON-LD as one ``@graph`` array with a shared ``@context``.
    """

    def __init__(self, out: IO[str], fmt: str, *, header: bool = True, first: bool = True) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        self.out, self.fmt, self.first = out, fmt, first
        self.header = {f"@prefix {p}: <{ns}> ." for p, ns in PREFIXES.items()}
        if not header:  # continuing a document whose beginning is written already
            return
        if fmt == "turtle":
            out.write("\n".join(sorted(self.header)) + "\n\n")
        elif fmt == "xml":
            out.write('<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF\n' +
                      "".join(f'   xmlns:{p}="{ns}"\n' for p, ns in PREFIXES.items()) + ">\n")
        elif fmt == "json-ld":
            context = json.dumps({p: str(ns) for p, ns in PREFIXES.items()})
            out.write('{"@context": ' + context + ', "@graph": [\n')

    def write(self, graph: Graph) -> None:
        if self.fmt == "nt":
            self.out.write(graph.serialize(format="nt"))
        elif self.fmt == "turtle":
            self.out.write(turtle(graph))
        elif self.fmt == "xml":
            text = graph.serialize(format="pretty-xml")
            body = text[text.index(">", text.index("<rdf:RDF")) + 1:text.rindex("</rdf:RDF>")]
            self.out.write(body.strip("\n") + "\n")
        else:
            nodes = json.loads(graph.serialize(format="json-ld", context={p: str(ns) for p, ns in PREFIXES.items()},
                                               auto_compact=True))
            items = nodes.get("@graph", [nodes]) if isinstance(nodes, dict) else nodes
            for item in items:
                if isinstance(item, dict):
                    item.pop("@context", None)
                self.out.write(("" if self.first else ",\n") + json.dumps(item, ensure_ascii=False))
                self.first = False

    def close(self) -> None:
        if self.fmt == "xml":
            self.out.write("</rdf:RDF>\n")
        elif self.fmt == "json-ld":
            self.out.write("\n]}\n")


class DcatApWriter:
    """A DCAT-AP 3 catalogue written dataset by dataset: the catalogue's own description first, then each
    dataset's graph (see [`RdfWriter`][ckan_api_client.dcat.serialize.RdfWriter]). ``begun``: continue a
    document whose beginning (and ``written`` datasets) is written already."""

    def __init__(self, out: IO[str], info: CatalogInfo, fmt: str = "turtle", *, begun: bool = False,
                 written: int = 0) -> None:
        self.info = info
        self.rdf = RdfWriter(out, fmt, header=not begun, first=not written)
        if not begun:
            self.rdf.write(catalog_graph(info))

    def write(self, dataset: Mapping[str, Any]) -> None:
        self.rdf.write(dataset_graph(dataset, self.info))

    def close(self) -> None:
        self.rdf.close()
