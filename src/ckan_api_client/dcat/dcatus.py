"""DCAT-US 1.1 (Project Open Data's ``data.json``) to CKAN dataset dicts and back, as plain JSON.

The CKAN side uses ckanext-dcat's names where DCAT-US and DCAT-AP share a property (``identifier``,
``issued``, ``modified``, ``publisher_name``, ``contact_email``, ``temporal_start``, resource
``access_url``/``download_url``) and the names of DCAT-US's own fields otherwise (``access_level``,
``bureau_code``, ``program_code``, ``data_quality``, ``described_by``, ``is_part_of``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

from .parse import KNOWN_LICENSES, license_id
from .serialize import flattened

__all__ = ["datasets_of", "dataset_from_dcat_us", "dcat_us_from_dataset", "DataJsonWriter", "CONFORMS_TO"]

CONFORMS_TO = "https://project-open-data.cio.gov/v1.1/schema"
CATALOG_HEAD = ('{"@context": "%s/catalog.jsonld", "@type": "dcat:Catalog", "conformsTo": "%s", '
                '"describedBy": "%s/catalog.json", "dataset": [\n' % (CONFORMS_TO, CONFORMS_TO, CONFORMS_TO))
"""The beginning of a data.json document, up to its first dataset."""
_PLAIN = {"identifier": "identifier", "modified": "modified", "issued": "issued", "accessLevel": "access_level",
          "rights": "rights", "accrualPeriodicity": "frequency", "dataQuality": "data_quality",
          "describedBy": "described_by", "describedByType": "described_by_type", "isPartOf": "is_part_of",
          "primaryITInvestmentUII": "primary_it_investment_uii", "systemOfRecords": "system_of_records",
          "spatial": "spatial_text", "conformsTo": "conforms_to"}
_LISTS = {"bureauCode": "bureau_code", "programCode": "program_code", "language": "language", "theme": "theme",
          "references": "documentation"}
_RESOURCE = {"title": "name", "description": "description", "format": "format", "mediaType": "mimetype",
             "conformsTo": "conforms_to", "describedBy": "described_by", "describedByType": "described_by_type"}


def datasets_of(document: Mapping[str, Any], *, licenses: Mapping[str, str] | None = None) -> Iterator[dict[str, Any]]:
    """Each dataset of a data.json document, as a CKAN dataset dict."""
    items = document.get("dataset") if isinstance(document, Mapping) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping):
            yield dataset_from_dcat_us(item, licenses=licenses)


def dataset_from_dcat_us(item: Mapping[str, Any], *, licenses: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One DCAT-US dataset as a CKAN dataset dict."""
    record: dict[str, Any] = {"title": str(item.get("title") or item.get("identifier") or "")}
    if item.get("description"):
        record["notes"] = str(item["description"])
    if item.get("landingPage"):
        record["url"] = str(item["landingPage"])
    if isinstance(item.get("@id"), str):
        record["uri"] = item["@id"]
    for source, target in _PLAIN.items():
        if item.get(source) not in (None, "", []):
            record[target] = item[source] if isinstance(item[source], str) else json.dumps(item[source])
    for source, target in _LISTS.items():
        value = item.get(source)
        if value not in (None, "", []):
            record[target] = value if isinstance(value, list) else [value]
    keywords: list[Any] = item["keyword"] if isinstance(item.get("keyword"), list) else []
    record["tags"] = [{"name": str(k).strip()} for k in keywords if str(k).strip()]
    publisher = item.get("publisher")
    if isinstance(publisher, Mapping) and publisher.get("name"):
        record["publisher_name"] = str(publisher["name"])
        chain = [str(p.get("name")) for p in _parents(publisher) if p.get("name")]
        if chain:
            record["publisher_parents"] = chain
    contact = item.get("contactPoint")
    if isinstance(contact, Mapping):
        if contact.get("fn"):
            record["contact_name"] = str(contact["fn"])
        if contact.get("hasEmail"):
            record["contact_email"] = str(contact["hasEmail"]).removeprefix("mailto:")
    temporal = item.get("temporal")
    if isinstance(temporal, str) and "/" in temporal:
        record["temporal_start"], _, record["temporal_end"] = temporal.partition("/")
    licence = item.get("license")
    if isinstance(licence, str) and licence.strip():
        record["license_url"] = licence.strip()
        known = license_id(licence, licenses or KNOWN_LICENSES)
        if known:
            record["license_id"] = known
    distributions: list[Any] = item["distribution"] if isinstance(item.get("distribution"), list) else []
    record["resources"] = [resource_from_dcat_us(d) for d in distributions if isinstance(d, Mapping)]
    return record


def _parents(publisher: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    parent = publisher.get("subOrganizationOf")
    while isinstance(parent, Mapping):
        yield parent
        parent = parent.get("subOrganizationOf")


def resource_from_dcat_us(distribution: Mapping[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = {}
    for source, target in (("accessURL", "access_url"), ("downloadURL", "download_url"), *_RESOURCE.items()):
        if distribution.get(source) not in (None, ""):
            resource[target] = str(distribution[source])
    resource["url"] = resource.get("download_url") or resource.get("access_url") or ""
    return resource


# ---------------------------------------------------------------- CKAN to DCAT-US


def dcat_us_from_dataset(dataset: Mapping[str, Any], *, landing: str | None = None) -> dict[str, Any]:
    """One CKAN dataset as a DCAT-US 1.1 dataset (what it cannot say, such as a contact email a dataset does
    not have, stays out: the JSON schema then names it)."""
    record = flattened(dataset)
    out: dict[str, Any] = {"@type": "dcat:Dataset", "title": record.get("title") or record.get("name") or "",
                           "description": record.get("notes") or record.get("title") or record.get("name") or ""}
    tags = [t.get("name") if isinstance(t, Mapping) else t for t in record.get("tags") or []]
    out["keyword"] = [t for t in tags if isinstance(t, str) and t] or [str(record.get("name") or "dataset")]
    out["modified"] = record.get("modified") or record.get("metadata_modified") or ""
    org: Mapping[str, Any] = record["organization"] if isinstance(record.get("organization"), Mapping) else {}
    out["publisher"] = {"@type": "org:Organization",
                        "name": record.get("publisher_name") or org.get("title") or org.get("name") or "unknown"}
    contact: dict[str, Any] = {"@type": "vcard:Contact",
                               "fn": record.get("contact_name") or record.get("maintainer") or record.get("author")
                               or out["publisher"]["name"]}
    email = record.get("contact_email") or record.get("maintainer_email") or record.get("author_email")
    if isinstance(email, str) and "@" in email:
        contact["hasEmail"] = "mailto:" + email.removeprefix("mailto:").strip()
    out["contactPoint"] = contact
    out["identifier"] = str(record.get("identifier") or record.get("id") or record.get("name") or "")
    out["accessLevel"] = record.get("access_level") or ("non-public" if record.get("private") else "public")
    # Required by the schema, meaningful for US federal agencies only: a placeholder of the right form elsewhere.
    out["bureauCode"] = _listed(record.get("bureau_code")) or ["000:00"]
    out["programCode"] = _listed(record.get("program_code")) or ["000:000"]
    if record.get("url") or landing:
        out["landingPage"] = record.get("url") or landing
    if record.get("license_url"):
        out["license"] = record["license_url"]
    if record.get("temporal_start") and record.get("temporal_end"):
        out["temporal"] = f"{record['temporal_start']}/{record['temporal_end']}"
    for target, source in (("issued", "issued"), ("accrualPeriodicity", "frequency"), ("rights", "rights"),
                           ("spatial", "spatial_text"), ("conformsTo", "conforms_to"), ("isPartOf", "is_part_of")):
        if isinstance(record.get(source), str) and record[source]:
            out[target] = record[source]
    for target, source in (("language", "language"), ("theme", "theme"), ("references", "documentation")):
        values = _listed(record.get(source))
        if values:
            out[target] = values
    out["distribution"] = [_distribution(r) for r in record.get("resources") or [] if isinstance(r, Mapping)]
    return out


def _listed(value: Any) -> list[str]:
    if isinstance(value, str) and value.startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    if isinstance(value, list):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)] if value not in (None, "") else []


def _distribution(resource: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"@type": "dcat:Distribution"}
    download = resource.get("download_url") or (resource.get("url") if resource.get("mimetype") else None)
    if download:
        out["downloadURL"] = download
        if resource.get("mimetype"):
            out["mediaType"] = resource["mimetype"]
    if resource.get("access_url") or (resource.get("url") and "downloadURL" not in out):
        out["accessURL"] = resource.get("access_url") or resource.get("url")
    for target, source in (("title", "name"), ("description", "description"), ("format", "format")):
        if resource.get(source):
            out[target] = resource[source]
    return out


class DataJsonWriter:
    """A data.json catalogue written dataset by dataset (constant memory). ``begun``: continue a document
    whose beginning (and ``written`` datasets) is written already."""

    def __init__(self, out: IO[str], *, landing: str | None = None, begun: bool = False, written: int = 0) -> None:
        self.out, self.landing, self.count = out, landing, written
        if not begun:
            out.write(CATALOG_HEAD)

    def write(self, dataset: Mapping[str, Any]) -> None:
        self.out.write(("" if self.count == 0 else ",\n") + json.dumps(dcat_us_from_dataset(dataset, landing=self.landing),
                                                                      ensure_ascii=False))
        self.count += 1

    def close(self) -> None:
        self.out.write("\n]}\n")
