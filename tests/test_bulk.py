"""The bulk engine in-process: id ranges and the parallel dump walk."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ckan_api_client import engines as bulk
from ckan_api_client.core.entities import id_ranges
from ckan_stack_plugin import Factory, Stack


@given(st.integers(min_value=1, max_value=8), st.one_of(st.none(), st.text(alphabet="0123456789abcdef-", max_size=8)),
       st.text(alphabet="0123456789abcdefxyz-", min_size=1, max_size=12))
def test_id_ranges_cover_every_id_once(count: int, after: str | None, some_id: str) -> None:
    ranges = id_ranges(count, after)
    inside = [(low, high) for index, (low, high) in enumerate(ranges)
              if (low is None or (some_id > low if index == 0 else some_id >= low))
              and (high is None or some_id < high)]
    if after is not None and some_id <= after:
        assert inside == []
    else:
        assert len(inside) == 1
    assert ranges[0][0] == after and ranges[-1][1] is None


def test_parallel_walk_equals_one_walk(ckan_stack: Stack, factory: Factory, tmp_path: Path) -> None:
    org = factory.make_org()
    for _ in range(7):
        factory.make_dataset(org=org)
    client = ckan_stack.client(page_size=2)
    one, many = tmp_path / "one.jsonl", tmp_path / "many.jsonl"
    report_one = bulk.dump(client, "datasets", one, concurrency=1)
    report_many = bulk.dump(client, "datasets", many, concurrency=5)
    assert one.read_bytes() == many.read_bytes()
    assert report_one.counts["written"] == report_many.counts["written"] >= 7
    ids = [json.loads(line)["id"] for line in one.read_text().split("\n") if line]
    assert ids == sorted(ids)


def test_bad_kind_is_invalid_input(ckan_stack: Stack, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        bulk.dump(ckan_stack.client(), "users", tmp_path / "x.jsonl")


def test_a_failing_range_stops_the_other_walks(ckan_stack: Stack, factory: Factory, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    org = factory.make_org()
    for _ in range(24):
        factory.make_dataset(org=org)
    client = ckan_stack.client(page_size=1)
    only_these = f"owner_org:{org['id']}"
    pages = []
    real = client.search_pages

    def failing(*args: object, **kwargs: object) -> object:
        if kwargs.get("before") is None and kwargs.get("start") is not None:
            time.sleep(0.3)  # the other ranges have started
            raise RuntimeError("the last range breaks")  # (whether or not it holds any of the test's ids)
        for page in real(*args, **kwargs):  # type: ignore[arg-type]
            pages.append(page)
            time.sleep(0.2)  # the other ranges walk slowly: the break comes while they still have pages to go
            yield page

    monkeypatch.setattr(client, "search_pages", failing)
    with pytest.raises(RuntimeError):
        bulk.dump(client, "datasets", tmp_path / "d.jsonl", concurrency=4, include_private=True, fq=only_these)
    # The first three ranges hold about 18 of the 24 (one page each): they stopped at the break, after about
    # two pages each, instead of walking to their ends before the last range's error was seen.
    assert len(pages) <= 10, len(pages)
    assert not (tmp_path / "d.jsonl").exists()
