"""The sync state: an embedded SQLite file per (portal, source), a cache of what the last runs wrote.

Per source id it keeps the dataset's id and name on the portal, a hash of the content last written,
and the portal's ``metadata_modified`` after that write. With it, a sync reads the portal's owned
datasets as compact search pages and reads a dataset in full only when the source record changed
(its hash) or the dataset was edited on the portal (its ``metadata_modified``).

The state is a cache, never the truth: every entry is trusted only while the portal's own
``dataset id`` and ``metadata_modified`` still match it, and a run without it (a new machine, a
deleted file) reads the owned datasets in full and is as correct, only slower. A file that is not
a state file, or belongs to another portal or source, raises [`StateError`][ckan_api_client.engines.state.StateError] before anything
is written.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Union
from urllib.parse import urlsplit

from ..exceptions import CkanError

__all__ = ["SyncState", "StateEntry", "StateError", "default_state_path", "resolve_state_path", "open_state",
           "StateLocation"]

SCHEMA_VERSION = 1
_APPLICATION_ID = 0x434B414E  # "CKAN": marks the file as ours in SQLite's header


class StateError(CkanError):
    """The state file cannot be used (corrupt, not a state file, another portal's or source's)."""


@dataclass(frozen=True)
class StateEntry:
    dataset_id: str
    name: str
    content_hash: str
    metadata_modified: str


def state_home() -> Path:
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "ckan-api-client"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "x"


def default_state_path(portal_url: str, source_name: str) -> Path:
    """``~/.local/state/ckan-api-client/sync/<portal>/<source>.sqlite`` (``$XDG_STATE_HOME`` honoured)."""
    parts = urlsplit(portal_url)
    portal = _slug(f"{parts.hostname or 'portal'}{'-' + str(parts.port) if parts.port else ''}{parts.path}")
    digest = hashlib.sha256(f"{portal_url.rstrip('/')}\n{source_name}".encode()).hexdigest()[:10]
    return state_home() / "sync" / portal / f"{_slug(source_name)}-{digest}.sqlite"


StateLocation = Union[Path, str]
"""A local path, or the URL of a file every worker can reach (``s3://...``, ``gs://...``, ``file://...``)."""


def is_remote(location: StateLocation) -> bool:
    return isinstance(location, str) and "://" in location


def resolve_state_path(option: bool | str | os.PathLike[str], portal_url: str, name: str) -> StateLocation | None:
    """What a ``state=`` option means: True, the default path; False, no state; a URL (fsspec) as it is;
    else that path."""
    if option is True:
        return default_state_path(portal_url, name)
    if option is False:
        return None
    if isinstance(option, str) and "://" in option:
        return option
    return Path(option)


def open_state(location: StateLocation, portal_url: str, source_name: str) -> SyncState:
    """The state at ``location``. A URL is read with fsspec into a local copy and written back when the state
    is closed, so that the job of another night, on another machine, finds it; the same checks hold
    (a foreign or corrupt state is refused before anything is written). One job per state at a time."""
    if not is_remote(location):
        return SyncState(location, portal_url, source_name)
    try:
        import fsspec
    except ImportError:
        raise StateError(f"the state {location} is a URL: that needs fsspec (pip install fsspec, and the package "
                         "of its storage: s3fs, gcsfs, ...)") from None
    url = str(location)
    folder = tempfile.mkdtemp(prefix="ckan-state-")
    local = Path(folder) / "state.sqlite"
    try:
        filesystem, remote_path = fsspec.core.url_to_fs(url)
        if filesystem.exists(remote_path):
            filesystem.get(remote_path, str(local))
    except Exception as error:  # fsspec's backends raise their own kinds
        raise StateError(f"the state {url} cannot be read: {type(error).__name__}: {error}") from None

    def upload() -> None:
        try:
            parent = remote_path.rsplit("/", 1)[0]
            if parent and parent != remote_path:
                filesystem.makedirs(parent, exist_ok=True)
            filesystem.put(str(local), remote_path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    state = SyncState(local, portal_url, source_name)
    state.on_close = upload
    return state


class SyncState:
    """The state file of one (portal, source); safe to use from several threads."""

    def __init__(self, path: str | os.PathLike[str], portal_url: str, source_name: str) -> None:
        self.path = Path(path)
        self.portal_url = portal_url.rstrip("/")
        self.source_name = source_name
        self.on_close: Callable[[], None] | None = None
        """Run once the file is closed (a remote state is written back)."""
        self._lock = threading.Lock()
        if self.path.parent.is_relative_to(state_home()):
            self.path.parent.mkdir(parents=True, exist_ok=True)  # the states' own home is made as needed
        elif not self.path.parent.is_dir():  # a folder the user named: a typo must not make a new one
            raise StateError(f"the folder of the state {self.path} does not exist (or is not a folder)")
        existed = self.path.exists() and self.path.stat().st_size > 0
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            if existed:
                self._check()
            else:
                self._create()
        except sqlite3.DatabaseError as error:
            raise StateError(f"{self.path} is not a readable sync state file ({error}): remove it (the next run "
                             "reads the portal in full and writes a new one) or give another --state") from None

    def _create(self) -> None:
        self._db.executescript(f"""
            PRAGMA application_id = {_APPLICATION_ID};
            PRAGMA user_version = {SCHEMA_VERSION};
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS entries (
                source_id TEXT PRIMARY KEY, dataset_id TEXT NOT NULL, name TEXT NOT NULL,
                content_hash TEXT NOT NULL, metadata_modified TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS copies (
                key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, target TEXT NOT NULL);
        """)
        self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             [("portal", self.portal_url), ("source", self.source_name)])

    def _check(self) -> None:
        app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if app_id != _APPLICATION_ID:
            raise StateError(f"{self.path} is not a ckan-api-client sync state file: give another --state")
        if version != SCHEMA_VERSION:
            raise StateError(f"{self.path} is a sync state of format {version}, this version reads {SCHEMA_VERSION}: "
                             "remove it (the next run reads the portal in full)")
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if (meta.get("portal"), meta.get("source")) != (self.portal_url, self.source_name):
            raise StateError(f"{self.path} is the sync state of source {meta.get('source')!r} on {meta.get('portal')}, "
                             f"not of {self.source_name!r} on {self.portal_url}: give this run its own --state")

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM entries").fetchone()[0])

    def lookup(self, source_ids: Iterable[str]) -> dict[str, StateEntry]:
        """The entries of these source ids (a page of them at a time keeps memory flat)."""
        wanted = list(source_ids)
        found: dict[str, StateEntry] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                rows = self._db.execute(
                    "SELECT source_id, dataset_id, name, content_hash, metadata_modified FROM entries "
                    f"WHERE source_id IN ({','.join('?' * len(chunk))})", chunk).fetchall()
                for source_id, *values in rows:
                    found[source_id] = StateEntry(*values)
        return found

    def entries(self) -> Iterator[tuple[str, StateEntry]]:
        with self._lock:
            rows = self._db.execute("SELECT source_id, dataset_id, name, content_hash, metadata_modified "
                                    "FROM entries").fetchall()
        for source_id, *values in rows:
            yield source_id, StateEntry(*values)

    def record(self, source_id: str, entry: StateEntry) -> None:
        """Remember what was just written (or found to be as wanted)."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)",
                             (source_id, entry.dataset_id, entry.name, entry.content_hash, entry.metadata_modified))

    def forget(self, source_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM entries WHERE source_id = ?", (source_id,))

    def get_meta(self, key: str) -> str | None:
        """A value the owner of the state keeps between runs (the mirror's incremental mark)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (f"x:{key}",)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"x:{key}", value))

    def get_copy(self, key: str) -> tuple[str, str] | None:
        """``(fingerprint, target)`` of the last complete copy of something (a file, a table), if any."""
        with self._lock:
            row = self._db.execute("SELECT fingerprint, target FROM copies WHERE key = ?", (key,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def record_copy(self, key: str, fingerprint: str, target: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO copies VALUES (?, ?, ?)", (key, fingerprint, target))

    def has_copies(self, prefix: str) -> bool:
        """True when some copy is recorded under a key starting with ``prefix``."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM copies WHERE key >= ? AND key < ? LIMIT 1",
                                   (prefix, prefix + "\uffff")).fetchone()
        return row is not None

    def copies_of(self, keys: Iterable[str]) -> dict[str, tuple[str, str]]:
        """``key -> (fingerprint, target)`` of the recorded copies among ``keys`` (500 at a time)."""
        wanted = list(keys)
        found: dict[str, tuple[str, str]] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                rows = self._db.execute(f"SELECT key, fingerprint, target FROM copies WHERE key IN "
                                        f"({','.join('?' * len(chunk))})", chunk).fetchall()
                found.update((str(k), (str(f), str(t))) for k, f, t in rows)
        return found

    def forget_copy(self, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM copies WHERE key = ?", (key,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self.on_close is not None:
            done, self.on_close = self.on_close, None
            done()

    def __enter__(self) -> "SyncState":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
