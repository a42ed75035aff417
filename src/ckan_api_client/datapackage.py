"""CKAN datasets as Frictionless Data Packages (v2): a ``datapackage.json`` per dataset, its uploaded files
downloaded beside it, its DataStore tables as CSV with a Table Schema made from the DataStore's field types.

The descriptor is built by pure functions ([`descriptor`][ckan_api_client.datapackage.descriptor], [`table_schema`][ckan_api_client.datapackage.table_schema]); [`write_package`][ckan_api_client.datapackage.write_package]
fetches the files and tables through a blocking client. A package is complete once its
``datapackage.json`` is written (last, atomically): a run cut short and run again fetches only what is
missing, and a dataset unchanged since its package was written is skipped.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .blocking.client import CkanLowlevelClient
from .blocking.datastore import DataStore
from .core.files import safe_filename
from .core.objects import canonical_format

__all__ = ["descriptor", "table_schema", "write_package", "PROFILE", "is_current"]

PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"
RESOURCE_PROFILE = "https://datapackage.org/profiles/2.0/dataresource.json"
SCHEMA_PROFILE = "https://datapackage.org/profiles/2.0/tableschema.json"
_NAME = re.compile(r"[^a-z0-9._-]+")

_TYPES = {"text": "string", "varchar": "string", "int": "integer", "int2": "integer", "int4": "integer",
          "int8": "integer", "bigint": "integer", "smallint": "integer", "integer": "integer", "float4": "number",
          "float8": "number", "numeric": "number", "double precision": "number", "real": "number", "bool": "boolean",
          "boolean": "boolean", "date": "date", "time": "time", "timestamp": "datetime", "timestamptz": "datetime",
          "json": "object", "jsonb": "object", "interval": "duration"}


def resource_name(resource: Mapping[str, Any], position: int) -> str:
    """A Data Package resource name (lower case, ``[a-z0-9._-]``): the resource's name, else its position."""
    text = _NAME.sub("-", str(resource.get("name") or "").lower()).strip("-.")
    return text or f"resource-{position + 1}"


def table_schema(fields: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A Table Schema from DataStore fields (``id``, ``type``): its types mapped, arrays kept as ``array``."""
    out = []
    for field in fields:
        if field.get("id") == "_id":
            continue
        kind = str(field.get("type") or "text").lower()
        out.append({"name": str(field["id"]), "type": "array" if kind.startswith("_") else _TYPES.get(kind, "string")})
    return {"$schema": SCHEMA_PROFILE, "fields": out}


def descriptor(dataset: Mapping[str, Any], resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``datapackage.json`` of a dataset, given its resources as written (see [`write_package`][ckan_api_client.datapackage.write_package])."""
    package: dict[str, Any] = {"$schema": PROFILE, "name": _NAME.sub("-", str(dataset.get("name") or "dataset").lower()),
                               "title": dataset.get("title") or dataset.get("name") or ""}
    if dataset.get("id"):
        package["id"] = str(dataset["id"])
    if dataset.get("notes"):
        package["description"] = str(dataset["notes"])
    if dataset.get("version"):
        package["version"] = str(dataset["version"])
    if dataset.get("metadata_created"):
        package["created"] = str(dataset["metadata_created"]).split(".")[0] + "Z"
    if dataset.get("url"):
        package["homepage"] = str(dataset["url"])
    tags = [t.get("name") if isinstance(t, Mapping) else t for t in dataset.get("tags") or []]
    if tags:
        package["keywords"] = [t for t in tags if isinstance(t, str)]
    if dataset.get("license_id") and dataset.get("license_id") != "notspecified":
        licence: dict[str, Any] = {"name": str(dataset["license_id"])}
        if dataset.get("license_url"):
            licence["path"] = str(dataset["license_url"])
        if dataset.get("license_title"):
            licence["title"] = str(dataset["license_title"])
        package["licenses"] = [licence]
    people = [(dataset.get(f"{role}"), dataset.get(f"{role}_email"), role) for role in ("author", "maintainer")]
    contributors = [{"title": str(name), **({"email": str(email)} if email else {}), "roles": [role]}
                    for name, email, role in people if name]
    if contributors:
        package["contributors"] = contributors
    package["resources"] = resources
    package["ckan"] = {"metadata_modified": dataset.get("metadata_modified")}
    return package


def is_current(folder: Path, dataset: Mapping[str, Any]) -> bool:
    """True when ``folder`` holds the complete package of this very version of the dataset."""
    path = folder / "datapackage.json"
    if not path.is_file():
        return False
    try:
        written = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return isinstance(written, dict) and (written.get("ckan") or {}).get("metadata_modified") == \
        dataset.get("metadata_modified")


def write_package(client: CkanLowlevelClient, dataset: Mapping[str, Any], folder: Path, *,
                  overwrite: bool = False) -> tuple[int, int]:
    """Write one dataset's Data Package into ``folder``: (files downloaded or kept, tables written).

    Uploaded files are downloaded (checked, resumable) under ``data/``; DataStore tables become CSV
    files with their Table Schema; other resources (links) stay links (``path`` is their URL).
    """
    folder.mkdir(parents=True, exist_ok=True)
    files = tables = 0
    resources = []
    used: set[str] = set()
    for position, resource in enumerate(dataset.get("resources") or []):
        if not isinstance(resource, Mapping):
            continue
        name = resource_name(resource, position)
        if name in used:
            name = f"{name}-{position + 1}"
        used.add(name)
        entry: dict[str, Any] = {"name": name}
        if resource.get("name"):
            entry["title"] = str(resource["name"])
        if resource.get("description"):
            entry["description"] = str(resource["description"])
        if resource.get("datastore_active"):
            target = folder / "data" / f"{name}.csv"
            entry.update(path=f"data/{name}.csv", format="csv", mediatype="text/csv", encoding="utf-8",
                         schema=write_table(client, str(resource["id"]), target), type="table")
            tables += 1
        elif resource.get("url_type") == "upload" and resource.get("url"):
            filename = safe_filename(str(resource["url"]).rsplit("/", 1)[-1], fallback=name)
            result = client.download_resource(resource, folder / "data" / name / filename, overwrite=overwrite)
            entry.update(path=f"data/{name}/{filename}", bytes=result.size, hash=f"sha256:{result.sha256}")
            files += 1
        elif str(resource.get("url") or "").startswith(("http://", "https://")):
            entry["path"] = str(resource["url"])
        else:
            continue  # a resource with no file and no link: nothing a package can point at
        fmt = resource.get("format")
        if fmt and "format" not in entry:
            entry["format"] = canonical_format(str(fmt)).lower()
        if resource.get("mimetype") and "mediatype" not in entry:
            entry["mediatype"] = str(resource["mimetype"])
        resources.append(entry)
    temporary = folder / "datapackage.json.part"
    temporary.write_text(json.dumps(descriptor(dataset, resources), ensure_ascii=False, indent=2) + "\n",
                         encoding="utf-8")
    os.replace(temporary, folder / "datapackage.json")
    return files, tables


def write_table(client: CkanLowlevelClient, resource_id: str, target: Path) -> dict[str, Any]:
    """A DataStore table as CSV at ``target`` (written through ``.part``); its Table Schema."""
    store = DataStore(client)
    schema = table_schema(store.info(resource_id))
    columns = [field["name"] for field in schema["fields"]]
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    with open(part, "w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in store.iter_records(resource_id, include_id=False):
            writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
                             for k, v in row.items()})
    os.replace(part, target)
    return schema
