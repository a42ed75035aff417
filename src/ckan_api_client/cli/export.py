"""``ckan-api-client export``: the portal as a DCAT catalogue, or as Data Packages with their files."""

from __future__ import annotations

from pathlib import Path

import click

from ..core.streams import is_regular_target
from .app import INPUT, OUTPUT, Settings, finish, main, progress_bar


def needs(extra: str, module: str) -> None:
    """One line, not a traceback, when an optional dependency is not installed."""
    try:
        __import__(module)
    except ImportError:
        raise click.UsageError(f"this command needs the {extra} extra: pip install 'ckan-api-client[{extra}]'") \
            from None


@main.group()
def export() -> None:
    """Export the portal's datasets as a DCAT catalogue or as Data Packages."""


@export.command("dcat")
@click.option("--all", "all_", is_flag=True, help="Every dataset of the portal.")
@click.option("--fq", help="Only the datasets matching this Solr filter.")
@click.option("-i", "--input", "input_path", type=INPUT, help="Datasets from a dump file (JSON Lines, .gz too) instead.")
@click.option("--include-private", is_flag=True, help="Private datasets too (the token must see them).")
@click.option("--profile", type=click.Choice(["dcat-ap-3", "dcat-us"]), default="dcat-ap-3", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["turtle", "xml", "json-ld", "nt"]), default="turtle",
              show_default=True, help="The RDF serialization (dcat-ap-3).")
@click.option("-o", "--output", type=OUTPUT, default="-", show_default=True, help="File to write (.gz: gzip; -: stdout).")
@click.option("--base-url", help="Where the catalogue's URIs live (default: the portal's URL).")
@click.option("--title", help="The catalogue's title.")
@click.option("--resume", is_flag=True, help="Continue an export that was cut off (from OUTPUT.part).")
@click.pass_obj
def export_dcat_command(settings: Settings, all_: bool, fq: str | None, input_path: Path | None,
                        include_private: bool, profile: str, fmt: str, output: Path, base_url: str | None,
                        title: str | None, resume: bool) -> int:
    """Write the datasets as one DCAT catalogue: DCAT-AP 3 (valid against its SHACL shapes) or DCAT-US 1.1.

    \b
    Examples:
      ckan-api-client export dcat --all -o catalog.ttl
      ckan-api-client export dcat --fq organization:my-org --format json-ld -o org.jsonld
      ckan-api-client export dcat -i dump.jsonl.gz --base-url https://portal.example -o catalog.ttl.gz
      ckan-api-client export dcat --all --profile dcat-us -o data.json
    """
    needs("dcat", "rdflib")
    from ..engines.export import export_dcat

    if sum((all_, bool(fq), input_path is not None)) != 1:
        raise click.UsageError("give one of --all, --fq FILTER or -i DUMP")
    client = None if input_path is not None else settings.client()
    with progress_bar(settings, "export dcat", unit="datasets") as bar:
        report = export_dcat(client, output, input_path=input_path, fq=fq, include_private=include_private,
                             profile=profile, fmt=fmt, base_url=base_url, title=title, resume=resume, progress=bar)
    return finish(report, settings, data_on_stdout=not is_regular_target(output))


@export.command("datapackage")
@click.argument("ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every dataset of the portal.")
@click.option("--fq", help="Only the datasets matching this Solr filter.")
@click.option("--include-private", is_flag=True, help="Private datasets too (the token must see them).")
@click.option("-o", "--output", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="The folder: one Data Package (a folder) per dataset inside it.")
@click.pass_obj
def export_datapackage_command(settings: Settings, ids: tuple[str, ...], all_: bool, fq: str | None,
                               include_private: bool, output: Path) -> int:
    """Write one Frictionless Data Package per dataset: datapackage.json, uploaded files, DataStore tables as CSV.

    Run again, it writes only the packages of datasets that changed, and finishes what a cut run left.

    \b
    Examples:
      ckan-api-client export datapackage my-data -o packages/
      ckan-api-client export datapackage --all --include-private -o packages/
    """
    from ..engines.export import export_datapackages

    if sum((all_, bool(fq), bool(ids))) != 1:
        raise click.UsageError("give dataset ids, or --all, or --fq FILTER")
    with progress_bar(settings, "export datapackage", len(ids) or None, unit="datasets") as bar:
        report = export_datapackages(settings.client(), output, ids=list(ids) or None, fq=fq,
                                     include_private=include_private, concurrency=settings.jobs, progress=bar)
    return finish(report, settings)
