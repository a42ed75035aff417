"""Real CKAN metadata from ../shared/data/real-portals, read in place (never copied into the repo)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from ckan_stack_plugin import REAL_PORTALS

# Fields the server computes or owns: never sent when a record is created elsewhere.
SERVER_FIELDS = {
    "id", "metadata_created", "metadata_modified", "revision_id", "revision_timestamp", "creator_user_id",
    "num_resources", "num_tags", "organization", "owner_org", "isopen", "license_title", "license_url",
    "relationships_as_object", "relationships_as_subject", "state", "tracking_summary", "groups", "private",
    "type",
}
RESOURCE_KEEP = ("name", "description", "url", "format", "mimetype")


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        pytest.fail(f"real-portal data not found at {path}: the tests expect ../shared beside the clone "
                    "(or CKAN_SHARED_DIR)", pytrace=False)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        for line in fh:
            if line.strip():
                yield json.loads(line)


def depositar(limit: int | None = None) -> list[dict[str, Any]]:
    """The depositar records (1,839 real datasets, mostly CJK text)."""
    records = []
    for record in _lines(REAL_PORTALS / "depositar" / "datasets.jsonl.gz"):
        records.append(record)
        if limit is not None and len(records) >= limit:
            break
    return records


def portal_datasets(portal: str) -> list[dict[str, Any]]:
    return list(_lines(REAL_PORTALS / portal / "datasets.jsonl"))


def as_core_dataset(record: dict[str, Any], name: str, owner_org: str) -> dict[str, Any]:
    """A real record reduced to core CKAN fields a vanilla CKAN keeps, under a new name and owner.

    Custom top-level fields (ckanext-scheming) are carried as extras, so nothing of the text is lost.
    """
    core = {"title", "notes", "author", "author_email", "maintainer", "maintainer_email", "url", "version",
            "license_id"}
    dataset: dict[str, Any] = {k: record[k] for k in core if isinstance(record.get(k), str)}
    dataset["name"] = name
    dataset["owner_org"] = owner_org
    dataset["tags"] = [{"name": t["name"]} for t in record.get("tags") or [] if isinstance(t, dict)]
    extras = {e["key"]: str(e["value"]) for e in record.get("extras") or [] if isinstance(e, dict)}
    for key, value in record.items():
        if key in core or key in SERVER_FIELDS or key in ("name", "tags", "extras", "resources"):
            continue
        if value in (None, "", []):
            continue
        extras[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    dataset["extras"] = [{"key": k, "value": v} for k, v in sorted(extras.items())]
    dataset["resources"] = [{k: r[k] for k in RESOURCE_KEEP if isinstance(r.get(k), str)}
                            for r in record.get("resources") or []]
    for resource in dataset["resources"]:
        resource.setdefault("url", "")
    return dataset
