"""The local stack is real: each part (CKAN, PostgreSQL, Solr, file storage, DataStore) does its job.

Plain ``requests`` on purpose: this proves the stack, independently of the client under test.
"""

from __future__ import annotations

import os
import random
import string
import uuid
from pathlib import Path
from typing import Any

import requests

from ckan_stack_plugin import Stack

ACTION = "/api/3/action/"


def call(stack: Stack, action: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """POST an action (JSON body, or the multipart ``form``/``files`` given) and return its result."""
    if "files" in kwargs:
        kwargs["data"] = data
    else:
        kwargs["json"] = data
    response = requests.post(stack.url + ACTION + action, headers={"Authorization": stack.token}, timeout=60,
                             **kwargs)
    assert response.status_code == 200, f"{action}: {response.status_code} {response.text[:500]}"
    body = response.json()
    assert body["success"] is True
    return body["result"]


def test_stack_is_real(any_stack: Stack, tmp_path: Path) -> None:
    status = requests.get(any_stack.url + ACTION + "status_show", timeout=30).json()["result"]
    if any_stack.requested:
        assert status["ckan_version"] == any_stack.requested
    assert "datastore" in status["extensions"]

    # Letters only: the schema's word-delimiter filter would split a word at its digits.
    word = "zebra" + "".join(random.choices(string.ascii_lowercase, k=12))
    org = call(any_stack, "organization_create", {"name": f"smoke-{uuid.uuid4().hex[:10]}"})
    try:
        dataset = call(any_stack, "package_create", {
            "name": f"smoke-{uuid.uuid4().hex[:10]}", "title": f"Smoke test {word} dataset", "owner_org": org["id"],
            "resources": [{"name": "one", "url": "http://example.com/one.csv"},
                          {"name": "two", "url": "http://example.com/two.json"}],
        })
        assert len(dataset["resources"]) == 2

        # Solr really indexed it: found by a word of its title, and counted for its organization.
        found = call(any_stack, "package_search", {"q": word})
        assert [d["id"] for d in found["results"]] == [dataset["id"]]
        assert call(any_stack, "organization_show", {"id": org["id"]})["package_count"] == 1

        # A real multipart upload into the file store, downloaded back byte-identical.
        payload = os.urandom(300_000) + "é€ unicode tail".encode()
        source = tmp_path / "data.bin"
        source.write_bytes(payload)
        with open(source, "rb") as fh:
            resource = call(any_stack, "resource_create", {"package_id": dataset["id"], "name": "uploaded"},
                            files={"upload": ("data.bin", fh, "application/octet-stream")})
        assert resource["url_type"] == "upload"
        download = requests.get(resource["url"], headers={"Authorization": any_stack.token}, timeout=60)
        assert download.status_code == 200
        assert download.content == payload

        # DataStore: a table with a few rows, searched back.
        rows = [{"city": "Taipei", "n": 1}, {"city": "Zürich", "n": 2}, {"city": "東京", "n": 3}]
        call(any_stack, "datastore_create", {
            "resource_id": resource["id"], "force": True,
            "fields": [{"id": "city", "type": "text"}, {"id": "n", "type": "int"}], "records": rows})
        searched = call(any_stack, "datastore_search", {"resource_id": resource["id"], "sort": "n"})
        assert [{"city": r["city"], "n": r["n"]} for r in searched["records"]] == rows
        assert searched["total"] == 3
    finally:
        for dataset_found in call(any_stack, "package_search", {"fq": f"owner_org:{org['id']}"})["results"]:
            call(any_stack, "dataset_purge", {"id": dataset_found["id"]})
        call(any_stack, "organization_purge", {"id": org["id"]})
