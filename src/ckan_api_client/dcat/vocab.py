"""The vocabularies and the one mapping table between DCAT and CKAN, read by the parser, the writer and the
documentation alike.

The CKAN side follows ckanext-dcat's field names (``uri``, ``identifier``, ``temporal_start``,
``publisher_name``, ``contact_email``, resource ``access_url`` / ``download_url``), so a portal that
runs ckanext-dcat shows the harvested data as its own; a plain CKAN keeps them as extras (lists as
JSON text). Written from the DCAT 3 and DCAT-AP 3.0.1 specifications.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdflib import Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, OWL, RDF, RDFS, SKOS, XSD

__all__ = ["DCAT", "DCT", "FOAF", "VCARD", "ADMS", "SPDX", "DCATAP", "LOCN", "SCHEMA", "HYDRA", "GSP", "Field",
           "DATASET_FIELDS", "RESOURCE_FIELDS", "PREFIXES"]

DCT = DCTERMS
DCAT = Namespace("http://www.w3.org/ns/dcat#")  # an open namespace: DCAT 3 terms (version, inSeries) too
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
LOCN = Namespace("http://www.w3.org/ns/locn#")
SCHEMA = Namespace("http://schema.org/")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
EU_FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
IANA_MEDIA_TYPE = "https://www.iana.org/assignments/media-types/"

PREFIXES = {"dcat": DCAT, "dct": DCT, "foaf": FOAF, "vcard": VCARD, "adms": ADMS, "spdx": SPDX, "dcatap": DCATAP,
            "locn": LOCN, "skos": SKOS, "xsd": XSD, "owl": OWL, "rdfs": RDFS, "rdf": RDF, "hydra": HYDRA,
            "schema": SCHEMA, "gsp": GSP}


@dataclass(frozen=True)
class Field:
    """One line of the mapping: a CKAN field, the DCAT property, and how its value is held.

    ``kind``: ``text`` (a literal, the preferred language's), ``texts`` (literals, a list), ``uri``,
    ``uris`` (a list), ``date`` (an xsd date or dateTime, kept as ISO text), ``ref`` (a URI, or a
    literal where the data gives one).
    """

    ckan: str
    predicate: URIRef
    kind: str
    note: str = ""


DATASET_FIELDS: tuple[Field, ...] = (
    Field("title", DCT.title, "text"),
    Field("notes", DCT.description, "text"),
    Field("url", DCAT.landingPage, "uri", "the landing page"),
    Field("version", DCAT.version, "text", "owl:versionInfo is read too"),
    Field("identifier", DCT.identifier, "text"),
    Field("issued", DCT.issued, "date"),
    Field("modified", DCT.modified, "date"),
    Field("theme", DCAT.theme, "uris"),
    Field("language", DCT.language, "uris"),
    Field("frequency", DCT.accrualPeriodicity, "uri"),
    Field("conforms_to", DCT.conformsTo, "uris"),
    Field("access_rights", DCT.accessRights, "ref"),
    Field("dcat_type", DCT.type, "ref"),
    Field("documentation", FOAF.page, "uris"),
    Field("hvd_category", DCATAP.hvdCategory, "uris"),
    Field("applicable_legislation", DCATAP.applicableLegislation, "uris"),
    Field("in_series", DCAT.inSeries, "uris"),
    Field("version_notes", ADMS.versionNotes, "text"),
)
"""Dataset properties mapped one to one; ``uri``, ``tags``, ``alternate_identifier``, the publisher, the
contact point, ``temporal_*``, ``spatial*`` and the licence take a few lines of code each."""

RESOURCE_FIELDS: tuple[Field, ...] = (
    Field("name", DCT.title, "text"),
    Field("description", DCT.description, "text"),
    Field("access_url", DCAT.accessURL, "uri"),
    Field("download_url", DCAT.downloadURL, "uri"),
    Field("issued", DCT.issued, "date"),
    Field("modified", DCT.modified, "date"),
    Field("license", DCT.license, "uri"),
    Field("rights", DCT.rights, "ref"),
    Field("language", DCT.language, "uris"),
    Field("conforms_to", DCT.conformsTo, "uris"),
    Field("status", ADMS.status, "uri"),
    Field("documentation", FOAF.page, "uris"),
)
"""Distribution properties mapped one to one; ``url``, ``format``, ``mimetype``, ``size`` and the checksum
(``hash``, ``hash_algorithm``) take a few lines of code each."""
