"""DCAT (RDF) to CKAN dataset dicts: pure functions over an rdflib graph, one dataset at a time.

Every ``dcat:Dataset`` (and ``dcat:DatasetSeries``) of the graph becomes a dict in the shape
``package_create`` takes, its distributions its resources (see [`ckan_api_client.dcat.vocab`][ckan_api_client.dcat.vocab] for
the table). A multilingual literal gives the value in the preferred language (then one without a
language, then English, then any). The identity of a dataset, its source id for the sync engine, is
its URI, else its ``dct:identifier``, else a stable hash of what it says ([`identity`][ckan_api_client.dcat.parse.identity]).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import FOAF, OWL, RDF, SKOS
from rdflib.term import Node

from ..core.objects import canonical_format
from .geometry import to_geojson
from .vocab import (ADMS, DATASET_FIELDS, DCAT, DCT, EU_FILE_TYPE, GSP, IANA_MEDIA_TYPE, LOCN, RESOURCE_FIELDS, SCHEMA, SPDX,
                    VCARD, Field)

__all__ = ["datasets_in", "describe", "dataset_dict", "identity", "license_id", "KNOWN_LICENSES"]


def datasets_in(graph: Graph, *, language: str = "en",
                licenses: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """Each dataset (and dataset series) of the graph as a CKAN dataset dict, in the order of their URIs.

    Each is mapped from its own description ([`describe`][ckan_api_client.dcat.parse.describe]): a few dozen triples, whatever the size
    of the graph or where it is kept."""
    subjects = set(graph.subjects(RDF.type, DCAT.Dataset)) | set(graph.subjects(RDF.type, DCAT.DatasetSeries))
    for subject in sorted(subjects, key=str):
        yield dataset_dict(describe(graph, subject), subject, language=language, licenses=licenses)


_NOT_FOLLOWED = {DCAT.Catalog, DCAT.Dataset, DCAT.DatasetSeries, DCAT.CatalogRecord}


def describe(graph: Graph, node: Node, depth: int = 3) -> Graph:
    """``node``'s triples and those of the nodes it points to, ``depth`` steps deep, as a small in-memory
    graph: all a dataset's mapping reads (distributions, agents, periods, checksums). Other datasets and
    catalogues it points to are not followed (a catalogue leads to every dataset)."""
    out = Graph(bind_namespaces="none")
    frontier, seen = [node], {node}
    for step in range(depth):
        following: list[Node] = []
        for subject in frontier:
            triples = list(graph.triples((subject, None, None)))
            if step and any(p == RDF.type and o in _NOT_FOLLOWED for _, p, o in triples):
                continue
            for triple in triples:
                out.add(triple)
                value = triple[2]
                if not isinstance(value, Literal) and value not in seen:
                    seen.add(value)
                    following.append(value)
        frontier = following
    return out


def identity(dataset: Mapping[str, Any]) -> str:
    """A dataset's stable id in its source: its URI, else its identifier, else a hash of what it says."""
    for key in ("uri", "identifier"):
        value = dataset.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    canonical = json.dumps({k: v for k, v in dataset.items() if k != "name"}, sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


# ---------------------------------------------------------------- reading values


def best(literals: list[Node], language: str) -> str | None:
    """The literal in ``language``, else one without a language, else English, else the first."""
    texts = [(getattr(value, "language", None) or "", str(value)) for value in literals if isinstance(value, Literal)]
    if not texts:
        return None
    for wanted in (language, "", "en"):
        for lang, text in sorted(texts):
            if lang.lower().split("-")[0] == wanted:
                return text
    return sorted(texts)[0][1]


def texts(graph: Graph, subject: Node, predicate: Any, language: str) -> list[str]:
    """Every literal of a repeated text property, the preferred language's where some have one."""
    values = [v for v in graph.objects(subject, predicate) if isinstance(v, Literal)]
    langs = {getattr(v, "language", None) for v in values}
    if len(langs) > 1:  # parallel translations: keep the preferred language's
        chosen = language if language in langs else (None if None in langs else "en" if "en" in langs else
                                                     sorted(filter(None, langs))[0])
        values = [v for v in values if getattr(v, "language", None) == chosen]
    return sorted({str(v).strip() for v in values if str(v).strip()})


def uris(graph: Graph, subject: Node, predicate: Any) -> list[str]:
    return sorted({str(v) for v in graph.objects(subject, predicate) if isinstance(v, URIRef)})


def one_uri(graph: Graph, subject: Node, predicate: Any) -> str | None:
    found = uris(graph, subject, predicate)
    return found[0] if found else None


def value_of(graph: Graph, subject: Node, field: Field, language: str) -> Any:
    """One mapped property's value, as the CKAN field holds it."""
    values = list(graph.objects(subject, field.predicate))
    if not values:
        return None
    if field.kind == "text":
        return best(values, language)
    if field.kind == "texts":
        return texts(graph, subject, field.predicate, language)
    if field.kind == "uri":
        return one_uri(graph, subject, field.predicate) or best(values, language)
    if field.kind == "uris":
        return uris(graph, subject, field.predicate) or texts(graph, subject, field.predicate, language)
    if field.kind == "date":
        return sorted(str(v) for v in values if isinstance(v, Literal))[0] if any(
            isinstance(v, Literal) for v in values) else None
    uri = one_uri(graph, subject, field.predicate)  # "ref": a URI, or what a node or literal says
    if uri:
        return uri
    node = values[0]
    if isinstance(node, Literal):
        return str(node)
    return best(list(graph.objects(node, SKOS.prefLabel)) + list(graph.objects(node, DCT.description)) +
                list(graph.objects(node, RDFS_LABEL)), language)


RDFS_LABEL = URIRef("http://www.w3.org/2000/01/rdf-schema#label")


def _put(record: dict[str, Any], key: str, value: Any) -> None:
    if value not in (None, "", [], {}):
        record[key] = value


# ---------------------------------------------------------------- a dataset


def dataset_dict(graph: Graph, subject: Node, *, language: str = "en",
                 licenses: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The CKAN dataset dict of one ``dcat:Dataset``."""
    record: dict[str, Any] = {}
    if isinstance(subject, URIRef):
        record["uri"] = str(subject)
    for field in DATASET_FIELDS:
        _put(record, field.ckan, value_of(graph, subject, field, language))
    if "version" not in record:
        _put(record, "version", best(list(graph.objects(subject, OWL.versionInfo)), language))
    record["title"] = record.get("title") or record.get("identifier") or record.get("uri") or ""
    record["tags"] = [{"name": keyword} for keyword in texts(graph, subject, DCAT.keyword, language)]
    _put(record, "alternate_identifier", sorted({str(n) for node in graph.objects(subject, ADMS.identifier)
                                                 for n in graph.objects(node, SKOS.notation)}))
    record.update(agent(graph, one_node(graph, subject, DCT.publisher), "publisher", language))
    record.update(contact(graph, one_node(graph, subject, DCAT.contactPoint), language))
    record.update(temporal(graph, one_node(graph, subject, DCT.temporal)))
    record.update(spatial(graph, subject, language))
    if isinstance(subject, URIRef) and (subject, RDF.type, DCAT.DatasetSeries) in graph:
        record["dcat_type"] = record.get("dcat_type") or str(DCAT.DatasetSeries)
    distributions = sorted(graph.objects(subject, DCAT.distribution), key=str)
    record["resources"] = [resource_dict(graph, node, language) for node in distributions]
    chosen = license_of(graph, subject, distributions, licenses or KNOWN_LICENSES)
    _put(record, "license_id", chosen[0] or chosen[1])  # a licence the portal does not know: its URI as the id
    _put(record, "license_url", chosen[1])
    return record


def one_node(graph: Graph, subject: Node, predicate: Any) -> Node | None:
    nodes = sorted(graph.objects(subject, predicate), key=lambda n: (isinstance(n, BNode), str(n)))
    return nodes[0] if nodes else None


def agent(graph: Graph, node: Node | None, prefix: str, language: str) -> dict[str, Any]:
    """A ``foaf:Agent`` as ``<prefix>_uri``, ``_name``, ``_email``, ``_url``, ``_type``."""
    if node is None:
        return {}
    out: dict[str, Any] = {}
    if isinstance(node, URIRef):
        out[f"{prefix}_uri"] = str(node)
    _put(out, f"{prefix}_name", best(list(graph.objects(node, FOAF.name)) + list(graph.objects(node, VCARD.fn)),
                                     language))
    email = one_uri(graph, node, FOAF.mbox) or best(list(graph.objects(node, FOAF.mbox)), language)
    _put(out, f"{prefix}_email", email.removeprefix("mailto:") if email else None)
    _put(out, f"{prefix}_url", one_uri(graph, node, FOAF.homepage))
    _put(out, f"{prefix}_type", one_uri(graph, node, DCT.type))
    return out


def contact(graph: Graph, node: Node | None, language: str) -> dict[str, Any]:
    """A ``vcard:Kind`` contact point as ``contact_uri``, ``contact_name``, ``contact_email``."""
    if node is None:
        return {}
    out: dict[str, Any] = {}
    if isinstance(node, URIRef):
        out["contact_uri"] = str(node)
    _put(out, "contact_name", best(list(graph.objects(node, VCARD.fn)) +
                                   list(graph.objects(node, VCARD["organization-name"])), language))
    email = one_uri(graph, node, VCARD.hasEmail) or best(list(graph.objects(node, VCARD.hasEmail)), language)
    _put(out, "contact_email", email.removeprefix("mailto:") if email else None)
    _put(out, "contact_url", one_uri(graph, node, VCARD.hasURL))
    return out


def temporal(graph: Graph, node: Node | None) -> dict[str, Any]:
    if node is None:
        return {}
    out: dict[str, Any] = {}
    for key, predicates in (("temporal_start", (DCAT.startDate, SCHEMA.startDate)),
                            ("temporal_end", (DCAT.endDate, SCHEMA.endDate))):
        for predicate in predicates:
            values = [str(v) for v in graph.objects(node, predicate) if isinstance(v, Literal)]
            if values:
                out[key] = sorted(values)[0]
                break
    return out


def spatial(graph: Graph, subject: Node, language: str) -> dict[str, Any]:
    """``dct:spatial``: its URI, its label, and its geometries as GeoJSON (WKT converted), named as
    ckanext-dcat names them (``spatial`` from ``locn:geometry``, ``spatial_bbox``, ``spatial_centroid``);
    ``spatial`` falls back on the box, then the centroid, so that ckanext-spatial indexes the dataset.
    A geometry in another form goes to ``spatial_geometry``."""
    out: dict[str, Any] = {}
    for node in sorted(graph.objects(subject, DCT.spatial), key=str):
        if isinstance(node, URIRef):
            out.setdefault("spatial_uri", str(node))
        _put(out, "spatial_text", out.get("spatial_text") or best(list(graph.objects(node, SKOS.prefLabel)), language))
        for predicate, key in ((LOCN.geometry, "spatial"), (DCAT.bbox, "spatial_bbox"),
                               (DCAT.centroid, "spatial_centroid")):
            for geometry in sorted(graph.objects(node, predicate), key=str):
                found = geometry if isinstance(geometry, Literal) else \
                    one_literal(graph, geometry, (GSP.asGeoJSON, GSP.asWKT))  # a locn:Geometry node
                if found is None or not str(found).strip():
                    continue
                geojson = to_geojson(str(found))
                if geojson is not None:
                    out.setdefault(key, geojson)
                else:
                    out.setdefault("spatial_geometry", str(found).strip())
    if "spatial" not in out and (out.get("spatial_bbox") or out.get("spatial_centroid")):
        out["spatial"] = out.get("spatial_bbox") or out["spatial_centroid"]
    return out


def one_literal(graph: Graph, node: Node, predicates: tuple[Any, ...]) -> Literal | None:
    for predicate in predicates:
        for value in graph.objects(node, predicate):
            if isinstance(value, Literal):
                return value
    return None


# ---------------------------------------------------------------- a distribution


def resource_dict(graph: Graph, node: Node, language: str) -> dict[str, Any]:
    """The CKAN resource dict of one ``dcat:Distribution``."""
    resource: dict[str, Any] = {}
    if isinstance(node, URIRef):
        resource["uri"] = str(node)
    for field in RESOURCE_FIELDS:
        _put(resource, field.ckan, value_of(graph, node, field, language))
    resource["url"] = resource.get("download_url") or resource.get("access_url") or ""
    _put(resource, "format", format_of(graph, node))
    media = one_uri(graph, node, DCAT.mediaType) or best(list(graph.objects(node, DCAT.mediaType)), language)
    _put(resource, "mimetype", media.removeprefix(IANA_MEDIA_TYPE).removeprefix(IANA_MEDIA_TYPE.replace(
        "https", "http")) if media else None)
    if "format" not in resource and resource.get("mimetype"):  # as ckanext-dcat does: the format of the media type
        _put(resource, "format", canonical_format(resource["mimetype"]))
    size = best(list(graph.objects(node, DCAT.byteSize)), language)
    if size is not None:
        try:
            resource["size"] = int(float(size))
        except ValueError:
            pass  # not a number: left out rather than failing the dataset
    checksum = one_node(graph, node, SPDX.checksum)
    if checksum is not None:
        _put(resource, "hash", best(list(graph.objects(checksum, SPDX.checksumValue)), language))
        algorithm = one_uri(graph, checksum, SPDX.algorithm)
        _put(resource, "hash_algorithm", algorithm.rsplit("_", 1)[-1] if algorithm else None)
    return resource


def format_of(graph: Graph, node: Node) -> str | None:
    """``dct:format``: the code of a file-type URI (``.../file-type/CSV`` is ``CSV``), or the literal."""
    for value in graph.objects(node, DCT.format):
        text = str(value)
        if isinstance(value, URIRef):
            return text.rstrip("/").rsplit("/", 1)[-1].upper() if text.startswith(EU_FILE_TYPE) or "/" in text \
                else text
        for label in graph.objects(value, RDFS_LABEL) if isinstance(value, BNode) else ():
            return str(label)
        if text:
            return text
    return None


# ---------------------------------------------------------------- licences

_CC = {"by": "cc-by", "by-sa": "cc-by-sa", "by-nc": "cc-nc", "by-nc-sa": "cc-nc"}
_EU = "http://publications.europa.eu/resource/authority/licence/"
KNOWN_LICENSES: dict[str, str] = {
    **{f"{_EU}{code}": ckan for code, ckan in (("CC_BY_4_0", "cc-by"), ("CC_BY_3_0", "cc-by"), ("CC_BYSA_4_0", "cc-by-sa"),
                                               ("CC_BYSA_3_0", "cc-by-sa"), ("CC0", "cc-zero"), ("ODC_BY", "odc-by"),
                                               ("ODC_ODBL", "odc-odbl"), ("ODC_PDDL", "odc-pddl"),
                                               ("CC_BYNC_4_0", "cc-nc"), ("GPL_3_0", "gfdl"))},
    **{f"{scheme}://creativecommons.org/licenses/{kind}/{version}/": ckan for scheme in ("http", "https")
       for kind, ckan in _CC.items() for version in ("2.0", "3.0", "4.0")},
    **{f"{scheme}://creativecommons.org/publicdomain/zero/1.0/": "cc-zero" for scheme in ("http", "https")},
    **{f"{scheme}://opendatacommons.org/licenses/{kind}/": ckan for scheme in ("http", "https")
       for kind, ckan in (("odbl", "odc-odbl"), ("by", "odc-by"), ("pddl", "odc-pddl"))},
    **{f"http://www.opendefinition.org/licenses/{code}": code for code in ("cc-by", "cc-by-sa", "cc-zero", "odc-by",
                                                                           "odc-odbl", "odc-pddl", "gfdl")},
}
"""Licence URIs in common use, to CKAN's default licence ids (the portal's own ``license_list`` adds to it)."""


def license_id(url: str, known: Mapping[str, str]) -> str | None:
    """The CKAN licence id of a licence URI, when known (trailing slash and ``legalcode`` tolerated)."""
    text = url.strip()
    for candidate in (text, text.rstrip("/") + "/", text.rstrip("/"), text.removesuffix("legalcode").rstrip("/") + "/"):
        if candidate in known:
            return known[candidate]
    return None


def license_of(graph: Graph, subject: Node, distributions: list[Node],
               known: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(licence id, licence URI) of a dataset: its own ``dct:license``, else the one all its distributions share."""
    urls = uris(graph, subject, DCT.license)
    if not urls:
        shared = {u for node in distributions for u in uris(graph, node, DCT.license)}
        urls = sorted(shared) if len(shared) == 1 else []
    if not urls:
        return None, None
    return license_id(urls[0], known), urls[0]
