"""Load datasets, organizations or groups from JSON Lines: create or update each, resumable, files too.

Records are made portable first ([`portable_dataset`][ckan_api_client.core.objects.portable_dataset]), so a dump
of one site loads into another. Each create goes through the write protocol
([`create_resolving`][ckan_api_client.core.writes.create_resolving]): a create whose outcome was unknown is
resolved by reading back, never sent twice; what to do next is [`after_create`][ckan_api_client.engines.load.after_create], a pure
function. One bad record never stops the run: it is reported with the record itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ..blocking.client import CkanLowlevelClient
from ..blocking.concurrency import run_concurrently
from ..core import entities
from ..core.objects import OBJECT_TYPES, diff, entity_of, owner_org_ref, portable_dataset, portable_group
from ..core.operation import Call, Operation
from ..core.streams import Checkpoint, read_jsonl
from ..core.writes import CreateOutcome, create_resolving, repeated
from ..exceptions import InvalidInput, ValidationError
from .files import read_manifest
from .report import Failure, Interrupted, Measure, Progress, Report

__all__ = ["load", "after_create", "MODES"]

MODES = ("upsert", "create", "update")
Upload = tuple[int, Path, int]
"""A file to upload after a dataset is written: (resource position, local path, size)."""


def after_create(outcome: CreateOutcome, mode: str, differs: bool) -> str:
    """What a load does once its create is settled: ``created`` (answered), ``confirmed by reading back``
    (an uncertain attempt landed, as the record says), ``update`` (it exists but not as the record says,
    or it existed before and the mode updates), or ``refuse`` (it existed before, and the mode only creates)."""
    if outcome is CreateOutcome.CREATED:
        return "created"
    if outcome is CreateOutcome.TAKEN:
        return "refuse" if mode == "create" else "update"
    return "update" if differs else "confirmed by reading back"


def load(client: CkanLowlevelClient, kind: str, path: str | Path, *, mode: str = "upsert", concurrency: int = 4,
         resume: bool = False, checkpoint: str | Path | None = None, default_organization: str | None = None,
         files_dir: str | Path | None = None, progress: Progress | None = None,
         report: Report | None = None) -> Report:
    """Create or update each record of a JSON Lines file (``-``: stdin); one bad record never stops the run.

    A dataset goes to its ``owner_org`` when that names an organization of this site (id or name),
    else to its embedded organization (by name), else to ``default_organization``. ``mode`` is
    ``upsert`` (create, or update what exists by name), ``create`` or ``update``. A checkpoint file
    (default ``<path>.checkpoint``, beside a regular input file only) records finished lines, so
    ``resume`` skips them. ``files_dir`` is a folder written by ``dump(..., files_dir=...)``: the files
    of uploaded resources are uploaded again, so the copies no longer point at the site they came from.
    Each failure is in the report with its record (``report.sink`` sees them as they come).
    """
    entity = entity_of(kind)
    if mode not in MODES:
        raise InvalidInput(f"mode must be upsert, create or update, not {mode!r}")
    if files_dir is not None and entity != "dataset":
        raise InvalidInput("files are restored with datasets only")
    report = report or Report(f"load {kind}")
    report.operation = f"load {kind}"
    with Measure(report, client.transport):
        client.check_token()
        loader = Loader(client, entity, mode, default_organization, report,
                        read_manifest(files_dir) if files_dir is not None else {})
        marks = Checkpoint.beside(path, checkpoint, resume)
        try:
            loader.run(path, marks, concurrency, progress)
        except KeyboardInterrupt:
            raise Interrupted(report, None) from None
        finally:
            marks.close()
    return report


class Loader:
    """One load: each record made portable, created or updated through the write protocol, its files
    uploaded again; the outcome counted."""

    def __init__(self, client: CkanLowlevelClient, entity: str, mode: str, default_organization: str | None,
                 report: Report, files: Mapping[str, tuple[Path, int]]) -> None:
        self.client, self.entity, self.mode, self.report, self.files = client, entity, mode, report, files
        self.default_organization = default_organization
        self.known_orgs: set[str] = set()
        if entity == "dataset":
            for org in client.list_group_summaries("organization"):
                self.known_orgs.update(str(org[k]) for k in ("id", "name") if org.get(k))
            if default_organization is not None and default_organization not in self.known_orgs:
                # Every record that needs it would be refused, one write each: say it once, before any.
                raise InvalidInput(f"the default organization {default_organization!r} is not an organization of "
                                   f"{client.base_url} (give its name or id)")
        action = "package" if entity == "dataset" else entity
        self.create_action, self.show_action = f"{action}_create", f"{action}_show"

    def run(self, path: str | Path, marks: Checkpoint, concurrency: int, progress: Progress | None) -> None:
        def tasks() -> Iterator[tuple[int, Any]]:
            self.report.details["records"] = 0
            for number, value in read_jsonl(path):
                self.report.details["records"] += 1
                if number in marks.done:
                    self.report.count("skipped (done before)")
                    continue
                unreadable = Failure.of_line(f"{self.mode} {self.entity}", None, number, value)
                if unreadable is not None:
                    self.report.add(unreadable)
                    if progress is not None:
                        progress.advance(1)
                    continue
                yield number, value

        for (number, record), outcome in run_concurrently(tasks(), self.write, concurrency=concurrency):
            if isinstance(outcome, Exception):
                self.report.add(Failure.of(f"{self.mode} {self.entity}", record.get("name"), outcome, line=number,
                                           record=record))
            else:
                self.report.count(outcome)
                marks.mark(number)
            if progress is not None:
                progress.advance(1)

    def portable(self, record: Any) -> tuple[dict[str, Any], str, list[Upload]]:
        """The record as this site takes it, its name, and the files to upload after writing it."""
        if self.entity == "dataset":
            portable = portable_dataset(record)
            portable["owner_org"] = owner_org_ref(record, self.known_orgs.__contains__, self.default_organization)
            uploads = _with_local_files(portable, record, self.files)
        else:
            portable, uploads = portable_group(record), []
        name = portable.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInput("the record has no name")
        return portable, name, uploads

    def write(self, task: tuple[int, Any]) -> str:
        """Write one record; the outcome to count."""
        portable, name, uploads = self.portable(task[1])
        outcome = "updated"
        if self.mode == "update":
            written, uploads = self.update(portable, name, uploads)
        else:
            created = self.client.run(create_resolving(Call(self.create_action, portable), lambda: self.find(name)))
            self.report.count("uncertain writes resolved by reading back", created.uncertain)
            differs = created.outcome is CreateOutcome.RESOLVED and \
                bool(diff(portable, created.result, OBJECT_TYPES[self.entity]))
            decision = after_create(created.outcome, self.mode, differs)
            if decision == "refuse":
                raise ValidationError(409, f"the name {name!r} is already in use (create only)",
                                      action=self.create_action, error={"name": ["That URL is already in use."]})
            if decision == "update":
                written, uploads = self.update(portable, name, uploads)
            else:
                written, outcome = created.result, decision
        if uploads:
            self.upload(written, portable, name, uploads)
        return outcome

    def find(self, name: str) -> Operation[dict[str, Any] | None]:
        if self.entity == "dataset":
            return (yield from entities.find_dataset(name))
        return (yield from entities.find_group_of(self.entity, name))

    def update(self, portable: dict[str, Any], name: str, uploads: list[Upload]) -> tuple[Any, list[Upload]]:
        """Update by name; the same patch sent again after an unknown outcome changes nothing more."""
        if self.entity == "dataset" and uploads:
            uploads = _keep_unchanged_uploads(portable, self.client.get_dataset(name), uploads)

        def patch() -> Operation[dict[str, Any]]:
            if self.entity == "dataset":
                return (yield from entities.put_dataset({**portable, "id": name}))
            return (yield from entities.put_group_of(self.entity, {**portable, "id": name}))

        written, uncertain = self.client.run(repeated(patch))
        self.report.count("uncertain writes resolved by reading back", uncertain)
        return written, uploads

    def upload(self, written: Any, portable: Mapping[str, Any], name: str, uploads: list[Upload]) -> None:
        resources = written.get("resources") if isinstance(written, Mapping) else None
        if not isinstance(resources, list) or len(resources) < len(portable.get("resources") or []):
            resources = self.client.get_dataset(name).get("resources") or []
        for position, file_path, _ in uploads:
            self.client.replace_resource_file(resources[position]["id"], file_path)
        self.report.count("files uploaded", len(uploads))


def _with_local_files(portable: dict[str, Any], record: Mapping[str, Any],
                      files: Mapping[str, tuple[Path, int]]) -> list[Upload]:
    """Point the uploaded resources that have a local file at that file's name (not the source's
    download URL); return the files to upload after the write."""
    wanted = []
    for position, source in enumerate(record.get("resources") or []):
        if not isinstance(source, Mapping) or source.get("url_type") != "upload" or source.get("id") not in files:
            continue
        path, size = files[str(source["id"])]
        portable["resources"][position]["url"] = path.name
        wanted.append((position, path, size))
    return wanted


def _keep_unchanged_uploads(portable: dict[str, Any], current: Mapping[str, Any],
                            wanted: list[Upload]) -> list[Upload]:
    """Update resources in place (ids by position); an uploaded file of the same name and size is kept
    as it is on the server. Returns the files that still need uploading."""
    old = [r for r in current.get("resources") or [] if isinstance(r, Mapping)]
    for position, resource in enumerate(portable.get("resources") or []):
        if position < len(old) and old[position].get("id"):
            resource["id"] = old[position]["id"]
    still = []
    for position, path, size in wanted:
        there = old[position] if position < len(old) else {}
        if there.get("url_type") == "upload" and str(there.get("url") or "").endswith("/" + path.name) \
                and str(there.get("size")) == str(size):
            portable["resources"][position].update(url=there["url"], url_type="upload", size=there.get("size"))
        else:
            still.append((position, path, size))
    return still
