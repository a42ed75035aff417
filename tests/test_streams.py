"""Input and output files as people have them: bytes that are not UTF-8, gzip, Windows line ends, a folder
that is not there, a disk that is full. A bad line is one bad record, never the end of the reading."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from ckan_api_client import exceptions as exc
from ckan_api_client.core.streams import BadLine, TextOutput, open_input, read_jsonl

LINES = b'{"name": "first"}\r\n\xff\xfe{"name": "latin-1 caf\xe9"}\n\n{"name": "third", "note": "caf\xc3\xa9"}\n'


@pytest.mark.parametrize("packed", [False, True])
def test_a_line_that_is_not_utf8_is_a_bad_line_and_the_rest_is_read(tmp_path: Path, packed: bool) -> None:
    path = tmp_path / ("in.jsonl.gz" if packed else "in.jsonl")
    path.write_bytes(gzip.compress(LINES) if packed else LINES)
    read = list(read_jsonl(path))
    assert [number for number, _ in read] == [1, 2, 4]
    assert read[0][1] == {"name": "first"} and read[2][1] == {"name": "third", "note": "café"}
    bad = read[1][1]
    assert isinstance(bad, BadLine) and bad.number == 2
    assert str(bad) == "line 2 is not JSON: its bytes are not UTF-8 (invalid start byte at byte 1)"
    assert bad.text == '\ufffd\ufffd{"name": "latin-1 caf\ufffd"}'


def test_text_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_bytes("a,b\n1,café\n".encode("latin-1"))
    with open_input(path) as fh, pytest.raises(exc.InvalidInput, match=r"table.csv is not UTF-8 text"):
        list(fh)
    with open_input(path) as fh, pytest.raises(exc.InvalidInput, match=r"table.csv is not UTF-8 text"):
        fh.read()
    path.write_bytes("a,b\n1,café\n".encode("utf-8"))
    with open_input(path) as fh:
        assert fh.read() == "a,b\n1,café\n"


def test_an_output_in_a_folder_that_is_not_there_is_refused_before_anything(tmp_path: Path) -> None:
    with pytest.raises(exc.InvalidInput, match="there is no folder"):
        TextOutput(tmp_path / "missing" / "out.jsonl")
    assert not (tmp_path / "missing").exists()


def test_a_full_disk_names_the_output(tmp_path: Path) -> None:
    output = TextOutput("/dev/full")
    with pytest.raises(OSError) as raised:
        for _ in range(10_000):  # past the buffer: the write reaches the device
            output.write({"name": "x" * 100})
        output.commit()
    assert raised.value.strerror == "No space left on device" and raised.value.filename == "/dev/full"


def test_a_resumed_output_keeps_the_whole_lines_before_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "dump.jsonl"
    path.with_name("dump.jsonl.part").write_bytes(b'{"id": "a"}\n{"id": "b"}\n\xff{"id": "c"}\n{"id": "d"}\n')
    output = TextOutput(path, resume=True)
    assert output.kept_count == 2 and output.kept_ids == [("a", None), ("b", None)]
    output.commit()
    assert path.read_bytes() == b'{"id": "a"}\n{"id": "b"}\n'


def test_a_gzip_file_cut_short_is_invalid_input_naming_it(tmp_path: Path) -> None:
    whole = gzip.compress(b"".join(b'{"name": "d-%d"}\n' % i for i in range(20_000)))
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[:len(whole) // 2])
    read = []
    with pytest.raises(exc.InvalidInput, match=r"cut.jsonl.gz cannot be read as gzip, it is cut short or corrupt"):
        for number, value in read_jsonl(cut):  # an EOFError here would read as Ctrl-D to click
            read.append(value)
    assert read[:2] == [{"name": "d-0"}, {"name": "d-1"}] and len(read) < 20_000
    with open_input(cut) as fh, pytest.raises(exc.InvalidInput, match=r"cut.jsonl.gz cannot be read as gzip"):
        fh.read()
