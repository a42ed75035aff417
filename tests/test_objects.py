"""Entity objects: lossless on every real record, and a diff that knows what matters."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ckan_api_client import exceptions as exc
from ckan_api_client.core.objects import Dataset, Group, Organization, Resource, diff, format_diff
from ckan_stack_plugin import REAL_PORTALS
from real_portals import _lines


def all_real(kind: str) -> list[dict[str, Any]]:
    records = []
    for path in sorted(REAL_PORTALS.glob(f"*/{kind}.jsonl*")):
        records.extend(_lines(path))
    return records


def test_every_real_dataset_round_trips_losslessly() -> None:
    records = all_real("datasets")
    assert len(records) >= 1839 + 10 + 1 + 5 + 3 + 1 + 20
    for record in records:
        obj = Dataset.from_api(record)
        assert obj.to_api() == record
        assert diff(obj, record) == []
        assert obj.copy().to_api() == record


def test_every_real_organization_round_trips_losslessly() -> None:
    records = all_real("organizations")
    assert len(records) >= 337 + 46
    for record in records:
        assert Organization.from_api(record).to_api() == record


def test_typed_attributes_of_a_real_record() -> None:
    record = next(r for r in all_real("datasets") if r.get("tags") and r.get("organization") and r.get("keywords"))
    obj = Dataset.from_api(record)
    assert obj.name == record["name"] and obj.title == record["title"]
    assert obj.tags == [t["name"] for t in record["tags"]]
    assert obj.organization_name == record["organization"]["name"]
    assert obj.extra_fields["keywords"] == record["keywords"]  # a scheming field, kept as it came
    assert [r.name for r in obj.resources] == [r.get("name") for r in record["resources"]]
    assert obj.metadata_modified == record["metadata_modified"]


def test_changes_are_emitted_and_the_rest_kept() -> None:
    record = next(r for r in all_real("datasets") if len(r.get("extras") or []) > 3)
    obj = Dataset.from_api(record)
    obj.title = "A new title"
    obj.tags.append("new-tag")
    first_extra = record["extras"][0]["key"]
    obj.extras[first_extra] = "changed"
    obj.extras["brand-new"] = "x"
    out = obj.to_api()
    assert out["title"] == "A new title"
    assert out["tags"][:-1] == record["tags"] and out["tags"][-1] == {"name": "new-tag"}
    extras = {e["key"]: e["value"] for e in out["extras"]}
    assert extras[first_extra] == "changed" and extras["brand-new"] == "x"
    assert len(out["extras"]) == len(record["extras"]) + 1
    for key in set(record) - {"title", "tags", "extras"}:
        assert out[key] == record[key]


def test_diff_ignores_server_fields_order_and_empties() -> None:
    record = next(r for r in all_real("datasets") if len(r.get("resources") or []) >= 2 and r.get("tags"))
    other = copy.deepcopy(record)
    other["id"] = "another-id"
    other["metadata_modified"] = "2030-01-01T00:00:00"
    other["num_resources"] = 99
    other["tags"] = list(reversed(other["tags"]))
    for resource in other["resources"]:
        resource["id"] = "x" + resource["id"]
        resource["position"] = 42
        resource["created"] = "2030-01-01"
    other["version"] = None if record.get("version") in ("", None) else record["version"]
    assert diff(record, other) == []
    assert Dataset.from_api(record).same_as(Dataset.from_api(other))


def test_diff_sees_real_changes_and_reads_well() -> None:
    current = {"name": "d", "title": "Old", "notes": "n", "extras": [{"key": "a", "value": "1"}],
               "resources": [{"id": "r1", "name": "one", "url": "http://x/1", "mimetype": "text/csv"}]}
    desired = {"name": "d", "title": "New", "extras": [{"key": "a", "value": "2"}, {"key": "b", "value": "3"}],
               "resources": [{"name": "one", "url": "http://x/1"}, {"name": "two", "url": "http://x/2"}]}
    changes = diff(desired, current)
    text = format_diff(changes)
    assert {c.path for c in changes} == {("title",), ("notes",), ("extras", "a"), ("extras", "b"), ("resources", 1)}
    assert "~ title: 'Old' -> 'New'" in text and "- notes: 'n'" in text and "+ extras.b: '3'" in text
    # The server's guessed mimetype is no change when the desired side leaves it out...
    assert ("resources", 0, "mimetype") not in {c.path for c in changes}
    # ... but it is when the desired side sets it.
    desired["resources"][0]["mimetype"] = "application/json"
    assert ("resources", 0, "mimetype") in {c.path for c in diff(desired, current)}


def test_group_objects() -> None:
    group = Group.from_api({"name": "g", "title": "G", "extras": [{"key": "k", "value": "v"}], "package_count": 3})
    assert group.extras == {"k": "v"} and group.extra_fields == {"package_count": 3}
    assert diff(Group(name="g", title="G", extras={"k": "v"}), group) == []
    assert {c.path for c in diff(Group(name="g", title="H", extras={"k": "v"}), group)} == {("title",)}
    assert {c.path for c in diff(Group(name="g", title="G"), group)} == {("extras", "k")}


def test_from_api_rejects_non_dicts() -> None:
    with pytest.raises(exc.InvalidInput):
        Dataset.from_api(["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(exc.InvalidInput):
        Resource.from_api("x")  # type: ignore[arg-type]


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(
    st.text(max_size=6), c, max_size=3), max_leaves=8)
dataset_dicts = st.fixed_dictionaries(
    {"name": st.text(max_size=10)},
    optional={
        "title": json_scalars, "notes": json_scalars, "private": st.booleans(),
        "tags": st.lists(st.fixed_dictionaries({"name": st.text(max_size=8)}, optional={"id": st.text(max_size=4)})
                         | st.text(max_size=5), max_size=4) | json_values,
        "extras": st.lists(st.fixed_dictionaries({"key": st.text(max_size=6), "value": json_values}), max_size=4)
        | json_values,
        "groups": st.lists(st.fixed_dictionaries({"name": st.text(max_size=6)}), max_size=3) | json_values,
        "resources": st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=4), max_size=3) | json_values,
        "custom": json_values,
    })


@settings(max_examples=300)
@given(dataset_dicts)
def test_any_dataset_dict_round_trips(data: dict[str, Any]) -> None:
    """Whatever the shape, what comes in goes out: odd shapes are kept as they were."""
    assert Dataset.from_api(data).to_api() == data
    assert json.dumps(Dataset.from_api(data).to_api(), sort_keys=True, default=str) == \
        json.dumps(data, sort_keys=True, default=str)


@settings(max_examples=200)
@given(dataset_dicts)
def test_diff_of_a_dataset_with_itself_or_its_round_trip_is_empty(data: dict[str, Any]) -> None:
    assert diff(data, data) == []
    assert diff(Dataset.from_api(data), data) == []


@settings(max_examples=200)
@given(dataset_dicts, st.text(min_size=1, max_size=10))
def test_diff_sees_a_changed_title(data: dict[str, Any], title: str) -> None:
    changed = dict(data, title=title)

    def shown(d: dict[str, Any]) -> Any:  # CKAN titles a dataset without a title with its name
        return d.get("name") if any(d.get("title") is e or d.get("title") == e and type(d.get("title")) is type(e)
                                    for e in (None, "", [], {})) else d.get("title")

    assert (diff(changed, data) == []) == (shown(changed) == shown(data))


def test_a_draft_stays_a_draft_and_a_change_of_state_is_a_change() -> None:
    from ckan_api_client.core.objects import portable_dataset

    draft = {"id": "x", "name": "d", "state": "draft", "metadata_modified": "2026-01-01T00:00:00"}
    assert portable_dataset(draft) == {"name": "d", "state": "draft", "groups": [], "tags": []}
    active = {"name": "d", "state": "active"}
    assert diff(portable_dataset({**draft, "state": "active"}), {**draft}, Dataset)  # published at the source
    assert not diff(active, {**draft, "state": "active"}, Dataset)
    assert not diff({"name": "d"}, draft, Dataset)  # a record that says nothing of its state leaves it be
    assert "state" not in portable_dataset({**draft, "state": "deleted"})
