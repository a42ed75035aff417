"""JSON-LD contexts known without the network: DCAT-AP 3's and schema.org's, by the URLs documents name them.

A JSON-LD document names its context by URL; fetching it at run time would make a harvest depend on a
third server (and let it change the meaning of the data). The DCAT-AP 3 context maps short terms
(``title``, ``accessUrl``, ``geographicalCoverage``) to the DCAT-AP properties; its terms are written
here as one table, each with the IRI it stands for and how its values are read (an IRI, a plain
literal, or a typed one), from the DCAT-AP 3 specification's JSON-LD context (SEMIC). Every term
means the same in every class there, so one flat context is the same as its per-class ones.
"""

from __future__ import annotations

from typing import Any

from .vocab import PREFIXES, SCHEMA

__all__ = ["DCAT_AP_CONTEXT", "SCHEMA_CONTEXT", "KNOWN_CONTEXTS"]

_MORE_PREFIXES = {"time": "http://www.w3.org/2006/time#", "odrl": "http://www.w3.org/ns/odrl/2/",
                  "prov": "http://www.w3.org/ns/prov#", "eli": "http://data.europa.eu/eli/ontology#"}
_NAMESPACES = {**{p: str(n) for p, n in PREFIXES.items()}, **_MORE_PREFIXES}

_IRI_VALUED = """
accessRights=dct:accessRights accessService=dcat:accessService accessUrl=dcat:accessURL algorithm=spdx:algorithm
applicableLegislation=dcatap:applicableLegislation applicationProfile=dct:conformsTo availability=dcatap:availability
beginning=time:hasBeginning catalogue=dcat:catalog changeType=adms:status checksum=spdx:checksum
compressionFormat=dcat:compressFormat conformsTo=dct:conformsTo contactPoint=dcat:contactPoint creator=dct:creator
dataset=dcat:dataset datasetDistribution=dcat:distribution documentation=foaf:page downloadUrl=dcat:downloadURL
end=time:hasEnd endpointDescription=dcat:endpointDescription endpointUrl=dcat:endpointURL format=dct:format
frequency=dct:accrualPeriodicity geographicalCoverage=dct:spatial geometry=locn:geometry hadRole=dcat:hadRole
hasPart=dct:hasPart hasPolicy=odrl:hasPolicy hasVersion=dcat:hasVersion homepage=foaf:homepage inSeries=dcat:inSeries
isReferencedBy=dct:isReferencedBy landingPage=dcat:landingPage language=dct:language licence=dct:license
linkedSchemas=dct:conformsTo mediaType=dcat:mediaType otherIdentifier=adms:identifier packagingFormat=dcat:packageFormat
primaryTopic=foaf:primaryTopic provenance=dct:provenance publisher=dct:publisher
qualifiedAttribution=prov:qualifiedAttribution qualifiedRelation=dcat:qualifiedRelation record=dcat:record
relatedResource=dct:relation relation=dct:relation rights=dct:rights sample=adms:sample servesDataset=dcat:servesDataset
service=dcat:service source=dct:source sourceMetadata=dct:source status=adms:status temporalCoverage=dct:temporal
theme=dcat:theme themes=dcat:themeTaxonomy type=dct:type wasGeneratedBy=prov:wasGeneratedBy
"""
_LITERAL_VALUED = """
bbox=dcat:bbox centroid=dcat:centroid description=dct:description endDate=dcat:endDate identifier=dct:identifier
keyword=dcat:keyword listingDate=dct:issued modificationDate=dct:modified name=foaf:name notation=skos:notation
preferredLabel=skos:prefLabel releaseDate=dct:issued startDate=dcat:startDate title=dct:title version=dcat:version
versionNotes=adms:versionNotes
"""
_TYPED = """
byteSize=dcat:byteSize^xsd:nonNegativeInteger checksumValue=spdx:checksumValue^xsd:hexBinary
spatialResolution=dcat:spatialResolutionInMeters^xsd:decimal temporalResolution=dcat:temporalResolution^xsd:duration
"""
_CLASSES = """
Activity=prov:Activity Agent=foaf:Agent Attribution=prov:Attribution Catalogue=dcat:Catalog
CatalogueRecord=dcat:CatalogRecord CataloguedResource=dcat:Resource Checksum=spdx:Checksum
ChecksumAlgorithm=spdx:ChecksumAlgorithm Concept=skos:Concept ConceptScheme=skos:ConceptScheme
DataService=dcat:DataService Dataset=dcat:Dataset DatasetSeries=dcat:DatasetSeries Distribution=dcat:Distribution
Document=foaf:Document Frequency=dct:Frequency Geometry=locn:Geometry Identifier=adms:Identifier Kind=vcard:Kind
LegalResource=eli:LegalResource LicenceDocument=dct:LicenseDocument LinguisticSystem=dct:LinguisticSystem
Literal=rdfs:Literal Location=dct:Location MediaType=dct:MediaType MediaTypeOrExtent=dct:MediaTypeOrExtent
PeriodOfTime=dct:PeriodOfTime Policy=odrl:Policy ProvenanceStatement=dct:ProvenanceStatement
Relationship=dcat:Relationship Resource=rdfs:Resource RightsStatement=dct:RightsStatement Role=dcat:Role
Standard=dct:Standard TemporalLiteral=rdfs:Literal TimeInstant=time:Instant Xsd:dateTime=xsd:dateTime
Xsd:decimal=xsd:decimal Xsd:duration=xsd:duration Xsd:hexBinary=xsd:hexBinary Xsd:nonNegativeInteger=xsd:nonNegativeInteger
"""
_TEXTS = {"title", "description", "keyword", "name", "preferredLabel", "versionNotes"}
"""Texts that may come as a language map (``{"en": "...", "de": "..."}``), as DCAT-AP's examples write them."""


def _iri(prefixed: str) -> str:
    prefix, _, local = prefixed.partition(":")
    return _NAMESPACES[prefix] + local


def _pairs(table: str) -> list[tuple[str, str]]:
    return [tuple(item.split("=", 1)) for item in table.split()]  # type: ignore[misc]


def _dcat_ap_context() -> dict[str, Any]:
    context: dict[str, Any] = dict(_NAMESPACES)
    context.update({term: _iri(iri) for term, iri in _pairs(_CLASSES)})
    context.update({term: {"@id": _iri(iri), "@type": "@id"} for term, iri in _pairs(_IRI_VALUED)})
    context.update({term: {"@id": _iri(iri), **({"@container": "@language"} if term in _TEXTS else {})}
                    for term, iri in _pairs(_LITERAL_VALUED)})
    for term, value in _pairs(_TYPED):
        iri, _, datatype = value.partition("^")
        context[term] = {"@id": _iri(iri), "@type": _iri(datatype)}
    return context


DCAT_AP_CONTEXT: dict[str, Any] = _dcat_ap_context()
"""The DCAT-AP 3 JSON-LD context, as one flat mapping."""

SCHEMA_CONTEXT: dict[str, Any] = {"@vocab": str(SCHEMA), "id": "@id", "type": "@type"}

_DCAT_AP_URLS = [
    f"{scheme}://semiceu.github.io/{path}"
    for scheme in ("https", "http")
    for path in ("DCAT-AP/releases/3.0.0/context/dcat-ap.jsonld", "DCAT-AP/releases/3.0.1/context/dcat-ap.jsonld",
                 "uri.semic.eu-generated/DCAT-AP/releases/3.0.0/context/dcat-ap.jsonld",
                 "uri.semic.eu-generated/DCAT-AP/releases/3.0.1/context/dcat-ap.jsonld",
                 "uri.semic.eu-generated/DCAT-AP/releases/3.0.0/html/examples/context.jsonld",
                 "uri.semic.eu-generated/DCAT-AP/releases/3.0.1/html/examples/context.jsonld")]
KNOWN_CONTEXTS: dict[str, Any] = {
    **{url: DCAT_AP_CONTEXT for url in _DCAT_AP_URLS},
    **{f"{scheme}://schema.org{path}": SCHEMA_CONTEXT for scheme in ("http", "https")
       for path in ("", "/", "/docs/jsonldcontext.json", "/docs/jsonldcontext.jsonld")},
}
"""Contexts resolved without the network, by the URLs documents name them (more can be given:
``contexts={url: file}``, ``--jsonld-context URL=FILE``)."""
