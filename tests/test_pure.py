"""Unit and property tests for the pure parts: error envelopes, seed shapes, versions, retry policy."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ckan_api_client import CkanLowlevelClient
from ckan_api_client import exceptions as exc
from ckan_api_client.core.calls import is_read_only
from ckan_api_client.core.site import Capabilities
from ckan_api_client.core.shapes import dataset_for_write, extras_to_list, group_for_write
from ckan_api_client.core.answers import error_class, parse_error_body
from ckan_api_client.core import entities
from ckan_api_client.core.entities import id_ranges
from ckan_api_client.core.operation import FACTS, Call, ClientFacts, Together, drive_iter
from ckan_api_client.core.options import ClientOptions, RetryPolicy, Secret

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(st.text(max_size=300))
def test_parse_error_body_never_raises_on_any_text(text: str) -> None:
    message, error = parse_error_body(text)
    assert message is None or isinstance(message, str)
    assert error is None or isinstance(error, dict)


@given(json_values)
def test_parse_error_body_never_raises_on_any_json(value: Any) -> None:
    message, error = parse_error_body(json.dumps(value))
    assert message is None or isinstance(message, str)
    assert error is None or isinstance(error, dict)


@given(st.text(min_size=1, max_size=50).filter(lambda s: s.strip()),
       st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k not in ("__type", "message")),
                       st.lists(st.text(max_size=20), min_size=1, max_size=3), max_size=4))
def test_envelope_fields_survive_parsing(error_type: str, fields: dict[str, list[str]]) -> None:
    body = {"success": False, "error": {"__type": error_type, **fields}}
    message, error = parse_error_body(json.dumps(body))
    assert error == body["error"]
    for key in fields:
        assert key in (message or "")


def test_parse_error_body_examples() -> None:
    assert parse_error_body('"Bad request - Action name not known: x"') == ("Bad request - Action name not known: x", None)
    assert parse_error_body("<html><head><title> 502  Bad Gateway</title></head></html>")[0] == "HTML page: 502 Bad Gateway"
    assert parse_error_body("") == (None, None)
    assert parse_error_body('{"success": false, "error": {"__type": "Not Found Error", "message": "Not found"}}') == \
        ("Not found", {"__type": "Not Found Error", "message": "Not found"})
    assert "invalid JSON" in (parse_error_body("{broken")[0] or "")


def test_error_classes_by_type_then_status() -> None:
    assert error_class(409, {"__type": "Search Query Error"}) is exc.SearchQueryError
    assert error_class(500, {"__type": "Search Index Error"}) is exc.SearchError
    assert error_class(409, None) is exc.ValidationError
    assert error_class(404, {"__type": "Something New"}) is exc.NotFound
    assert error_class(503, None) is exc.ServerError
    assert error_class(429, None) is exc.RateLimited
    assert error_class(418, None) is exc.HTTPError


@given(st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=6))
def test_extras_dict_converts_to_key_value_list(extras: dict[str, str]) -> None:
    converted = extras_to_list(extras)
    assert {e["key"]: e["value"] for e in converted} == extras
    assert extras_to_list(converted) == converted  # already in API shape: unchanged


@given(st.lists(st.text(min_size=1, max_size=10) | st.fixed_dictionaries({"name": st.text(max_size=10)}),
                max_size=6))
def test_tags_and_groups_convert_to_dicts_without_touching_the_input(items: list[Any]) -> None:
    dataset = {"name": "x", "tags": items, "groups": items}
    snapshot = json.dumps(dataset)
    converted = dataset_for_write(dataset)
    assert json.dumps(dataset) == snapshot
    expected = [{"name": i} if isinstance(i, str) else i for i in items]
    assert converted["tags"] == expected and converted["groups"] == expected


@pytest.mark.parametrize("bad", [
    "a string", 42, None, ["list"],
    {"extras": "k=v"}, {"extras": [{"value": "no key"}]}, {"tags": "a,b"}, {"tags": [1, 2]},
    {"groups": [None]}, {"resources": ["not a dict"]}, {"resources": {"name": "not a list"}},
])
def test_bad_dataset_shapes_are_invalid_input(bad: Any) -> None:
    with pytest.raises(exc.InvalidInput):
        dataset_for_write(bad)


def test_group_shapes() -> None:
    assert group_for_write({"name": "g", "extras": {"a": "1"}})["extras"] == [{"key": "a", "value": "1"}]
    with pytest.raises(exc.InvalidInput):
        group_for_write("g")


@pytest.mark.parametrize("version, expected", [
    ("2.12.0", (2, 12, 0)), ("2.11.0a", (2, 11, 0)), ("2.10.11", (2, 10, 11)), ("2.13.0.dev0", (2, 13, 0)),
])
def test_capabilities_version(version: str, expected: tuple[int, ...]) -> None:
    capabilities = Capabilities(version, frozenset())
    assert capabilities.version == expected
    assert capabilities.at_least(2, 10) and not capabilities.at_least(3)


@pytest.mark.parametrize("action, read_only", [
    ("package_show", True), ("package_search", True), ("organization_list", True), ("datastore_search", True),
    ("datastore_search_sql", True), ("status_show", True), ("am_following_dataset", True),
    ("package_create", False), ("package_update", False), ("datastore_upsert", False), ("dataset_purge", False),
    ("resource_create", False), ("package_revise", False),
])
def test_read_only_actions(action: str, read_only: bool) -> None:
    assert is_read_only(action) is read_only


@given(st.integers(min_value=1, max_value=30))
def test_backoff_stays_within_its_bounds(attempt: int) -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=10)
    delay = policy.backoff(attempt)
    assert 0 <= delay <= min(10, 0.5 * 2 ** (attempt - 1))


def test_secret_never_shows_itself() -> None:
    secret = Secret("tok-123")
    assert "tok-123" not in repr(secret) and "tok-123" not in str(secret) and "tok-123" not in f"{secret}"
    assert secret.reveal() == "tok-123"
    import pickle
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_retry_delay_is_a_pure_decision_over_failure_attempt_and_idempotence() -> None:
    from ckan_api_client.core.retry import retry_delay

    policy = RetryPolicy(max_attempts=3, backoff_base=0.0)
    sent = exc.TransportError("reset", request_sent=True)
    unsent = exc.TransportError("refused", request_sent=False)
    malformed = exc.MalformedAnswer("cut")
    gateway = exc.ServerError(502, "bad gateway")
    limited = exc.RateLimited(429, "slow down")
    limited.retry_after = 7.0
    too_long = exc.RateLimited(429, "slow down")
    too_long.retry_after = 1000.0
    assert retry_delay(sent, attempt=1, idempotent=True, policy=policy) == 0.0
    assert retry_delay(sent, attempt=1, idempotent=False, policy=policy) is None  # a write may have landed
    assert retry_delay(unsent, attempt=1, idempotent=False, policy=policy) == 0.0  # it never left
    assert retry_delay(unsent, attempt=1, idempotent=True, policy=policy, dead_link=True) is None
    assert retry_delay(malformed, attempt=2, idempotent=True, policy=policy) == 0.0
    assert retry_delay(malformed, attempt=1, idempotent=False, policy=policy) is None
    assert retry_delay(malformed, attempt=3, idempotent=True, policy=policy) is None  # attempts used up
    assert retry_delay(gateway, attempt=1, idempotent=False, policy=policy) is None
    assert retry_delay(gateway, attempt=1, idempotent=False, policy=RetryPolicy(retry_writes=True, backoff_base=0)) == 0
    assert retry_delay(limited, attempt=1, idempotent=False, policy=policy) == 7.0  # refused unprocessed
    assert retry_delay(too_long, attempt=1, idempotent=True, policy=policy) is None
    assert retry_delay(exc.NotFound(404, "gone"), attempt=1, idempotent=True, policy=policy) is None


def test_decode_answer_tells_malformed_answers_from_well_formed_ones() -> None:
    from ckan_api_client.core.answers import decode_answer

    assert decode_answer(200, b'{"success": true, "result": [1]}', action="package_list") == [1]
    assert decode_answer(200, b'{"success": true, "result": null}', action="package_delete") is None
    with pytest.raises(exc.MalformedAnswer):  # a create always answers what it made
        decode_answer(200, b'{"success": true, "result": null}', action="package_create")
    assert decode_answer(200, b'{"success": true, "result": null}', action="help_show") is None
    for body in (b'{"success": true, "result": null}', b'{"success": tr', b"<html><title>Oops</title></html>",
                 b"", b"[1, 2]", b'{"success": true}', b'{"success": false}'):
        with pytest.raises(exc.MalformedAnswer):
            decode_answer(200, body, action="package_show")
    with pytest.raises(exc.NotFound):
        decode_answer(200, b'{"success": false, "error": {"__type": "Not Found Error", "message": "x"}}',
                      action="package_show")


def test_client_options_are_built_once_checked_and_replaced_field_by_field() -> None:
    from ckan_api_client.core.options import ClientOptions, Secret

    options = ClientOptions.build("tok", timeout=3.0, concurrency=32)
    assert options.api_key == Secret("tok") and "tok" not in repr(options)
    assert options.pool_size == 33 and ClientOptions(concurrency=1).pool_size == 4
    anonymous = options.replace(api_key=None)
    assert anonymous.api_key is None and anonymous.timeout == 3.0 and options.api_key is not None
    assert ClientOptions.build("").api_key is None
    for wrong in ({"page_size": 0}, {"concurrency": 0}, {"max_rps": -1}, {"colour": "red"}, {"timeout": -1},
                  {"timeout": 0}, {"timeout": (5, -1)}, {"timeout": (1, 2, 3)}, {"timeout": "10"},
                  {"timeout": float("nan")}, {"timeout": True}, {"read_deadline": 0}, {"max_response_bytes": 0}):
        with pytest.raises(exc.InvalidInput):
            ClientOptions.build(**wrong)
    for right in (None, 0.5, 30, (3, None), (None, None), (2, 60.0)):
        assert ClientOptions.build(timeout=right).timeout == right


def test_next_hop_follows_reads_only_and_keeps_the_token_home() -> None:
    from ckan_api_client.core.exchange import next_hop

    home = "https://data.example.org"
    sent = {"Authorization": "t", "User-Agent": "u"}
    same = next_hop("GET", 302, "/moved", home + "/api/3/action/x", 0, sent, home, "Authorization")
    assert same == (home + "/moved", sent)
    away = next_hop("GET", 301, "https://cdn.example.net/f.csv", home + "/f", 0, sent, home, "Authorization")
    assert away == ("https://cdn.example.net/f.csv", {"User-Agent": "u"})
    assert next_hop("POST", 302, "/moved", home, 0, sent, home, "Authorization") is None  # never a write
    assert next_hop("GET", 200, "/moved", home, 0, sent, home, "Authorization") is None
    assert next_hop("GET", 302, None, home, 0, sent, home, "Authorization") is None
    assert next_hop("GET", 302, "/again", home, 10, sent, home, "Authorization") is None  # too many hops


class FakeSearch:
    """``package_search`` over ``ids`` as Solr answers the keyset walks (an ``id`` range in ``fq``,
    ``sort=id asc``, ``rows``); counts the rounds of calls sent together."""

    RANGE = re.compile(r'id:([\[{])(?:"([^"]*)"|\*) TO (?:"([^"]*)"|\*)([\]}])')

    def __init__(self, ids: list[str], walks: int, rows: int, failing: str | None = None) -> None:
        self.ids, self.rows, self.failing = sorted(ids), rows, failing
        self.facts = ClientFacts("http://portal.example", ClientOptions(page_size=rows), walks=walks)
        self.rounds = 0

    def search(self, call: Call) -> Any:
        assert call.action == "package_search" and call.data is not None
        low, high = "", "\U0010ffff"
        found = self.RANGE.search(str(call.data.get("fq") or ""))
        matching = self.ids
        if found:
            opening, low_bound, high_bound, closing = found.groups()
            matching = [i for i in matching
                        if (low_bound is None or (i >= low_bound if opening == "[" else i > low_bound))
                        and (high_bound is None or (i <= high_bound if closing == "]" else i < high_bound))]
        if self.failing is not None and self.failing in matching[:call.data["rows"]]:
            raise exc.ServerError(500, "Internal Server Error")
        return {"count": len(matching), "results": [{"id": i} for i in matching[:call.data["rows"]]]}

    def answer(self, step: Any) -> Any:
        if step is FACTS:
            return self.facts
        if isinstance(step, Together):
            self.rounds += 1
            replies: list[Any] = []
            for call in step.calls:
                try:
                    replies.append(self.search(call))
                except exc.CkanError as error:
                    replies.append(error)
            return replies
        self.rounds += 1
        return self.search(step)


ids_of_any_form = st.lists(st.uuids().map(str) | st.text("0123456789abcdefxyz-_", min_size=1, max_size=12),
                           max_size=60, unique=True)


@given(ids_of_any_form, st.integers(1, 5), st.integers(1, 7))
def test_iter_datasets_walks_every_id_once_in_fewer_rounds(ids: list[str], walks: int, rows: int) -> None:
    """Several id ranges walked a round at a time: every dataset once, by id within each range, and a
    round trip per page of the largest range instead of one per page of the whole portal."""
    portal = FakeSearch(ids, walks, rows)
    got = [d["id"] for d in drive_iter(entities.iter_datasets(), portal.answer)]
    assert sorted(got) == sorted(ids) and len(got) == len(set(got))
    ranges = id_ranges(walks)
    in_range = [[i for i in sorted(ids) if (low is None or i >= low) and (high is None or i < high)]
                for low, high in ranges]
    for members in in_range:
        assert [i for i in got if i in members] == members  # by id within a range
    pages = [len(members) // rows + 1 if members and len(members) % rows else max(1, len(members) // rows)
             for members in in_range]
    assert portal.rounds == max(pages)


def test_a_failed_walk_fails_the_listing_and_the_blocking_client_walks_once() -> None:
    ids = [f"{digit}{n}" for digit in "0123456789abcdef" for n in range(5)]
    portal = FakeSearch(ids, walks=4, rows=3, failing="c3")
    with pytest.raises(exc.ServerError):
        list(drive_iter(entities.iter_datasets(), portal.answer))
    single = FakeSearch(ids, walks=1, rows=3)
    assert [d["id"] for d in drive_iter(entities.iter_datasets(), single.answer)] == sorted(ids)
    assert single.rounds == len(ids) // 3 + 1


@pytest.mark.parametrize("one, other, same", [
    ("https://data.example.org", "https://DATA.example.org/", True),
    ("https://data.example.org", "https://data.example.org:443", True),
    ("http://127.0.0.1:15000", "HTTP://127.0.0.1:15000/", True),
    ("https://example.org/portal-a", "https://example.org/portal-b", False),
    ("http://data.example.org", "https://data.example.org", False),
    ("http://127.0.0.1:15000", "http://127.0.0.1:15001", False),
])
def test_two_urls_name_the_same_site_when_only_their_spelling_differs(one: str, other: str, same: bool) -> None:
    from ckan_api_client.core.site import same_site

    assert same_site(one, other) is same and same_site(other, one) is same


def test_a_mirror_of_a_portal_into_itself_is_refused_before_any_request() -> None:
    from ckan_api_client.engines.mirror import Mirror

    with pytest.raises(exc.InvalidInput, match=r"the source and the destination are the same portal"):
        Mirror(CkanLowlevelClient("http://127.0.0.1:9"), CkanLowlevelClient("http://127.0.0.1:9/"))


def test_data_json_cannot_carry_is_invalid_input_before_anything_is_sent() -> None:
    from ckan_api_client.core.calls import build_action_call, describe_raw_request

    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    for data in ({"q": {"a set"}}, {"q": b"bytes"}, {"extras": [{"value": object()}]}, cycle):
        with pytest.raises(exc.InvalidInput, match=r"the data for package_search cannot be sent as JSON"):
            build_action_call("package_search", data)
    with pytest.raises(exc.InvalidInput, match=r"cannot be sent as JSON: Object of type set"):
        describe_raw_request("POST", "/api/3/action/package_search", {"q": {"a set"}}, None, False)
    with pytest.raises(exc.InvalidInput, match=r"field 'fq' cannot be sent as JSON"):
        build_action_call("package_search", {"fq": {"x": {1}}}, method="GET")
    nan = build_action_call("datastore_upsert", {"records": [{"a": float("nan")}]})
    assert nan.body == b'{"records": [{"a": NaN}]}'  # CKAN's Python reads it; a numeric column takes it


# CKAN 2.10-2.12's "Search Error" messages, as a local CKAN with Solr 9 sent them: the query it built, then
# pysolr's error in quotes within quotes.
SOLR_DATE = 'Search error: \'SOLR returned an error running query: {\\\'fq\\\': [\\\'+capacity:public metadata_modified:[NOW TO x] +state:(active)\\\', \\\'+site_id:"ckan-stack-2.12.0"\\\', \\\'+permission_labels:("public")\\\'], \\\'rows\\\': 11, \\\'df\\\': \\\'text\\\', \\\'sort\\\': \\\'score desc, metadata_modified desc\\\', \\\'fl\\\': \\\'id validated_data_dict\\\', \\\'q\\\': \\\'*:*\\\', \\\'facet\\\': \\\'true\\\', \\\'facet.limit\\\': 50, \\\'facet.mincount\\\': 1, \\\'wt\\\': \\\'json\\\', \\\'q.op\\\': \\\'AND\\\'} Error: SolrError("Solr responded with an error (HTTP 400): [Reason: Invalid Date String:\\\'x\\\']")\''
SOLR_LEXICAL = 'Search error: \'SOLR returned an error running query: {\\\'fq\\\': [\\\'+capacity:public title:"unclosed +state:(active)\\\', \\\'+site_id:"ckan-stack-2.12.0"\\\', \\\'+permission_labels:("public")\\\'], \\\'rows\\\': 11, \\\'df\\\': \\\'text\\\', \\\'sort\\\': \\\'score desc, metadata_modified desc\\\', \\\'fl\\\': \\\'id validated_data_dict\\\', \\\'q\\\': \\\'*:*\\\', \\\'facet\\\': \\\'true\\\', \\\'facet.limit\\\': 50, \\\'facet.mincount\\\': 1, \\\'wt\\\': \\\'json\\\', \\\'q.op\\\': \\\'AND\\\'} Error: SolrError(\\\'Solr responded with an error (HTTP 400): [Reason: org.apache.solr.search.SyntaxError: Cannot parse \\\\\\\'+capacity:public title:"unclosed +state:(active)\\\\\\\': Lexical error at line 1, column 49.  Encountered: <EOF> after prefix "\\\\\\\\"unclosed +state:(active)" (in lexical state 3)]\\\')\''


def test_a_search_solr_cannot_run_says_what_solr_said() -> None:
    from ckan_api_client.core.answers import error_from_answer, solr_reason

    assert solr_reason(SOLR_DATE) == "Invalid Date String:'x'"
    assert solr_reason(SOLR_LEXICAL) == (
        "SyntaxError: Cannot parse '+capacity:public title:\"unclosed +state:(active)': Lexical error at line 1, "
        "column 49. Encountered: <EOF> after prefix \"\"unclosed +state:(active)\" (in lexical state 3)")
    assert solr_reason("Search error: the index is down") is None
    body = json.dumps({"success": False, "error": {"__type": "Search Error", "message": SOLR_DATE}})
    error = error_from_answer(409, "CONFLICT", body, retry_after=None, action="package_search", url=None)
    assert isinstance(error, exc.SearchError) and error.error is not None and error.error["message"] == SOLR_DATE
    assert str(error) == "HTTP 409 package_search [Search Error]: Solr cannot run this search: Invalid Date String:'x'"


def test_a_batch_line_is_an_action_or_says_why_not(tmp_path: Any) -> None:
    from ckan_api_client.engines.batch import ActionLine, action_line

    assert action_line({"action": " status_show "}, local_files=False) == ActionLine("status_show")
    assert action_line({"action": "package_show", "data": {"id": "x"}}, local_files=False).ref == "x"
    upload = tmp_path / "f.csv"
    upload.write_text("a\n")
    line = action_line({"action": "resource_create", "files": {"upload": str(upload)}}, local_files=True)
    assert line.files == {"upload": str(upload)}
    refusals = [({"action": "resource_create", "files": {"upload": str(upload)}}, False, "--local-files"),
                ({"action": "resource_create", "files": {"upload": str(tmp_path / "gone")}}, True, "no such file"),
                ({"action": "resource_create", "files": ["f.csv"]}, True, "files must map"),
                ({"data": {}}, False, "names no action"), ({"action": 3}, False, "names no action"),
                ({"action": "package_show", "data": ["x"]}, False, "must be a JSON object"),
                ({"action": "status_show", "date": {}}, False, "unknown key 'date'")]
    for record, local, says in refusals:
        with pytest.raises(exc.InvalidInput, match=re.escape(says)):
            action_line(record, local_files=local)
