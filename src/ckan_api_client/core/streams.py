"""Local files and streams: JSON Lines in and out, ``-`` for stdin/stdout, writes that never lie.

Everything that reads or writes a local file for the bulk engine, the sync client or the command
line goes through here, so these rules hold everywhere:

* ``-`` is standard input or output, never a file named ``-``;
* input is read as a stream (gzip recognised by its magic bytes, not its name), one line at a time;
* output to a regular file goes to ``NAME.part`` and is renamed to ``NAME`` only when complete:
  a file under its final name is always whole; a run cut short leaves the ``.part`` for a resume;
* output to a symlink goes to the file it points to (the link stays a link); output to a special
  file (``/dev/stdout``, a pipe, a terminal) is written straight through it, never renamed over;
* side files (checkpoints, spools) go beside regular files only.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import sys
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Mapping, cast

from ..exceptions import InvalidInput
from . import codec

__all__ = ["STDIO", "is_stdio", "open_bytes", "open_input", "read_jsonl", "BadLine", "not_a_record", "require_readable",
           "Checkpoint", "TextOutput", "is_regular_target", "require_folder", "side_file", "part_path", "final_path"]

STDIO = "-"
GZIP_MAGIC = b"\x1f\x8b"


def is_stdio(path: str | os.PathLike[str] | None) -> bool:
    return path is not None and str(path) == STDIO


def _shown(path: str | os.PathLike[str]) -> str:
    """An input's name in a message: ``stdin`` for ``-``."""
    return "stdin" if is_stdio(path) else str(path)


class BadLine(ValueError):
    """A line of a JSON Lines input that is not JSON; ``text`` is the line as read."""

    def __init__(self, number: int, message: str, text: str) -> None:
        super().__init__(f"line {number} is not JSON: {message}")
        self.number = number
        self.text = text
        self.reason = f"not JSON: {message}"
        """Why, without the line's number (which a report gives beside it)."""


_JSON_KINDS = {list: "a JSON array", str: "a JSON string", int: "a JSON number", float: "a JSON number",
               bool: "JSON true or false", type(None): "JSON null"}


def not_a_record(value: Any) -> str | None:
    """Why a value :func:`read_jsonl` gave is not a record (a JSON object), or ``None`` when it is one."""
    if isinstance(value, dict):
        return None
    if isinstance(value, BadLine):
        return value.reason
    return f"the line is {_JSON_KINDS.get(type(value), 'a JSON value')}, not an object"


def require_readable(path: str | os.PathLike[str]) -> None:
    """Refuse an input that is not there, is a folder or may not be read, without opening it (a pipe
    such as ``<(zcat x.gz)`` opened to check would lose what it holds); ``-`` (stdin) passes."""
    if is_stdio(path):
        return
    target = Path(path)
    if target.is_dir():
        raise InvalidInput(f"{target} is a folder, not a file")
    if not target.exists():
        raise InvalidInput(f"no such file: {target}")
    if not os.access(target, os.R_OK):
        raise InvalidInput(f"cannot read {target}: permission denied")


def open_bytes(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open ``path`` (``-`` for standard input) for reading bytes, through gzip when it starts as gzip."""
    raw: io.BufferedReader
    if is_stdio(path):
        raw = os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    else:
        require_readable(path)
        try:
            raw = open(path, "rb")
        except OSError as error:
            raise InvalidInput(f"cannot read {path}: {error.strerror or error}") from None
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    return raw


_CUT_GZIP = (EOFError, zlib.error, gzip.BadGzipFile)
"""What reading a gzip stream that is cut short or corrupt raises (an EOFError, which click would take for
Ctrl-D, among them)."""


def _not_gzip(name: str, error: Exception) -> InvalidInput:
    return InvalidInput(f"{name} cannot be read as gzip, it is cut short or corrupt: {error}")


class _Utf8Text(io.TextIOWrapper):
    """UTF-8 text whose bytes may not be UTF-8: a decoding error names the file
    ([`InvalidInput`][ckan_api_client.exceptions.InvalidInput]), not a codec's internals."""

    def __init__(self, raw: IO[bytes], name: str) -> None:
        super().__init__(cast(Any, raw), encoding="utf-8", newline="")
        self._name = name

    @contextmanager
    def _errors_named(self) -> Iterator[None]:
        try:
            yield
        except UnicodeDecodeError as error:
            raise InvalidInput(f"{self._name} is not UTF-8 text ({error.reason}): save it as UTF-8") from None
        except _CUT_GZIP as error:
            raise _not_gzip(self._name, error) from None

    def read(self, size: int | None = -1) -> str:
        with self._errors_named():
            return super().read(size)

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]  # typeshed: _IOBase's bytes
        with self._errors_named():
            return super().readline(-1 if size is None else size)

    def __next__(self) -> str:  # type: ignore[override]  # typeshed: _IOBase's bytes
        with self._errors_named():
            return super().__next__()


def open_input(path: str | os.PathLike[str]) -> IO[str]:
    """Open ``path`` (``-`` for standard input) as UTF-8 text, through gzip when it starts as gzip; bytes
    that are not UTF-8 are [`InvalidInput`][ckan_api_client.exceptions.InvalidInput] naming the file."""
    return _Utf8Text(open_bytes(path), _shown(path))


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed value)`` for each non-blank line, streamed; a line that is not JSON (or not
    UTF-8) gives a [`BadLine`][ckan_api_client.core.streams.BadLine] as its value, so one bad line does not stop the reader. A file that is
    one JSON array (not JSON Lines) is [`InvalidInput`][ckan_api_client.exceptions.InvalidInput] at its first line, with how to convert it.
    Lines end at ``\\n`` (a ``\\r`` before it is whitespace to JSON)."""
    with open_bytes(path) as fh:
        first = True
        for number, raw in enumerate(_gzip_checked(fh, _shown(path)), start=1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                why = f"its bytes are not UTF-8 ({error.reason} at byte {error.start + 1})"
                yield number, BadLine(number, why, text)
                first = False
                continue
            try:
                value = codec.loads(line)
            except ValueError as error:
                if first and line.lstrip().startswith("["):
                    raise not_json_lines(path) from None
                yield number, BadLine(number, str(error), line.rstrip("\r\n"))
            else:
                if first and isinstance(value, list):  # a JSON array on one line
                    raise not_json_lines(path)
                yield number, value
            first = False


def _gzip_checked(lines: Iterable[bytes], name: str) -> Iterator[bytes]:
    """``lines``, with a gzip stream that turns out cut short or corrupt raised as
    [`InvalidInput`][ckan_api_client.exceptions.InvalidInput] naming the file."""
    iterator = iter(lines)
    while True:
        try:
            line = next(iterator)
        except StopIteration:
            return
        except _CUT_GZIP as error:
            raise _not_gzip(name, error) from None
        yield line


def not_json_lines(path: str | os.PathLike[str]) -> InvalidInput:
    name = _shown(path)
    return InvalidInput(f"{name}: JSON Lines expected, one object per line; this is a JSON array: convert it "
                        f"with  jq -c '.[]' {name if name != 'stdin' else 'FILE'}")


def is_regular_target(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is (or will be) a regular file: written through ``.part`` and a rename."""
    if is_stdio(path):
        return False
    text = os.path.abspath(path)
    if text.startswith(("/dev/", "/proc/")):
        return False
    try:
        mode = os.stat(text).st_mode  # follows links: what the link points to decides
    except FileNotFoundError:
        return True
    return stat.S_ISREG(mode)


def final_path(path: str | os.PathLike[str]) -> Path:
    """Where a regular output really lives: a symlink's target, so the rename keeps the link."""
    return Path(os.path.realpath(path))


def part_path(path: str | os.PathLike[str]) -> Path:
    target = final_path(path)
    return target.with_name(target.name + ".part")


def require_folder(path: str | os.PathLike[str]) -> None:
    """[`InvalidInput`][ckan_api_client.exceptions.InvalidInput] when the folder a regular output goes into is
    not there (checked before any work, so a long run does not end on it)."""
    if is_regular_target(path):
        folder = final_path(path).parent
        if not folder.is_dir():
            raise InvalidInput(f"cannot write {path}: there is no folder {folder}")


def side_file(path: str | os.PathLike[str] | None, suffix: str) -> Path | None:
    """``NAME<suffix>`` beside a regular file; None for stdin/stdout and special files."""
    if path is None or not is_regular_target(path):
        return None
    target = final_path(path)
    return target.with_name(target.name + suffix)


class Checkpoint:
    """The line numbers of an input that are done, appended as they finish, so that a resumed run skips
    them (``load`` and ``batch``): in ``NAME.checkpoint`` beside a regular input file, or a file given."""

    def __init__(self, path: Path | None, resume: bool) -> None:
        self.path = path
        self.done: set[int] = set()
        if path is not None and resume and path.exists():
            self.done = {int(line) for line in path.read_text(encoding="utf-8").split() if line.isdigit()}
        self._fh: IO[str] | None = open(path, "a" if resume else "w", encoding="utf-8") if path is not None else None

    @classmethod
    def beside(cls, source: str | os.PathLike[str], checkpoint: str | os.PathLike[str] | None,
               resume: bool) -> Checkpoint:
        """The checkpoint of ``source``: ``checkpoint`` when given, else beside it (none for stdin, whose
        run cannot be resumed without one)."""
        path = Path(checkpoint) if checkpoint else side_file(source, ".checkpoint")
        if resume and path is None:
            raise InvalidInput("resuming from standard input or a special file needs an explicit checkpoint file")
        return cls(path, resume)

    def mark(self, line: int) -> None:
        if self._fh is not None:
            self._fh.write(f"{line}\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _complete_lines(path: Path) -> Iterator[tuple[str, Any]]:
    """``(line, parsed value)`` of each complete JSON line of a file cut off mid-write (a torn last line
    is dropped)."""
    try:
        with open_bytes(path) as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    return
                try:
                    line = raw.decode("utf-8")
                    value = codec.loads(line)
                except ValueError:  # UnicodeDecodeError is one
                    return
                yield line, value
    except (*_CUT_GZIP, OSError):
        return  # a gzip stream cut off mid-block: keep what was readable


class _GzipText:
    """Text written through gzip into a file, closing both (GzipFile leaves a given file open)."""

    def __init__(self, text: io.TextIOWrapper, raw: IO[bytes]) -> None:
        self._text, self._raw = text, raw

    def write(self, data: str) -> int:
        return self._text.write(data)

    def flush(self) -> None:
        self._text.flush()

    def close(self) -> None:
        try:
            self._text.close()
        finally:
            self._raw.close()

    @property
    def closed(self) -> bool:
        return self._text.closed


class TextOutput:
    """Text (JSON Lines, CSV) to a file, stdout (``-``) or a special file; see the module documentation.

    A regular file gets gzip when its name ends in ``.gz``, is written to ``NAME.part`` and renamed
    by [`commit`][ckan_api_client.core.streams.TextOutput.commit]; [`abandon`][ckan_api_client.core.streams.TextOutput.abandon] leaves the ``.part`` for a resume. With ``resume`` (JSON
    Lines), the complete lines of an earlier ``.part`` (or of ``NAME``) are kept, and
    [`kept_ids`][ckan_api_client.core.streams.TextOutput.kept_ids] names their records.
    """

    def __init__(self, path: str | os.PathLike[str], *, resume: bool = False) -> None:
        self.path = Path(path)
        require_folder(path)
        try:
            self._start(path, resume)
        except (PermissionError, IsADirectoryError, NotADirectoryError) as error:
            raise InvalidInput(f"cannot write {self.path}: {error.strerror or error}") from None

    def _start(self, path: str | os.PathLike[str], resume: bool) -> None:
        self.regular = is_regular_target(path)
        self.kept_count = 0
        self._kept_ids: list[tuple[Any, Any]] = []
        if not self.regular:
            if resume:
                raise InvalidInput(f"--resume needs a regular file to continue, not {self.path}")
            self.part = None
            self._fh: IO[str] = sys.stdout if is_stdio(path) else open(self.path, "w", encoding="utf-8")
            return
        target = final_path(path)
        self.part = part_path(path)
        self._gz = target.name.endswith(".gz")
        source = self.part if self.part.exists() else target if target.exists() else None
        self._part_is_new = source is None
        fresh = self.part.with_name(self.part.name + ".new")
        self._fh = self._open(fresh)
        if resume and source is not None:
            for line, record in _complete_lines(source):
                self._fh.write(line)
                if isinstance(record, Mapping):
                    self._kept_ids.append((record.get("id"), record.get("name")))
                self.kept_count += 1
        self._fh.close()
        os.replace(fresh, self.part)  # what survived, whole lines only: now the .part to continue
        self._fh = self._open(self.part, append=True)

    def _open(self, path: Path, append: bool = False) -> IO[str]:
        mode = "a" if append else "w"
        if self._gz:
            # The gzip header names the file it unpacks to: the final name, not the .part being written.
            raw = open(path, mode + "b")
            inner = final_path(self.path).name.removesuffix(".gz")
            packed = gzip.GzipFile(filename=inner, mode=mode + "b", fileobj=raw)
            return cast(IO[str], _GzipText(io.TextIOWrapper(packed, encoding="utf-8", newline=""), raw))
        return open(path, mode, encoding="utf-8", newline="")

    @property
    def stream(self) -> IO[str]:
        """The text stream written to (for a ``csv.writer``)."""
        return self._fh

    @property
    def kept_ids(self) -> list[tuple[Any, Any]]:
        """``(id, name)`` of each record kept from before (on resume)."""
        return self._kept_ids

    @property
    def where(self) -> str:
        """Where the data is while the output is not committed: the ``.part`` file or the stream."""
        return str(self.part) if self.part is not None else str(self.path)

    def write(self, record: Mapping[str, Any]) -> None:
        self.write_line(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")

    def write_line(self, line: str) -> None:
        """Write one record already encoded as a JSON line (ending in a newline). An error of the disk (full,
        gone) is an ``OSError`` that names where the output is."""
        try:
            self._fh.write(line)
        except OSError as error:
            raise self._failed(error) from None

    def commit(self) -> None:
        """Finish: the output is complete under its final name."""
        self._close()
        if self.part is not None:
            os.replace(self.part, final_path(self.path))

    def abandon(self) -> None:
        """Stop early: what was written stays in the ``.part`` file, for a resume."""
        self._close()

    def discard(self) -> None:
        """Stop before anything was written: a ``.part`` this output made is removed (one from an earlier
        run stays as it was)."""
        self._close()
        if self.part is not None and self._part_is_new and self.kept_count == 0:
            self.part.unlink(missing_ok=True)

    def _close(self) -> None:
        try:
            if self._fh is sys.stdout:
                self._fh.flush()
            else:
                self._fh.close()
        except OSError as error:
            raise self._failed(error) from None

    def _failed(self, error: OSError) -> OSError:
        if isinstance(error, BrokenPipeError) or error.filename is not None:
            return error  # a reader that went away is told apart by its type; a named one says where already
        return OSError(error.errno, error.strerror, self.where)
