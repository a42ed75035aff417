"""Records in bulk: ``search``, ``dump``, ``load`` and ``delete`` (the bulk engine's commands)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import click

from ..core.streams import is_regular_target, open_input
from ..engines.delete import delete as delete_records
from ..engines.delete import search as search_records
from ..engines.dump import dump as dump_records
from ..engines.load import load as load_records
from .app import EXIT_OK, INPUT, KIND, OUTPUT, Settings, emit, finish, logged_report, main, progress_bar


@main.command()
@click.argument("terms", nargs=-1)
@click.option("--q", "query", default="*:*", show_default=True, help="Solr query.")
@click.option("--fq", help="Solr filter query.")
@click.option("--include-private", is_flag=True)
@click.option("--include-drafts", is_flag=True)
@click.option("--limit", type=int, help="Stop after this many datasets.")
@click.pass_obj
def search(settings: Settings, terms: tuple[str, ...], query: str, fq: str | None, include_private: bool,
           include_drafts: bool, limit: int | None) -> int:
    """All matching datasets as JSON Lines, paged in a stable order.

    ckanapi's form works too: ``search datasets q=... fq=... rows=...``.

    \b
    Examples:
      ckan-api-client search --fq organization:my-org > found.jsonl
      ckan-api-client search --q 'title:air' --limit 10
      ckan-api-client search datasets q=air fq=organization:my-org
    """
    for term in terms:
        key, sep, value = term.partition("=")
        if not sep and term == "datasets":
            continue
        if key == "q" and sep:
            query = value
        elif key == "fq" and sep:
            fq = value
        elif key == "rows" and sep and value.isdigit():
            limit = int(value)
        elif key == "include_private" and sep:
            include_private = value.lower() in ("true", "1", "yes")
        else:
            raise click.UsageError(f"{term}: search takes 'datasets' and q=, fq=, rows=, include_private= "
                                   "(or --q, --fq, --limit)")
    for dataset in search_records(settings.client(), q=query, fq=fq, include_private=include_private,
                                  include_drafts=include_drafts, limit=limit):
        emit(dataset)
    return EXIT_OK


@main.command()
@click.argument("kind", type=KIND)
@click.argument("ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every record of this kind.")
@click.option("-o", "--output", "-O", type=OUTPUT, default="-", show_default=True,
              help="JSON Lines file (.gz: gzip; -: stdout).")
@click.option("--fq", help="With --all datasets: only those matching this Solr filter, e.g. organization:my-org.")
@click.option("--include-private", is_flag=True, help="With --all datasets: private ones too.")
@click.option("--include-drafts", is_flag=True, help="With --all datasets: drafts too (those the token may edit).")
@click.option("--resume", is_flag=True, help="Continue a dump that was cut off (from OUTPUT.part).")
@click.option("--with-files", "files_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Download resource files into this folder (load --with-files restores them).")
@click.option("--overwrite-files", is_flag=True, help="Replace files that exist and differ.")
@click.pass_obj
def dump(settings: Settings, kind: str, ids: tuple[str, ...], all_: bool, output: Path, fq: str | None,
         include_private: bool, include_drafts: bool, resume: bool, files_dir: Path | None,
         overwrite_files: bool) -> int:
    """Write records as JSON Lines (to stdout, or a file), through the paged search (not one request per dataset).

    A file appears under its name only when complete; a dump cut short leaves OUTPUT.part, which
    --resume continues.

    \b
    Examples:
      ckan-api-client dump datasets --all -o site.jsonl.gz --include-private --include-drafts
      ckan-api-client dump datasets --all --fq organization:my-org | gzip > part.jsonl.gz
      ckan-api-client dump datasets --all --with-files files/ -o site.jsonl
      ckan-api-client dump organizations --all -o orgs.jsonl -r https://demo.ckan.org
    """
    if all_ == bool(ids):
        raise click.UsageError("give either --all or some ids")
    if fq and not (all_ and kind == "datasets"):
        raise click.UsageError("--fq narrows `dump datasets --all` only")
    if include_drafts and not (all_ and kind == "datasets"):
        raise click.UsageError("--include-drafts widens `dump datasets --all` only (a dataset named is dumped "
                               "whatever its state)")
    client = settings.client(check_token=False)  # checked by the dump while its first pages come
    with progress_bar(settings, f"dump {kind}", len(ids) or None) as bar:
        report = dump_records(client, kind, output, ids=list(ids) if ids else None, include_private=include_private,
                              include_drafts=include_drafts, fq=fq, resume=resume, concurrency=settings.jobs,
                              files_dir=files_dir, overwrite_files=overwrite_files, progress=bar)
    return finish(report, settings, data_on_stdout=not is_regular_target(output))


@main.command()
@click.argument("kind", type=KIND)
@click.option("-i", "--input", "-I", "input_path", type=INPUT, required=True, help="JSON Lines (.gz too; -: stdin).")
@click.option("--create-only", is_flag=True, help="Only create; existing names are failures.")
@click.option("--update-only", is_flag=True, help="Only update existing records (by name).")
@click.option("--default-organization", help="Organization for datasets whose record names none that exists here.")
@click.option("--with-files", "files_dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="Folder of a dump --with-files: upload its files to the resources that were uploads.")
@click.option("--resume", is_flag=True, help="Skip the lines a previous run finished.")
@click.option("--checkpoint", type=click.Path(path_type=Path), help="Checkpoint file (default: INPUT.checkpoint).")
@click.option("--error-log", type=click.Path(path_type=Path),
              help="Write each failed record here with its error (JSON Lines), ready to fix and load again.")
@click.pass_obj
def load(settings: Settings, kind: str, input_path: Path, create_only: bool, update_only: bool,
         default_organization: str | None, files_dir: Path | None, resume: bool, checkpoint: Path | None,
         error_log: Path | None) -> int:
    """Create or update each record of a JSON Lines file; bad records are logged, the rest loaded.

    A dataset goes to its owner_org when that names an organization of this site (id or name),
    else to its embedded organization (by name), else to --default-organization.

    \b
    Examples:
      ckan-api-client load organizations -i orgs.jsonl
      ckan-api-client -j 8 load datasets -i site.jsonl.gz --error-log errors.jsonl
      ckan-api-client load datasets -i site.jsonl --with-files files/ --resume
    """
    if create_only and update_only:
        raise click.UsageError("--create-only and --update-only exclude each other")
    mode = "create" if create_only else "update" if update_only else "upsert"
    with logged_report(error_log) as report, progress_bar(settings, f"load {kind}") as bar:
        load_records(settings.client(), kind, input_path, mode=mode, concurrency=settings.jobs, resume=resume,
                     checkpoint=checkpoint, default_organization=default_organization, files_dir=files_dir,
                     progress=bar, report=report)
    if not report.details.get("records"):
        click.echo(f"nothing to load: {input_path} holds no records", err=True)
    return finish(report, settings)


def refs_from(input_path: Path) -> Iterator[str]:
    """Ids or names, one per line, or JSON Lines records with an id or name; a bad line is a usage error."""
    with open_input(input_path) as fh:
        for number, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line.startswith("{"):
                if number == 1 and line.startswith("["):
                    raise click.UsageError(f"{input_path} is a JSON array: give one id or name (or one JSON "
                                           "object) per line, e.g. with jq -c '.[]'")
                if line:
                    yield line
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise click.UsageError(f"{input_path} line {number} is not JSON: {error}") from None
            ref = record.get("id") or record.get("name") if isinstance(record, dict) else None
            if not isinstance(ref, str) or not ref:
                raise click.UsageError(f"{input_path} line {number} has no id or name")
            yield ref


@main.command()
@click.argument("kind", type=KIND)
@click.argument("ids", nargs=-1)
@click.option("-i", "--input", "-I", "input_path", type=INPUT,
              help="Ids or names, one per line, or JSON Lines records with an id or name (-: stdin).")
@click.option("--purge", is_flag=True, help="Destroy for good instead of marking deleted.")
@click.pass_obj
def delete(settings: Settings, kind: str, ids: tuple[str, ...], input_path: Path | None, purge: bool) -> int:
    """Delete records by id or name.

    \b
    Examples:
      ckan-api-client delete datasets old-data other-data
      ckan-api-client delete datasets -i ids.txt --purge
    """
    refs = list(ids)
    if input_path is not None:
        refs.extend(refs_from(input_path))
        if not refs:
            click.echo(f"nothing to delete: {input_path} holds no id or name", err=True)
            return EXIT_OK
    if not refs:
        raise click.UsageError("give ids or -i FILE")
    with progress_bar(settings, f"delete {kind}", len(refs)) as bar:
        report = delete_records(settings.client(), kind, refs, purge=purge, concurrency=settings.jobs, progress=bar)
    return finish(report, settings)
