"""Harvesting into a portal: ``sync`` (a JSON Lines source), ``harvest`` (a DCAT catalogue) and ``mirror``
(another portal)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from ..core.streams import read_jsonl
from ..engines.mirror import Mirror
from ..engines.planning import DeleteLimit
from ..engines.report import Report
from ..engines.sync import PlannedWrite, SynchronizationClient
from .app import ERROR_LOG, INPUT, DeleteLimitType, Settings, emit, finish, logged_report, main, progress_bar

MAX_DELETE = click.option("--max-delete", type=DeleteLimitType(), default="50%", show_default=True,
                          help="Refuse a run that would delete more than this (a count, or a % of what it owns).")
STATE = click.option("--state", "state_path", type=click.Path(path_type=Path, dir_okay=False),
                     help="The state file (default: one per portal and source under ~/.local/state).")


def steps_shown(dry_run: bool, bar: Any) -> Any:
    """What a run does with each step: a dry run prints it (but the unchanged ones), a bar counts it."""
    def show(write: PlannedWrite, status: str) -> None:
        if dry_run and write.operation != "unchanged":
            emit(write.as_dict())
        if bar is not None:
            bar.advance(1)
    return show


@main.command()
@click.argument("source", type=INPUT)
@click.option("--source-name", required=True, help="Names the datasets this source owns.")
@click.option("--source-id", "source_id_field", default="id", show_default=True,
              help="The field of each record that identifies it in the source.")
@click.option("--dry-run", is_flag=True, help="Stream the plan as JSON Lines; write nothing.")
@click.option("--default-organization", help="Organization for records that name none.")
@click.option("--organization-strategy", type=click.Choice(["create", "map", "fail"]), default="create",
              show_default=True)
@click.option("--group-strategy", type=click.Choice(["create", "map", "fail"]), default="create", show_default=True)
@MAX_DELETE
@click.option("--allow-empty-source", is_flag=True, help="Let an empty source delete everything it owns.")
@STATE
@click.option("--no-state", is_flag=True, help="Keep no state: read the owned datasets in full (slower, as correct).")
@click.option("--clean", "cleaners", multiple=True, type=click.Choice(["names", "tags", "emails", "oversized"]),
              help="Fix what CKAN refuses: names, tag names, placeholder emails, oversized extras (repeatable).")
@ERROR_LOG
@click.pass_obj
def sync(settings: Settings, source: Path, source_name: str, source_id_field: str, dry_run: bool,
         default_organization: str | None, organization_strategy: str, group_strategy: str, max_delete: DeleteLimit,
         allow_empty_source: bool, state_path: Path | None, no_state: bool, cleaners: tuple[str, ...],
         error_log: Path | None) -> int:
    """Make the portal hold exactly the datasets of SOURCE (JSON Lines, -: stdin); see the sync engine.

    A source with records that cannot be read deletes nothing; a run that would delete more than
    --max-delete of what the source owns stops before writing. With its state file, a run reads
    only compact search pages, and in full only the datasets whose record changed.

    \b
    Examples:
      ckan-api-client sync source.jsonl --source-name my-harvest --dry-run
      ckan-api-client sync source.jsonl --source-name my-harvest --clean tags --clean emails
      ckan-api-client sync - --source-name feed --source-id ref < records.jsonl
    """
    if no_state and state_path is not None:
        raise click.UsageError("--state and --no-state exclude each other")
    # The engine checks the token itself, while it reads the source.
    engine = SynchronizationClient(settings.client(check_token=False), source_name,
                                   default_organization=default_organization,
                                   organization_strategy=organization_strategy,  # type: ignore[arg-type]
                                   group_strategy=group_strategy,  # type: ignore[arg-type]
                                   concurrency=settings.jobs, source_id=source_id_field, max_delete=max_delete,
                                   allow_empty_source=allow_empty_source,
                                   state=False if no_state else (state_path or True), cleaners=cleaners)
    records = (value for _, value in read_jsonl(source))
    with logged_report(error_log) as report, progress_bar(settings, "sync") as bar:
        report.operation, report.dry_run = "sync", dry_run
        run(engine, records, report, dry_run, bar)
    return finish(report, settings)


def run(engine: SynchronizationClient, records: Any, report: Report, dry_run: bool, bar: Any) -> None:
    show = steps_shown(dry_run, bar)
    if dry_run:
        for write in engine.plan(records, report):
            show(write, write.operation)
    else:
        engine.sync(records, progress=show, report=report)


@main.command()
@click.option("--from", "source", required=True, help="The portal to copy: a URL or a profile name.")
@click.option("--from-token", envvar="CKAN_FROM_TOKEN", help="Token for the source (or CKAN_FROM_TOKEN).")
@click.option("--to", "destination", help="The portal to copy into: a URL or a profile (default: --url).")
@click.option("--to-token", envvar="CKAN_TO_TOKEN", help="Token for the destination (default: --token).")
@click.option("--include-private", is_flag=True, help="Private datasets and drafts too (the source key must see them).")
@click.option("--fq", help="Mirror only the datasets matching this Solr filter.")
@click.option("--organization", help="Mirror only this organization (name) and its datasets.")
@click.option("--datastore/--no-datastore", default=True, show_default=True, help="Copy DataStore tables.")
@click.option("--files/--no-files", default=True, show_default=True, help="Copy uploaded files.")
@click.option("--dry-run", is_flag=True, help="Stream the plan of the datasets as JSON Lines; write nothing.")
@click.option("--name", help="Names this mirror on the destination (default: mirror:<source host>).")
@click.option("--state", "state_path", help="The mirror's state: a file, or a URL every worker can reach "
                                            "(s3://..., file://...; needs fsspec). Default: one per destination "
                                            "and mirror under ~/.local/state.")
@click.option("--retry-conflicts", is_flag=True,
              help="Try again the datasets whose name or id is held by another, though their source did not change.")
@click.option("--refresh-groups", is_flag=True, help="Compare every organization and group again.")
@MAX_DELETE
@ERROR_LOG
@click.pass_obj
def mirror(settings: Settings, source: str, from_token: str | None, destination: str | None,
           to_token: str | None, include_private: bool, fq: str | None, organization: str | None,
           datastore: bool, files: bool, dry_run: bool, name: str | None, state_path: str | None,
           retry_conflicts: bool, refresh_groups: bool, max_delete: DeleteLimit, error_log: Path | None) -> int:
    """Copy a whole portal into another, files and DataStore tables included, and keep it in step.

    The first run copies everything; later runs read the source in compact pages and copy only what
    changed since its last copy, and delete what the source deleted. Datasets on the destination that
    this mirror (this part of it, with --organization or --fq) did not create are never touched. Members
    and users are not copied.

    \b
    Example:
      ckan-api-client mirror --from https://old.example.org --to https://new.example.org \\
          --to-token $NEW_TOKEN --include-private --from-token $OLD_TOKEN
    """
    if destination is None and to_token is not None:
        destination = settings.url  # --to-token without --to: the destination is --url, with that token
    # The mirror checks both tokens itself, at once.
    target = (settings.site(destination, to_token or settings.token, "--to", check_token=False) if destination
              else settings.client(check_token=False))
    job = Mirror(settings.site(source, from_token, "--from", check_token=False), target, name=name,
                 include_private=include_private, fq=fq, organization=organization, datastore=datastore,
                 files=files, concurrency=settings.jobs, state=state_path or True, max_delete=max_delete,
                 retry_conflicts=retry_conflicts, refresh_groups=refresh_groups)
    with logged_report(error_log) as report, progress_bar(settings, "mirror", unit="datasets") as bar:
        job.run(dry_run=dry_run, progress=steps_shown(dry_run, bar), report=report)
    return finish(report, settings)


def parse_size(text: str) -> int:
    """``200MB``, ``1.5GB``, ``500k`` or a plain number of bytes."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not found:
        raise click.BadParameter(f"{text!r} is not a size (e.g. 200MB)")
    return int(float(found.group(1)) * 1024 ** " kmgt".index(found.group(2) or " "))


def parse_contexts(pairs: tuple[str, ...]) -> dict[str, str]:
    contexts = {}
    for pair in pairs:
        url, sep, path = pair.partition("=")
        if not sep or not Path(path).is_file():
            raise click.BadParameter(f"{pair!r}: give URL=FILE, the file holding the JSON-LD context of that URL")
        contexts[url] = path
    return contexts


@main.command()
@click.argument("source")
@click.option("--name", help="Names this harvest on the portal (default: dcat:<source>).")
@click.option("--owner-org", help="The organization the datasets go to (name or id).")
@click.option("--organization-from", type=click.Choice(["publisher"]),
              help="Put each dataset in an organization named after its publisher (created when missing).")
@click.option("--dry-run", is_flag=True, help="Stream the plan as JSON Lines; write nothing.")
@click.option("--language", default="en", show_default=True, help="Which translation of a text to keep.")
@click.option("--max-size", default="200MB", show_default=True, help="Refuse a source (or a page) larger than this.")
@click.option("--jsonld-context", "contexts", multiple=True, metavar="URL=FILE",
              help="A JSON-LD context to use for URL (contexts are never fetched at run time).")
@MAX_DELETE
@click.option("--allow-empty-source", is_flag=True, help="Let a source that lost every dataset delete them all.")
@STATE
@click.option("--no-state", is_flag=True, help="Keep no state: read the harvested datasets in full.")
@click.option("--clean", "cleaners", multiple=True, type=click.Choice(["names", "tags", "emails", "oversized"]),
              help="Fixes for what CKAN refuses (default: tags, emails, oversized).")
@ERROR_LOG
@click.pass_obj
def harvest(settings: Settings, source: str, name: str | None, owner_org: str | None, organization_from: str | None,
            dry_run: bool, language: str, max_size: str, contexts: tuple[str, ...], max_delete: DeleteLimit,
            allow_empty_source: bool, state_path: Path | None, no_state: bool, cleaners: tuple[str, ...],
            error_log: Path | None) -> int:
    """Harvest the DCAT catalogue SOURCE (a URL or a file) into the portal: only what changed, deletions guarded.

    SOURCE is DCAT-AP (Turtle, RDF/XML, JSON-LD, N-Triples; Hydra pages followed, as ckanext-dcat's
    /catalog.ttl serves them) or DCAT-US data.json. A source that cannot be read or holds no dataset
    deletes nothing.

    \b
    Examples:
      ckan-api-client harvest https://other.example/catalog.ttl --owner-org harvested --dry-run
      ckan-api-client harvest data.json --organization-from publisher --name agency-feed
    """
    from .export import needs

    needs("dcat", "rdflib")
    from ..engines.harvest import DEFAULT_CLEANERS, Harvest

    if no_state and state_path is not None:
        raise click.UsageError("--state and --no-state exclude each other")
    if bool(owner_org) == bool(organization_from):
        raise click.UsageError("give --owner-org ORG, or --organization-from publisher")
    job = Harvest(settings.client(), source, name=name, owner_org=owner_org,
                  organization_from=organization_from,  # type: ignore[arg-type]
                  language=language, max_size=parse_size(max_size), contexts=parse_contexts(contexts),
                  state=False if no_state else (state_path or True), max_delete=max_delete,
                  allow_empty_source=allow_empty_source, cleaners=cleaners or DEFAULT_CLEANERS,
                  concurrency=settings.jobs)
    with logged_report(error_log) as report, progress_bar(settings, "harvest", unit="datasets") as bar:
        job.run(dry_run=dry_run, progress=steps_shown(dry_run, bar), report=report)
    return finish(report, settings)
