"""CkanHighlevelClient and AsyncCkanHighlevelClient against the real stack (each test runs for both:
the async one behind blocking calls, ``tests/async_facade.py``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ckan_api_client import exceptions as exc
from async_facade import Blocking
from ckan_api_client import AsyncCkanHighlevelClient
from ckan_api_client import CkanHighlevelClient
from ckan_api_client.core.objects import Dataset, Organization, Resource
from ckan_stack_plugin import Factory, Stack
from ckan_api_client.testing import unique_name


@pytest.fixture(params=["sync", "async"])
def high(ckan_stack: Stack, request: pytest.FixtureRequest) -> Any:
    if request.param == "sync":
        return CkanHighlevelClient(ckan_stack.url, ckan_stack.token)
    return Blocking(AsyncCkanHighlevelClient(ckan_stack.url, ckan_stack.token))


def revise_count(high: CkanHighlevelClient) -> int:
    return high.client.transport.stats.by_action.get("package_revise", 0)


def test_datasets_as_objects(high: CkanHighlevelClient, factory: Factory) -> None:
    org = factory.make_org()
    group = factory.make_group()
    created = high.create_dataset(Dataset(name=unique_name("hl"), title="Objects", owner_org=org["name"],
                                          tags=["one", "two"], extras={"k": "v"}, groups=[group["name"]],
                                          resources=[Resource(name="r", url="http://example.com/r.csv")],
                                          extra_fields={"unknown_to_core": "dropped by vanilla CKAN"}))
    factory.track_dataset(created.id or "")
    assert isinstance(created, Dataset)
    assert created.owner_org == org["id"] and created.organization_name == org["name"]
    assert sorted(created.tags) == ["one", "two"] and created.extras == {"k": "v"}
    assert created.groups == [group["name"]]
    assert [r.name for r in created.resources] == ["r"]
    fetched = high.get_dataset(created.name or "")
    assert fetched.same_as(created)
    assert fetched.to_api() == high.client.get_dataset(created.id or "")
    assert created.id in high.list_datasets()
    assert any(d.id == created.id and d.same_as(fetched) for d in high.iter_datasets())


def test_update_sends_only_what_changed(high: CkanHighlevelClient, factory: Factory) -> None:
    dataset = high.get_dataset(factory.make_dataset(title="Before", notes="old notes")["id"])
    before = revise_count(high)
    assert high.update_dataset(dataset) is dataset  # no change: no request
    assert revise_count(high) == before

    # Someone else edits the notes meanwhile; we change the title only.
    high.client.call_action("package_patch", {"id": dataset.id, "notes": "their notes"})
    dataset.title = "After"
    with pytest.raises(exc.ConcurrentModification):
        high.update_dataset(dataset)
    updated = high.update_dataset(dataset, check_concurrent=False)
    assert updated.title == "After"
    assert updated.notes == "their notes"  # only the title was sent: their edit stays
    assert revise_count(high) == before + 2

    # Lists are replaced, removals removed, resources kept by id.
    updated.tags = ["fresh"]
    updated.extras = {"x": "1"}
    updated.notes = None
    updated.resources.append(Resource(name="added", url="http://example.com/added.csv"))
    again = high.update_dataset(updated)
    assert again.tags == ["fresh"] and again.extras == {"x": "1"} and not again.notes
    assert [r.name for r in again.resources] == ["added"]
    assert high.get_dataset(again.id or "").same_as(again)


def test_update_of_an_object_never_read(high: CkanHighlevelClient, factory: Factory) -> None:
    made = factory.make_dataset(title="Original", notes="kept")
    updated = high.update_dataset(Dataset(id=made["id"], title="Changed"))
    assert updated.title == "Changed" and updated.notes == "kept"  # fields it does not name stay


def test_resources_inside_their_dataset(high: CkanHighlevelClient, factory: Factory, tmp_path: Path) -> None:
    dataset = factory.make_dataset(resources=[{"name": "link", "url": "http://example.com/a.csv"}])
    data = os.urandom(1_000_000)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    uploaded = high.add_resource(dataset["id"], Resource(name="file", description="désc",
                                                         extra_fields={"schema": {"fields": ["a", "b"]}}), file=path)
    assert uploaded.url_type == "upload" and uploaded.extra_fields["schema"] == {"fields": ["a", "b"]}
    assert high.client.request("GET", uploaded.url or "").content == data

    replacement = tmp_path / "v2.txt"
    replacement.write_bytes(b"version two")
    replaced = high.replace_resource_file(uploaded.id or "", replacement)
    assert high.client.request("GET", replaced.url or "").content == b"version two"

    replaced.description = "new description"
    patched = high.update_resource(replaced)
    assert patched.description == "new description" and patched.extra_fields["schema"] == {"fields": ["a", "b"]}

    link_id = dataset["resources"][0]["id"]
    high.reorder_resources(dataset["id"], [patched.id or "", link_id])
    assert [r.name for r in high.get_dataset(dataset["id"]).resources] == ["file", "link"]
    high.delete_resource(link_id)
    assert [r.name for r in high.get_dataset(dataset["id"]).resources] == ["file"]


def test_organizations_and_groups(high: CkanHighlevelClient, factory: Factory) -> None:
    name = unique_name("hlorg")
    org = high.create_organization(Organization(name=name, title="Org", extras={"region": "北部"}))
    try:
        user = factory.make_user()
        high.client.call_action("organization_member_create", {"id": org.id, "username": user["name"],
                                                               "role": "editor"})
        org = high.get_organization(name)
        org.title = "Renamed"
        updated = high.update_organization(org)
        assert updated.title == "Renamed" and updated.extras == {"region": "北部"}
        members = high.client.get_organization(name)["users"]
        assert user["name"] in [m["name"] for m in members]  # the patch kept the members
        assert high.resolve_organization(name) == high.resolve_organization(org.id or "")
        assert high.resolve_organization(unique_name("missing")) is None
        assert org.id in high.list_organizations()
    finally:
        high.delete_organization(name)
    with pytest.raises(exc.NotFound):
        high.get_organization(name)

    group = high.create_group({"name": unique_name("hlgrp"), "title": "Group"})
    group.description = "about"
    assert high.update_group(group).description == "about"
    high.delete_group(group.id or "")


def test_licenses(high: CkanHighlevelClient) -> None:
    licenses = {lic.id: lic for lic in high.list_licenses()}
    assert licenses["cc-by"].title and licenses["odc-odbl"].url


def test_save_creates_then_updates(high: CkanHighlevelClient, factory: Factory) -> None:
    org = factory.make_org()
    saved = high.save_dataset(Dataset(name=unique_name("save"), owner_org=org["id"], title="one"))
    factory.track_dataset(saved.id or "")
    assert saved.id and saved.title == "one"
    saved.title = "two"
    assert high.save_dataset(saved).title == "two"


def test_resolved_groups_are_remembered_until_forgotten(high: CkanHighlevelClient, factory: Factory) -> None:
    group = factory.make_group(title="Before")
    assert high.resolve_group(group["name"]).title == "Before"  # type: ignore[union-attr]
    high.client.call_action("group_patch", {"id": group["id"], "title": "After"})
    assert high.resolve_group(group["name"]).title == "Before"  # type: ignore[union-attr]
    high.forget_resolved()
    assert high.resolve_group(group["id"]).title == "After"  # type: ignore[union-attr]
