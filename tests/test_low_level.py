"""CkanLowlevelClient and AsyncCkanLowlevelClient, every public member, against the real local CKAN.

Each test runs twice (``mode``): with the sync client, and with the async one behind blocking calls
(``tests/async_facade.py``): the two are built on the same core, and this shows they behave alike."""

from __future__ import annotations

import logging
import math
import os
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import requests

from ckan_api_client import exceptions as exc
from ckan_api_client.low_level import CkanLowlevelClient
from ckan_stack_plugin import Factory, Stack
from ckan_api_client.testing import unique_name
from real_portals import as_core_dataset, depositar, portal_datasets


MODES = ["sync", "async"]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(ckan_stack: Stack, mode: str) -> Iterator[Any]:
    with ckan_stack.open(mode) as opened:
        yield opened


# ---------------------------------------------------------------- plumbing


def test_anonymous_is_a_copy_without_the_key(mode: str, ckan_stack: Stack) -> None:
    client = ckan_stack.open(mode, timeout=7.5, page_size=17)
    anonymous = client.anonymous
    assert anonymous is not client
    assert anonymous.api_key is None
    assert client.api_key is not None  # the original keeps its key
    assert anonymous.base_url == client.base_url
    assert anonymous.page_size == 17 and anonymous.options.timeout == 7.5
    with pytest.raises(exc.NotAuthorized) as caught:
        anonymous.post_dataset({"name": unique_name()})
    assert caught.value.status_code == 403
    assert caught.value.action == "package_create"


def test_request_serializes_objects_and_adds_the_token(client: CkanLowlevelClient, factory: Factory,
                                                       mode: str) -> None:
    org = factory.make_org()
    name = unique_name("req")
    response = client.request("POST", "/api/3/action/package_create", data={"name": name, "owner_org": org["id"]})
    assert isinstance(response, requests.Response if mode == "sync" else httpx.Response)
    assert response.request.headers["Content-Type"] == "application/json"
    assert response.request.headers["Authorization"] == client.api_key.reveal()  # type: ignore[union-attr]
    factory.track_dataset(response.json()["result"]["id"])
    assert response.json()["result"]["name"] == name
    # Other kwargs pass through to requests; GET with params works and needs no token.
    shown = client.anonymous.request("GET", "/api/3/action/package_show", params={"id": name})
    assert "Authorization" not in shown.request.headers
    assert shown.json()["result"]["name"] == name
    # With files, data stays a form: a multipart upload.
    uploaded = client.request("POST", "/api/3/action/resource_create", data={"package_id": name, "name": "f"},
                              files={"upload": ("f.txt", b"form upload \xe2\x9c\x93")})
    assert uploaded.request.headers["Content-Type"].startswith("multipart/form-data")
    assert client.request("GET", uploaded.json()["result"]["url"]).content == b"form upload \xe2\x9c\x93"


def test_request_raises_typed_http_errors(client: CkanLowlevelClient) -> None:
    with pytest.raises(exc.NotFound) as caught:
        client.request("GET", "/api/3/action/package_show", params={"id": "no-such-" + uuid.uuid4().hex})
    error = caught.value
    assert isinstance(error, exc.HTTPError)
    assert error.status_code == 404 and error.message == "Not found"
    assert error.error_type == "Not Found Error"
    assert '"success": false' in (error.original or "")
    # Unknown action: CKAN answers a bare JSON string, not an envelope.
    with pytest.raises(exc.BadRequest) as unknown:
        client.request("POST", "/api/3/action/no_such_action", data={})
    assert unknown.value.status_code == 400
    assert "no_such_action" in unknown.value.message
    # A page that is not an API call: an HTML 404 page.
    with pytest.raises(exc.NotFound) as page:
        client.request("GET", "/no/such/page/" + uuid.uuid4().hex)
    assert page.value.message.startswith("HTML page")


def test_capabilities_come_from_status_show(mode: str, any_stack: Stack) -> None:
    client = any_stack.open(mode)
    capabilities = client.capabilities
    assert capabilities.ckan_version == any_stack.version
    assert capabilities.version[:2] in ((2, 10), (2, 11), (2, 12))
    assert capabilities.has_extension("datastore")
    before = client.transport.stats.requests
    assert client.capabilities is capabilities  # fetched once
    assert client.transport.stats.requests == before


def test_call_action_get_params_and_plugin_actions(client: CkanLowlevelClient, factory: Factory) -> None:
    dataset = factory.make_dataset(resources=[{"url": "http://example.com/x.csv", "name": "x"}])
    found = client.call_action("package_search", {"q": f"name:{dataset['name']}", "rows": 1}, method="GET")
    assert found["count"] == 1
    resource_id = dataset["resources"][0]["id"]
    client.call_action("datastore_create", {"resource_id": resource_id, "force": True,
                                            "records": [{"a": 1, "b": "ü"}, {"a": 2, "b": "東"}]})
    rows = client.call_action("datastore_search", {"resource_id": resource_id, "sort": "a"})["records"]
    assert [(r["a"], r["b"]) for r in rows] == [(1, "ü"), (2, "東")]


def test_call_action_multipart_upload_round_trip(client: CkanLowlevelClient, factory: Factory,
                                                 tmp_path: Path) -> None:
    dataset = factory.make_dataset()
    payload = os.urandom(2_500_000)
    path = tmp_path / "upload.bin"
    path.write_bytes(payload)
    seen: list[int] = []
    resource = client.call_action("resource_create", {"package_id": dataset["id"], "name": "Ünïcode file"},
                                  files={"upload": path}, progress=seen.append)
    assert resource["url_type"] == "upload" and resource["name"] == "Ünïcode file"
    assert seen and seen[-1] >= len(payload)
    downloaded = client.request("GET", resource["url"])
    assert downloaded.content == payload


def test_bad_input_is_rejected_before_any_request(client: CkanLowlevelClient) -> None:
    before = client.transport.stats.requests
    with pytest.raises(exc.InvalidInput, match="id"):
        client.put_dataset({"name": "no-id"})
    with pytest.raises(exc.InvalidInput):
        client.post_dataset(["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(exc.InvalidInput):
        client.post_dataset({"name": "x", "tags": "not-a-list"})
    with pytest.raises(exc.InvalidInput):
        client.put_organization({"title": "no id"})
    with pytest.raises(exc.InvalidInput):
        client.get_dataset(None)  # type: ignore[arg-type]
    with pytest.raises(exc.InvalidInput):
        client.call_action("../../etc/passwd")
    with pytest.raises(ValueError):  # InvalidInput is a ValueError too
        client.call_action("package_show", ["id"])  # type: ignore[arg-type]
    assert client.transport.stats.requests == before


# ---------------------------------------------------------------- datasets


def test_dataset_crud_and_errors(client: CkanLowlevelClient, factory: Factory) -> None:
    org = factory.make_org()
    name = unique_name("crud")
    created = client.post_dataset({"name": name, "title": "First", "owner_org": org["id"],
                                   "resources": [{"url": "http://example.com/1.csv", "name": "one"}]})
    factory.track_dataset(created["id"])
    assert created["name"] == name and created["title"] == "First"
    assert client.get_dataset(created["id"]) == client.get_dataset(name)

    updated = client.put_dataset({**created, "title": "Second"})
    assert updated["title"] == "Second" and updated["id"] == created["id"]

    with pytest.raises(exc.ValidationError) as invalid:
        client.post_dataset({"name": "Not A Valid Name!", "owner_org": org["id"]})
    assert invalid.value.status_code == 409
    assert "name" in invalid.value.error_dict
    assert "lowercase" in " ".join(invalid.value.error_dict["name"])

    with pytest.raises(exc.NotFound) as missing:
        client.get_dataset("no-such-dataset-" + uuid.uuid4().hex)
    assert missing.value.status_code == 404

    client.delete_dataset(created["id"])
    assert client.get_dataset(created["id"])["state"] == "deleted"  # sysadmins still see it
    assert created["id"] not in client.list_datasets()


def test_delete_ignores_404_unless_asked(client: CkanLowlevelClient) -> None:
    ghost = "no-such-dataset-" + uuid.uuid4().hex
    assert client.delete_dataset(ghost) is None
    with pytest.raises(exc.NotFound):
        client.delete_dataset(ghost, ignore_404=False)
    client.delete_group(ghost)
    with pytest.raises(exc.NotFound):
        client.delete_group(ghost, ignore_404=False)
    client.delete_organization(ghost)
    with pytest.raises(exc.NotFound):
        client.delete_organization(ghost, ignore_404=False)


def test_put_dataset_replaces_what_it_is_given_and_keeps_the_rest(mode: str, any_stack: Stack,
                                                                 any_factory: Factory) -> None:
    """put_* replaces the fields given and keeps the ones left out, every one of them (not only the
    resources, the data-loss trap of package_update before CKAN 2.12)."""
    client = any_stack.open(mode)
    dataset = any_factory.make_dataset(resources=[{"url": "http://example.com/a.csv", "name": "a"},
                                                  {"url": "http://example.com/b.csv", "name": "b"}],
                                       tags=[{"name": "air"}], extras=[{"key": "k", "value": "v"}], notes="kept")
    updated = client.put_dataset({"id": dataset["id"], "title": "Updated title"})
    assert updated["title"] == "Updated title"
    now = client.get_dataset(dataset["id"])
    assert [r["name"] for r in now["resources"]] == ["a", "b"]
    assert [t["name"] for t in now["tags"]] == ["air"] and now["extras"] == [{"key": "k", "value": "v"}]
    assert now["notes"] == "kept"
    # A field given empty is emptied.
    emptied = client.put_dataset({"id": dataset["id"], "resources": [], "tags": [], "extras": []})
    assert emptied["resources"] == [] and emptied["tags"] == [] and emptied["extras"] == []
    assert emptied["title"] == "Updated title"


def test_seed_shapes_are_converted_on_write(client: CkanLowlevelClient, factory: Factory) -> None:
    org = factory.make_org()
    group = factory.make_group()
    dataset = client.post_dataset({"name": unique_name("seed"), "owner_org": org["name"],
                                   "extras": {"spatial": "Taipei", "年份": "2020"},
                                   "tags": ["air quality", "台北"], "groups": [group["name"]]})
    factory.track_dataset(dataset["id"])
    assert {e["key"]: e["value"] for e in dataset["extras"]} == {"spatial": "Taipei", "年份": "2020"}
    assert sorted(t["name"] for t in dataset["tags"]) == sorted(["air quality", "台北"])
    assert [g["id"] for g in dataset["groups"]] == [group["id"]]


def test_unicode_round_trip_of_real_records(client: CkanLowlevelClient, factory: Factory) -> None:
    org = factory.make_org()
    records = [r for r in depositar(60) if any(ord(c) > 0x3000 for c in r.get("title", ""))][:15]
    records += portal_datasets("govdata-de") + portal_datasets("birmingham")[:3]
    assert len(records) >= 15
    for record in records:
        sent = as_core_dataset(record, unique_name("real"), org["id"])
        sent["tags"] = [t for t in sent["tags"] if 2 <= len(t["name"]) <= 100 and "/" not in t["name"]
                        and "," not in t["name"]]
        created = client.post_dataset(sent)
        factory.track_dataset(created["id"])
        got = client.get_dataset(created["id"])
        for key in ("title", "notes", "author", "maintainer", "url", "version"):
            if key in sent:
                assert got[key] == sent[key], key
        assert {e["key"]: e["value"] for e in got["extras"]} == {e["key"]: e["value"] for e in sent["extras"]}
        assert sorted(t["name"] for t in got["tags"]) == sorted(t["name"] for t in sent["tags"])
        assert [(r["name"], r.get("description", "")) for r in got["resources"]] == \
            [(r.get("name"), r.get("description", "")) for r in sent["resources"]]


@pytest.fixture
def paged_datasets(factory: Factory) -> dict[str, Any]:
    org = factory.make_org()
    public = [factory.make_dataset(org=org, title=f"page test {i}") for i in range(6)]
    private = factory.make_dataset(org=org, private=True)
    draft = factory.make_dataset(org=org, state="draft")
    return {"public": [d["id"] for d in public], "private": private["id"], "draft": draft["id"]}


def test_list_and_iter_datasets_page_through_everything(mode: str, ckan_stack: Stack,
                                                        paged_datasets: dict[str, Any]) -> None:
    client = ckan_stack.open(mode, page_size=3)
    total = client.call_action("package_search", {"rows": 0, "include_private": True})["count"]
    assert total >= 7

    before = client.transport.stats.requests
    ids = client.list_datasets()
    list_requests = client.transport.stats.requests - before
    assert len(ids) == len(set(ids)) == total
    assert set(paged_datasets["public"]) <= set(ids)
    assert paged_datasets["private"] in ids  # the sysadmin may see it
    assert paged_datasets["draft"] not in ids  # only active datasets
    assert list_requests == math.ceil(total / 3)  # pages, not datasets

    before = client.transport.stats.requests
    datasets = list(client.iter_datasets())
    walks = client.facts.walks  # the async client walks id ranges at once: a page or so more, in fewer rounds
    assert math.ceil(total / 3) <= client.transport.stats.requests - before <= total // 3 + walks
    assert [d["id"] for d in datasets] == ids if walks == 1 else sorted(d["id"] for d in datasets) == sorted(ids)
    assert len(datasets) == len({d["id"] for d in datasets})
    by_id = {d["id"]: d for d in datasets}
    for dataset_id in paged_datasets["public"] + [paged_datasets["private"]]:
        assert by_id[dataset_id] == client.get_dataset(dataset_id)

    anonymous_ids = client.anonymous.list_datasets()
    assert paged_datasets["private"] not in anonymous_ids
    assert set(paged_datasets["public"]) <= set(anonymous_ids)


def test_iter_datasets_large_pages(client: CkanLowlevelClient, paged_datasets: dict[str, Any]) -> None:
    total = client.call_action("package_search", {"rows": 0, "include_private": True})["count"]
    before = client.transport.stats.requests
    ids = [d["id"] for d in client.iter_datasets()]
    # Pages of 1,000 (CKAN's rows_max): one for a test site, two after scripts/demo's 1,839 records; the
    # async client walks its id ranges at once, a page (or an empty answer) for each at least.
    sent = client.transport.stats.requests - before
    walks = client.facts.walks
    if walks == 1:
        assert sent == max(1, math.ceil(total / 1000))
    else:
        assert walks <= sent <= total // 1000 + walks
    assert set(paged_datasets["public"]) <= set(ids)


# ---------------------------------------------------------------- groups, organizations, licenses


@pytest.mark.parametrize("kind", ["group", "organization"])
def test_group_and_organization_crud(client: CkanLowlevelClient, kind: str) -> None:
    list_ids = getattr(client, f"list_{kind}s")
    iter_all = getattr(client, f"iter_{kind}s")
    get, post, put, delete = (getattr(client, f"{verb}_{kind}") for verb in ("get", "post", "put", "delete"))
    name = unique_name(kind[:3])
    created = post({"name": name, "title": "Ünïcödé 標題", "extras": {"region": "北部"}})
    try:
        assert created["name"] == name and created["title"] == "Ünïcödé 標題"
        assert {e["key"]: e["value"] for e in created["extras"]} == {"region": "北部"}
        ids = list_ids()
        assert created["id"] in ids and len(ids) == len(set(ids))
        assert all(isinstance(i, str) for i in ids)
        fetched = get(created["id"])
        assert fetched["name"] == name and get(name)["id"] == created["id"]
        full = {g["id"]: g for g in iter_all()}
        assert full[created["id"]]["title"] == "Ünïcödé 標題"
        updated = put({**fetched, "title": "New title"})
        assert updated["title"] == "New title" and updated["id"] == created["id"]
    finally:
        delete(created["id"])
    assert created["id"] not in list_ids()
    # Purged, so the name is free again.
    again = post({"name": name})
    delete(again["id"])
    with pytest.raises(exc.NotFound):
        get(again["id"])


def test_list_organizations_pages_past_the_all_fields_limit(client: CkanLowlevelClient, factory: Factory) -> None:
    made = {factory.make_org()["id"] for _ in range(27)}  # CKAN gives at most 25 per all_fields page
    ids = client.list_organizations()
    assert made <= set(ids) and len(ids) == len(set(ids))


def test_put_organization_without_users_keeps_members(mode: str, any_stack: Stack, any_factory: Factory) -> None:
    client = any_stack.open(mode)
    org = any_factory.make_org()
    user = any_factory.make_user()
    client.call_action("organization_member_create", {"id": org["id"], "username": user["name"],
                                                      "role": "editor"})
    current = client.get_organization(org["id"])
    without_users = {k: v for k, v in current.items() if k != "users"}
    client.put_organization({**without_users, "description": "updated"})
    after = client.get_organization(org["id"])
    assert after["description"] == "updated"
    assert {(u["name"], u["capacity"]) for u in after["users"]} >= {(user["name"], "editor")}


def test_list_licenses(client: CkanLowlevelClient) -> None:
    licenses = client.list_licenses()
    ids = {lic["id"] for lic in licenses}
    assert {"cc-by", "notspecified", "odc-odbl"} <= ids
    assert all("title" in lic for lic in licenses)


# ---------------------------------------------------------------- the token stays secret


def test_token_never_appears_in_reprs_errors_or_logs(mode: str, ckan_stack: Stack,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    token = ckan_stack.token
    caplog.set_level(logging.DEBUG)
    client = ckan_stack.open(mode)
    texts = [repr(client), str(client), repr(client.transport), repr(client.api_key), str(client.api_key),
             repr(getattr(client, "actions", client))]
    try:
        client.get_dataset("no-such-" + uuid.uuid4().hex)
    except exc.HTTPError as error:
        texts += [str(error), repr(error), str(error.original), str(error.url), str(vars(error))]
    try:
        client.call_action("package_create", {"name": "Bad Name"})
    except exc.ValidationError as error:
        texts += [str(error), repr(error), str(error.original)]
    client.list_datasets()
    texts.append(caplog.text)
    assert "package_show" in caplog.text  # the requests were logged ...
    for text in texts:
        assert token not in text  # ... and the token never was
