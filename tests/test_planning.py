"""Sync planning without a CKAN: record preparation, cleaners, hashing and the plan (unit and property tests)."""

from __future__ import annotations

import collections
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ckan_api_client import exceptions as exc
from ckan_api_client.core.objects import diff
from ckan_api_client.engines.planning import (SOURCE_ID_KEY, SOURCE_KEY, DeleteLimit, PortalEntry, Prepared, Rejected,
                                      SourceEntry, Step, clean_tags, content_hash, delete_refusal,
                                      deletes_planned, drop_placeholder_emails, instant,
                                      leave_out_oversized_extras, munge_name, plan_sync, prepare)

# -------------------------------------------------------------------- the plan, as properties

ids = st.text(alphabet="abcdef0123456789", min_size=1, max_size=4)
hashes = st.sampled_from(["h1", "h2", "h3"])


@st.composite
def sides(draw: Any) -> tuple[dict[str, SourceEntry], dict[str, list[PortalEntry]], dict[str, str], int]:
    source = {sid: SourceEntry(f"n-{sid}", draw(hashes)) for sid in draw(st.sets(ids, max_size=12))}
    portal: dict[str, list[PortalEntry]] = {}
    for sid in draw(st.sets(ids, max_size=12)):
        copies = draw(st.integers(min_value=1, max_value=2))
        portal[sid] = [PortalEntry(f"d-{sid}-{i}", f"n-{sid}", "2026-01-01T00:00:00.000",
                                   draw(st.one_of(st.none(), hashes)), edited=draw(st.booleans()))
                       for i in range(copies)]
    taken = {f"n-{sid}": f"other-{sid}" for sid in draw(st.sets(ids, max_size=4))}
    unreadable = draw(st.sampled_from([0, 0, 1, 3]))
    return source, portal, taken, unreadable


@settings(max_examples=300)
@given(sides())
def test_every_source_id_ends_in_exactly_one_step(case: Any) -> None:
    source, portal, taken, unreadable = case
    steps = list(plan_sync(source, portal, unreadable=unreadable, taken=taken))
    per_source = collections.Counter(s.source_id for s in steps
                                     if s.step in (Step.CREATE, Step.CHECK, Step.UNCHANGED, Step.CONFLICT))
    assert set(per_source) == set(source) and set(per_source.values()) <= {1}
    owned_ids = {e.dataset_id for copies in portal.values() for e in copies}
    for step in steps:
        if step.step in (Step.CHECK, Step.DELETE, Step.UNCHANGED, Step.WITHHELD):
            assert step.dataset_id in owned_ids  # nothing not owned is ever planned for a write
        if step.step is Step.CREATE:
            assert step.source_id not in portal and step.dataset_id is None
        if step.step is Step.UNCHANGED:
            assert portal[step.source_id][0].state_hash == source[step.source_id].content_hash


@settings(max_examples=300)
@given(sides())
def test_what_left_the_source_is_deleted_unless_records_were_unreadable(case: Any) -> None:
    source, portal, taken, unreadable = case
    steps = list(plan_sync(source, portal, unreadable=unreadable, taken=taken))
    gone = {portal[sid][0].dataset_id for sid in portal if sid not in source}
    seconds = {e.dataset_id for copies in portal.values() for e in copies[1:]}
    deleted = {s.dataset_id for s in steps if s.step is Step.DELETE}
    withheld = {s.dataset_id for s in steps if s.step is Step.WITHHELD}
    assert deleted == (seconds | (set() if unreadable else gone))
    assert withheld == (gone if unreadable else set())
    assert deletes_planned(source, portal) == len(seconds | gone)


def test_the_state_decides_between_unchanged_and_a_check() -> None:
    source = {"a": SourceEntry("a", "h1"), "b": SourceEntry("b", "h2"), "c": SourceEntry("c", "h1"),
              "d": SourceEntry("d", "h1"), "e": SourceEntry("e", "h1")}
    portal = {"a": [PortalEntry("1", "a", "t", "h1")], "b": [PortalEntry("2", "b", "t", "h1")],
              "c": [PortalEntry("3", "c", "t", None)], "d": [PortalEntry("4", "d", "t", None, edited=True)]}
    steps = {s.source_id: s for s in plan_sync(source, portal, taken={"e": "someone"})}
    assert steps["a"].step is Step.UNCHANGED
    assert (steps["b"].step, steps["b"].reason) == (Step.CHECK, "source changed")
    assert (steps["c"].step, steps["c"].reason) == (Step.CHECK, "not in the state")
    assert (steps["d"].step, steps["d"].reason) == (Step.CHECK, "edited on the portal")
    assert steps["e"].step is Step.CONFLICT and "someone" in steps["e"].reason


def test_delete_refusal_is_a_pure_decision() -> None:
    half = DeleteLimit.parse("50%")
    assert delete_refusal(0, 10, 0, half, False) is None
    assert "no readable record" in (delete_refusal(10, 10, 0, half, False) or "")
    assert delete_refusal(10, 10, 0, half, True) is None
    assert delete_refusal(5, 10, 5, half, False) is None
    assert "6 of the 10" in (delete_refusal(6, 10, 4, half, False) or "")
    assert delete_refusal(6, 10, 4, DeleteLimit.parse("6"), False) is None
    assert delete_refusal(7, 10, 4, DeleteLimit.parse(6), False)
    for bad in ("lots", "-1", "150%", ""):
        with pytest.raises(exc.InvalidInput):
            DeleteLimit.parse(bad)


# -------------------------------------------------------------------- one record


def test_prepare_marks_ownership_folds_unknown_fields_and_keeps_refs() -> None:
    record = {"id": 42, "name": "air", "title": "Air", "organization": {"name": "env", "title": "Environment"},
              "owner_org": "uuid-of-elsewhere", "groups": [{"name": "g1"}, "g2"], "keywords": ["a", "b"],
              "extras": [{"key": "k", "value": {"nested": 1}}], "metadata_modified": "2020-01-01", "id2": None}
    prepared = prepare(record, source_name="src", fold_unknown_fields=True)
    assert isinstance(prepared, Prepared)
    assert (prepared.source_id, prepared.name, prepared.organization, prepared.groups) == ("42", "air", "env",
                                                                                           ("g1", "g2"))
    extras = {e["key"]: e["value"] for e in prepared.dataset["extras"]}
    assert extras[SOURCE_KEY] == "src" and extras[SOURCE_ID_KEY] == "42"
    assert extras["keywords"] == '["a", "b"]' and extras["k"] == '{"nested": 1}'
    assert "metadata_modified" not in prepared.dataset and "keywords" not in prepared.dataset
    kept = prepare(record, source_name="src", fold_unknown_fields=False)
    assert isinstance(kept, Prepared) and kept.dataset["keywords"] == ["a", "b"]


def test_prepare_rejects_with_a_reason_and_keeps_what_it_can_identify() -> None:
    assert prepare(ValueError("line 3 is not JSON"), source_name="s") == Rejected(None, None, "line 3 is not JSON")
    assert prepare(["a list"], source_name="s").reason.startswith("a source record must be a dict")  # type: ignore[union-attr]
    assert prepare({"name": "x"}, source_name="s") == Rejected(None, "x", "the record has no source id")
    assert prepare({"id": "1"}, source_name="s") == Rejected("1", None, "the record has no name")
    dropped = prepare({"id": "1", "name": "x"}, source_name="s", transform=lambda r: None)
    assert isinstance(dropped, Rejected) and dropped.source_id == "1"
    by_field = prepare({"ref": "R-1", "name": "x"}, source_name="s", source_id="ref")
    assert isinstance(by_field, Prepared) and by_field.source_id == "R-1"


def test_the_hash_ignores_key_order_and_sees_every_change() -> None:
    one = {"name": "a", "tags": [{"name": "x"}], "extras": [{"key": "k", "value": "v"}]}
    assert content_hash(one) == content_hash(dict(reversed(list(one.items()))))
    assert content_hash(one) != content_hash({**one, "tags": [{"name": "y"}]})


def test_a_field_the_server_fills_in_is_no_change() -> None:
    # CKAN gives a dataset without a title its name as title: comparing must not see a removal.
    desired = {"name": "minimal", "owner_org": "o1"}
    current = {"name": "minimal", "title": "minimal", "owner_org": "o1", "id": "x", "metadata_modified": "t"}
    assert diff(desired, current) == []
    assert diff({**desired, "title": "Real title"}, current) != []


def test_instants_compare_across_ckan_and_solr() -> None:
    assert instant("2026-11-29T10:09:11.796479") == instant("2026-11-29T10:09:11.796Z") == "2026-11-29T10:09:11.796"
    assert instant("2026-11-29T10:09:11") == "2026-11-29T10:09:11.000"
    assert instant(None) == ""


# -------------------------------------------------------------------- cleaners


def test_clean_tags_as_ckan_validates_them() -> None:
    dataset = {"tags": [{"name": "Health/Care"}, {"name": "水"}, {"name": "ok tag"}, {"name": "a//b"},
                        {"name": "ok tag"}, {"name": "x" * 150}, {"name": "地震"}]}
    notes = clean_tags(dataset)
    assert [t["name"] for t in dataset["tags"]] == ["Health-Care", "ok tag", "a-b", "x" * 100, "地震"]
    assert any("'水' left out" in n for n in notes) and any("'Health/Care' written as 'Health-Care'" in n for n in notes)


def test_names_are_munged_as_ckan_does() -> None:
    dataset = {"name": "taiwan%28shi%29 Zoning: v1.2"}
    assert munge_name(dataset) == ["name 'taiwan%28shi%29 Zoning: v1.2' written as 'taiwan28shi29-zoning-v1-2'"]
    assert dataset["name"] == "taiwan28shi29-zoning-v1-2"
    assert munge_name({"name": "fine-name_1"}) == []
    prepared = prepare({"id": "1", "name": "Bad Name!"}, source_name="s", cleaners=[munge_name])
    assert isinstance(prepared, Prepared) and prepared.name == "bad-name"


def test_placeholder_emails_and_oversized_extras_are_left_out() -> None:
    dataset = {"author_email": "None", "maintainer_email": "data@example.org",
               "extras": [{"key": "blob", "value": "x" * 40_000}, {"key": "small", "value": "y"},
                          {"key": SOURCE_ID_KEY, "value": "z"}]}
    assert drop_placeholder_emails(dataset) == ["author_email 'None' left out (not an email address)"]
    assert "author_email" not in dataset and dataset["maintainer_email"] == "data@example.org"
    notes = leave_out_oversized_extras(dataset)
    assert [e["key"] for e in dataset["extras"]] == ["small", SOURCE_ID_KEY] and "blob" in notes[0]
