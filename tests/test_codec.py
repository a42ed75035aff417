"""The fast JSON decoder gives exactly what ``json.loads`` gives: the same values of the same types, the same
errors, with msgspec and without it."""

from __future__ import annotations

import json
import math
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ckan_api_client.core import codec
from real_portals import depositar

pytestmark = pytest.mark.skipif(not codec.FAST, reason="msgspec (the fast extra) is in the test extra")


def outcome(decode: Callable[[Any], Any], data: bytes | str) -> str:
    """What a decoder makes of ``data``, compared by ``repr`` so 1, 1.0 and True stay apart, and nan is nan."""
    try:
        return "value " + repr(decode(data))
    except (ValueError, RecursionError) as error:
        return f"error {type(error).__name__}: {error}"


EDGES = [
    b"123456789012345678901234567890",  # orjson would make this a float
    b"18446744073709551616", b"-9223372036854775809", b"[1, 99999999999999999999]",
    b'{"big": 12345678901234567890123, "s": "x"}', b"9223372036854775807", b"1.2345678901234567890123e5",
    b"NaN", b"[Infinity, -Infinity]", b"1e400", b"-1e400", b"1e-400", b"1.7976931348623157e309",
    b'"\\ud800"', b'{"a": "\\udfff x"}', b"\xef\xbb\xbf{}", '{"a": 1}'.encode("utf-16"),
    b'{"a": 1, "a": 2}', b"-0", b"-0.0", b"0.1000000000000000055511151231257827", b"4.9e-324", b"1E5",
    b'"\x01"', b"{", b"", b"   ", b"[1,]", b"\xff\xfe", b'"caf\xc3\xa9"', b'"caf\xe9"', b"[" * 5000 + b"]" * 5000,
    b'{"\\u0000": null}', b"true", b"nul",
    b"  123456789012345678901234567890\n", b'{"a":\n\t-12345678901234567890123}', b"[1,\r-99999999999999999999]",
    b"[121.51234567890123456789012345]", b"0.30000000000000000000000000000001", b"[1234567890123456789012.5]",
    b'{"a": 12345678901234567890123e-3}', b'{"a": 12345678901234567890123E+3}', b"[1e-12345678901234567890]",
    b'{"u": "%252525252525252525252525", "t": "a:12345678901234567890123,"}', b"-",
]


@pytest.mark.parametrize("data", EDGES, ids=range(len(EDGES)))
def test_the_same_value_or_the_same_error_as_json(data: bytes) -> None:
    assert outcome(codec.loads, data) == outcome(json.loads, data)
    if not data.startswith(b"\xff\xfe"):  # text input too (UTF-16 bytes are not text)
        text = data.decode("utf-8", errors="surrogatepass") if b"\xe9" not in data else None
        if text is not None:
            assert outcome(codec.loads, text) == outcome(json.loads, text)


def test_integers_beyond_64_bits_stay_integers() -> None:
    value = codec.loads(b'{"count": 123456789012345678901234567890}')["count"]
    assert isinstance(value, int) and value == 123456789012345678901234567890


scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6),
                                                                                           inner, max_size=4),
                      max_leaves=16)


numbers = st.from_regex(r"-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,40})?([eE][+-]?[0-9]{1,4})?", fullmatch=True)


@settings(max_examples=500)
@given(numbers, st.sampled_from(["%s", "[%s]", '{"n": %s}', "[1, %s, 2]", '{"s": "%s"}', "[ %s ]"]))
def test_any_number_decodes_as_json_decodes_it(number: str, where: str) -> None:
    text = where % number
    assert outcome(codec.loads, text) == outcome(json.loads, text)
    assert outcome(codec.loads, text.encode()) == outcome(json.loads, text.encode())


@settings(max_examples=300)
@given(values, st.booleans())
def test_any_json_text_decodes_as_json_decodes_it(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert outcome(codec.loads, text) == outcome(json.loads, text)
    data = text.encode("utf-8", errors="surrogatepass")
    assert outcome(codec.loads, data) == outcome(json.loads, data)


def test_real_datasets_decode_the_same_and_without_msgspec_too(monkeypatch: pytest.MonkeyPatch) -> None:
    page = json.dumps({"success": True, "result": {"results": depositar(200)}}, ensure_ascii=False).encode()
    expected = json.loads(page)
    assert codec.loads(page) == expected
    monkeypatch.setattr(codec, "_fast_loads", None)  # as without the fast extra
    assert codec.loads(page) == expected
    assert outcome(codec.loads, b"NaN").startswith("value nan") and math.isnan(codec.loads(b"NaN"))


def test_msgspec_decodes_what_it_can_and_json_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bytes | str] = []
    fast = codec._fast_loads
    assert fast is not None

    def spy(data: bytes | str) -> Any:
        seen.append(data)
        return fast(data)

    monkeypatch.setattr(codec, "_fast_loads", spy)
    assert codec.loads(b'{"count": 2, "id": "a1b2"}') == {"count": 2, "id": "a1b2"}
    big = codec.loads(b'{"count": 123456789012345678901234567890}')["count"]
    assert isinstance(big, int) and big == 123456789012345678901234567890
    assert math.isnan(codec.loads(b"[NaN]")[0])  # msgspec refused it, json read it
    assert seen == [b'{"count": 2, "id": "a1b2"}', b'{"count": 123456789012345678901234567890}', b"[NaN]"]
