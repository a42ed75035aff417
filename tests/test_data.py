"""Data, not just metadata: resource files both ways and the DataStore, on the real stack."""

from __future__ import annotations

import datetime
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ckan_api_client import exceptions as exc
from ckan_api_client import DataStore
from ckan_api_client.low_level import CkanLowlevelClient
from ckan_stack_plugin import Factory, Stack


def test_upload_and_download_byte_identical(client: CkanLowlevelClient, factory: Factory, tmp_path: Path) -> None:
    dataset = factory.make_dataset()
    data = os.urandom(6 * 1024 * 1024 + 123)
    source = tmp_path / "measurements.bin"
    source.write_bytes(data)
    seen: list[int] = []
    resource = client.upload_resource(dataset, source, name="Measurements", description="ünïcode",
                               schema={"fields": [{"name": "a"}]}, progress=seen.append)
    assert resource["url_type"] == "upload" and resource["schema"] == {"fields": [{"name": "a"}]}
    assert seen[-1] >= len(data)
    result = client.download_resource(resource, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == data
    assert result.sha256 == hashlib.sha256(data).hexdigest()

    # Replace the file: same resource, new data.
    newer = tmp_path / "v2.bin"
    newer.write_bytes(b"second version")
    replaced = client.replace_resource_file(resource["id"], newer)
    assert replaced["id"] == resource["id"]
    client.download_resource(replaced, tmp_path / "v2-back.bin")
    assert (tmp_path / "v2-back.bin").read_bytes() == b"second version"


def test_private_files_need_the_token(client: CkanLowlevelClient, factory: Factory, tmp_path: Path) -> None:
    dataset = factory.make_dataset(private=True)
    source = tmp_path / "secret.csv"
    source.write_bytes(b"id,value\n1,secret\n")
    with open(source, "rb") as fh:  # a file object works as well as a path
        resource = client.upload_resource(dataset["id"], fh, name="secret", format="CSV")
    client.download_resource(resource, tmp_path / "mine.csv")
    assert (tmp_path / "mine.csv").read_bytes() == source.read_bytes()
    with pytest.raises((exc.NotAuthorized, exc.NotFound)) as refused:
        client.anonymous.download_resource(resource, tmp_path / "theirs.csv")
    assert refused.value.status_code in (403, 404)
    assert not (tmp_path / "theirs.csv").exists()


@pytest.fixture
def table(client: CkanLowlevelClient, factory: Factory) -> dict[str, Any]:
    dataset = factory.make_dataset()
    return {"dataset": dataset, "store": DataStore(client, chunk_size=2000, page_size=3000, concurrency=2)}


def frame_of(rows: int) -> pd.DataFrame:
    start = datetime.datetime(2024, 1, 1)
    return pd.DataFrame({
        "station": [f"站點-{i % 97}" for i in range(rows)],
        "reading": [i * 0.25 for i in range(rows)],
        "count": list(range(rows)),
        "valid": [i % 3 != 0 for i in range(rows)],
        "at": [start + datetime.timedelta(minutes=i) for i in range(rows)],
    })


def test_fifty_thousand_rows_from_a_dataframe_and_back(table: dict[str, Any]) -> None:
    store: DataStore = table["store"]
    frame = frame_of(50_000)
    resource_id = store.from_dataframe(frame, resource={"package_id": table["dataset"]["id"], "name": "table"})
    types = {f["id"]: f["type"] for f in store.info(resource_id)}
    assert types == {"_id": "int", "station": "text", "reading": "float8", "count": "int8", "valid": "bool",
                     "at": "timestamp"}
    rows = list(store.iter_records(resource_id))
    assert len(rows) == 50_000
    assert [r["_id"] for r in rows] == sorted(r["_id"] for r in rows)
    assert [r["count"] for r in rows] == list(range(50_000))
    back = store.to_dataframe(resource_id)
    assert list(back.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(back.sort_values("count").reset_index(drop=True), frame, check_dtype=False)
    subset = store.to_dataframe(resource_id, filters={"station": "站點-5"}, fields=["count", "reading"])
    assert list(subset.columns) == ["count", "reading"]
    assert subset["count"].tolist() == [i for i in range(50_000) if i % 97 == 5]


def test_upsert_update_delete_and_sql(table: dict[str, Any]) -> None:
    store: DataStore = table["store"]
    resource_id = store.create(resource={"package_id": table["dataset"]["id"], "name": "keyed"},
                               fields=[{"id": "code", "type": "text"}, {"id": "value", "type": "int"}],
                               records=[{"code": f"c{i}", "value": i} for i in range(10)], primary_key="code")
    store.upsert(resource_id, [{"code": "c1", "value": 100}, {"code": "new", "value": -1}])
    store.upsert(resource_id, [{"code": "c2", "value": 200}], method="update")
    with pytest.raises(exc.ValidationError):
        store.upsert(resource_id, [{"code": "missing", "value": 0}], method="update")
    store.delete_records(resource_id, {"code": "c3"})
    values = {r["code"]: r["value"] for r in store.iter_records(resource_id)}
    assert values["c1"] == 100 and values["c2"] == 200 and values["new"] == -1 and "c3" not in values
    assert len(values) == 10
    with pytest.raises(exc.InvalidInput):
        store.delete_records(resource_id, {})
    rows = store.search_sql(f'SELECT code, value FROM "{resource_id}" WHERE value >= 100 ORDER BY value')
    assert [(r["code"], r["value"]) for r in rows] == [("c1", 100), ("c2", 200)]


def test_a_read_while_rows_are_appended_gives_each_row_at_most_once(table: dict[str, Any],
                                                                    client: CkanLowlevelClient) -> None:
    store = DataStore(client, chunk_size=500, page_size=500)
    resource_id = store.create(resource={"package_id": table["dataset"]["id"], "name": "growing"},
                               fields=[{"id": "n", "type": "int"}], records=[{"n": i} for i in range(5000)])
    stop = threading.Event()
    appended = []

    def writer() -> None:
        n = 100_000
        while not stop.is_set():
            store.upsert(resource_id, [{"n": n + k} for k in range(50)], method="insert")
            appended.append(n)
            n += 50

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen = [r["_id"] for r in store.iter_records(resource_id)]
    finally:
        stop.set()
        thread.join()
    assert appended, "the writer never got to write during the read"
    assert len(seen) == len(set(seen))  # no row twice
    assert set(range(1, 5001)) <= set(seen)  # none of the rows that were there was skipped


def test_fallback_paging_on_2_11_gives_the_same_rows(other_stack: Stack, tmp_path: Path) -> None:
    client = other_stack.client()
    org = client.post_organization({"name": f"ds-{os.getpid()}-{datetime.datetime.now().timestamp():.0f}"})
    try:
        dataset = client.post_dataset({"name": org["name"], "owner_org": org["id"]})
        store = DataStore(client, chunk_size=1000, page_size=700)
        assert store.has_keyset_paging is False
        resource_id = store.create(resource={"package_id": dataset["id"], "name": "t"},
                                   fields=[{"id": "n", "type": "int"}], records=[{"n": i} for i in range(5000)])
        rows = list(store.iter_records(resource_id))
        assert sorted(r["n"] for r in rows) == list(range(5000))  # chunks went in concurrently: any order
        assert [r["_id"] for r in rows] == sorted({r["_id"] for r in rows})  # each once, in _id order
        frame = store.to_dataframe(resource_id)
        assert sorted(frame["n"].tolist()) == list(range(5000))
    finally:
        client.call_action("dataset_purge", {"id": org["name"]})
        client.delete_organization(org["id"])


def test_keyset_paging_is_used_on_2_12(table: dict[str, Any], client: CkanLowlevelClient) -> None:
    store: DataStore = table["store"]
    if not store.has_keyset_paging:
        pytest.skip("the default stack is not CKAN 2.12")
    resource_id = store.create(resource={"package_id": table["dataset"]["id"], "name": "k"},
                               fields=[{"id": "n", "type": "int"}], records=[{"n": i} for i in range(7000)])
    before = client.transport.stats.by_action.get("datastore_search", 0)
    assert len(list(store.iter_records(resource_id))) == 7000
    assert client.transport.stats.by_action["datastore_search"] - before == 3  # 3000 + 3000 + 1000
