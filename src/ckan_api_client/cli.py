"""The ``ckan-api-client`` command: action, search, dump, load, delete, sync, resource, datastore.

The commands only parse arguments and print: the work is done by the bulk engine
(:mod:`ckan_api_client.bulk`) and the sync client (:mod:`ckan_api_client.syncing`) over one
shared low-level client, so ``--timeout``, retries, ``--insecure`` and ``--max-rps`` reach every
worker. Machine-readable output goes to stdout, progress and messages to stderr (a progress bar
only when stderr is a terminal, and never with ``-q``).

Every ``-o``/``-i`` takes ``-`` for stdout/stdin; output files are written as ``NAME.part`` and
renamed when complete. Exit codes: 0 all done, 1 usage, token or connection error, 3 some records
failed, 130 interrupted.
"""

from __future__ import annotations

import configparser
import contextlib
import csv
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import click

from . import bulk
from ._version import __version__
from .core import ClientOptions, RetryPolicy, site_root
from .exceptions import CkanError, DestinationExists, InvalidInput
from .low_level import CkanLowlevelClient
from .streams import TextOutput, is_regular_target, read_jsonl

# The sync, file and DataStore modules are imported by the commands that use them: a command
# starts faster without the ones it does not need.

EXIT_OK, EXIT_ERROR, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 3, 130
DEFAULT_CONFIG = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "ckan-api-client" / "config.ini"


@dataclass
class Settings:
    url: str | None
    token: str | None
    options: ClientOptions
    """The connection options of the global flags, for every client the command makes."""
    jobs: int
    quiet: bool
    config: Path = DEFAULT_CONFIG
    _client: CkanLowlevelClient | None = None

    def client(self) -> CkanLowlevelClient:
        if self._client is None:
            if not self.url:
                raise click.UsageError("no CKAN URL: give --url, set CKAN_URL, or use a --profile")
            self._client = self.connect(self.url, self.token)
        return self._client

    def connect(self, url: str, token: str | None, url_flag: str = "--url",
                token_flag: str = "--token") -> CkanLowlevelClient:
        """A client with the global options, its token checked (one the site does not know would act as anonymous).
        A malformed URL or token is one line naming the flag it came from."""
        try:
            site_root(url)
        except InvalidInput as error:
            raise click.UsageError(f"{url_flag}: {error}") from None
        try:
            options = self.options.replace(api_key=token or None)
        except InvalidInput as error:
            raise click.UsageError(f"{token_flag}: {error}") from None
        client = CkanLowlevelClient(url, options=options)
        client.check_token()
        return client

    def site(self, ref: str, token: str | None, flag: str) -> CkanLowlevelClient:
        """A client for a site given as a URL or as the name of a profile (whose token a given one overrides)."""
        if "://" in ref:
            return self.connect(ref, token, flag, f"{flag}-token")
        values = _profile(self.config, ref)
        if not values.get("url"):
            raise click.UsageError(f"profile {ref} has no url in {self.config}")
        return self.connect(values["url"], token or values.get("token"), f"{flag} {ref} (its url)",
                            f"{flag}-token")


def _profile(config: Path, name: str) -> dict[str, str]:
    parser = configparser.ConfigParser()
    if not parser.read(config, encoding="utf-8"):
        raise click.UsageError(f"--profile {name}: no config file at {config}")
    if not parser.has_section(name):
        raise click.UsageError(f"--profile {name}: no [{name}] section in {config}")
    return dict(parser.items(name))


def _emit(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False))


@contextlib.contextmanager
def _progress(settings: Settings, label: str, total: int | None = None,
              unit: str = "records") -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal (and not -q), else nothing: with the rate and
    the time left when the total is known, a count and the rate when it is not."""
    if settings.quiet or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    in_bytes = unit == "B"
    with tqdm(total=total, desc=label, unit=unit, file=sys.stderr, dynamic_ncols=True, unit_scale=in_bytes,
              unit_divisor=1024 if in_bytes else 1000) as bar:
        def advance(n: int) -> None:
            bar.update(n)

        yield advance


def _report(report: bulk.BulkReport, settings: Settings, data_on_stdout: bool = False) -> int:
    """Print the summary (on stderr when the data itself went to stdout) and the first failures."""
    if data_on_stdout:
        click.echo(json.dumps(report.summary(), ensure_ascii=False), err=True)
    else:
        _emit(report.summary())
    if report.errors and not settings.quiet:
        for error in report.errors[:10]:
            where = f"line {error.line}: " if error.line else ""
            hint = " (--overwrite-files replaces it)" if error.error_type == DestinationExists.__name__ else ""
            click.echo(f"failed: {where}{error.ref or ''} {error.error}{hint}", err=True)
        if len(report.errors) > 10:
            click.echo(f"... and {len(report.errors) - 10} more failures", err=True)
    return EXIT_PARTIAL if report.errors else EXIT_OK


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ckan-api-client")
@click.option("--url", "-r", "--remote", "url", envvar="CKAN_URL", help="CKAN site URL (or CKAN_URL).")
@click.option("--token", "-a", "--apikey", "token", envvar="CKAN_API_TOKEN",
              help="API token (or CKAN_API_TOKEN). Never printed.")
@click.option("--profile", help="Use url and token from this section of the config file.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=DEFAULT_CONFIG,
              envvar="CKAN_API_CLIENT_CONFIG", show_default=True, help="Config file with [profile] sections.")
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates.")
@click.option("--ca-bundle", type=click.Path(exists=True), help="Verify TLS with this CA bundle.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Read timeout per request (s).")
@click.option("--retries", type=int, default=4, show_default=True, help="Retries of a failed request.")
@click.option("--max-rps", type=float, help="At most this many requests per second, over all workers.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=4, show_default=True, help="Concurrent requests.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no messages.")
@click.pass_context
def main(ctx: click.Context, url: str | None, token: str | None, profile: str | None, config_path: Path,
         insecure: bool, ca_bundle: str | None, timeout: float, retries: int, max_rps: float | None, jobs: int,
         quiet: bool) -> None:
    """Script a CKAN portal: call any action, search, dump, load, delete, sync."""
    if profile:
        values = _profile(config_path, profile)
        url = url if ctx.get_parameter_source("url") == click.core.ParameterSource.COMMANDLINE else \
            values.get("url", url)
        token = token if ctx.get_parameter_source("token") == click.core.ParameterSource.COMMANDLINE else \
            values.get("token", token)
    verify: bool | str = False if insecure else (ca_bundle or True)
    logging.basicConfig(level=logging.ERROR if quiet else logging.WARNING, format="%(message)s", stream=sys.stderr)
    try:
        options = ClientOptions.build(timeout=(min(10.0, timeout), timeout), verify=verify, max_rps=max_rps,
                                      retry=RetryPolicy(max_attempts=max(1, retries + 1)), concurrency=jobs)
    except InvalidInput as error:
        raise click.UsageError(str(error)) from None
    ctx.obj = Settings(url, token, options, jobs, quiet, config_path)


def _parse_action_args(args: tuple[str, ...]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for arg in args:
        if ":=" in arg:
            key, _, raw = arg.partition(":=")
            try:
                data[key] = json.loads(raw)
            except ValueError as error:
                raise click.UsageError(f"{arg}: the value after := must be JSON ({error})") from None
        elif "@" in arg and "=" not in arg.split("@", 1)[0]:
            key, _, filename = arg.partition("@")
            data[key] = ("@file", filename)
        elif "=" in arg:
            key, _, value = arg.partition("=")
            data[key] = value
        else:
            raise click.UsageError(f"{arg}: give key=value, key:=json or key@file")
    return data


@main.command()
@click.argument("name")
@click.argument("args", nargs=-1)
@click.option("--get", "use_get", is_flag=True, help="Send with GET (for side-effect-free actions).")
@click.pass_obj
def action(settings: Settings, name: str, args: tuple[str, ...], use_get: bool) -> int:
    """Call any action: key=value (string), key:=json (any JSON), key@file (upload a file).

    \b
    Examples:
      ckan-api-client action status_show
      ckan-api-client action package_show id=my-data
      ckan-api-client action package_patch id=my-data 'tags:=[{"name": "air"}]'
      ckan-api-client action resource_create package_id=my-data upload@data.csv
    """
    data = _parse_action_args(args)
    files = {k: v[1] for k, v in data.items() if isinstance(v, tuple)}
    for key in files:
        del data[key]
    result = settings.client().call_action(name, data, method="GET" if use_get else "POST", files=files or None)
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


@main.command()
@click.option("--q", "query", default="*:*", show_default=True, help="Solr query.")
@click.option("--fq", help="Solr filter query.")
@click.option("--include-private", is_flag=True)
@click.option("--include-drafts", is_flag=True)
@click.option("--limit", type=int, help="Stop after this many datasets.")
@click.pass_obj
def search(settings: Settings, query: str, fq: str | None, include_private: bool, include_drafts: bool,
           limit: int | None) -> int:
    """All matching datasets as JSON Lines, paged in a stable order.

    \b
    Examples:
      ckan-api-client search --fq organization:my-org > found.jsonl
      ckan-api-client search --q 'title:air' --limit 10
    """
    for dataset in bulk.search(settings.client(), q=query, fq=fq, include_private=include_private,
                               include_drafts=include_drafts, limit=limit):
        _emit(dataset)
    return EXIT_OK


KIND = click.Choice(["datasets", "organizations", "groups"])


OUTPUT = click.Path(path_type=Path, allow_dash=True, dir_okay=False)
INPUT = click.Path(path_type=Path, allow_dash=True, dir_okay=False)


@main.command()
@click.argument("kind", type=KIND)
@click.argument("ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every record of this kind.")
@click.option("-o", "--output", type=OUTPUT, required=True, help="JSON Lines file (.gz: gzip; -: stdout).")
@click.option("--fq", help="With --all datasets: only those matching this Solr filter, e.g. organization:my-org.")
@click.option("--include-private", is_flag=True, help="With --all datasets: private ones too.")
@click.option("--resume", is_flag=True, help="Continue a dump that was cut off (from OUTPUT.part).")
@click.option("--with-files", "files_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Download resource files into this folder (load --with-files restores them).")
@click.option("--overwrite-files", is_flag=True, help="Replace files that exist and differ.")
@click.pass_obj
def dump(settings: Settings, kind: str, ids: tuple[str, ...], all_: bool, output: Path, fq: str | None,
         include_private: bool, resume: bool, files_dir: Path | None, overwrite_files: bool) -> int:
    """Write records to a JSON Lines file, through the paged search (not one request per dataset).

    The file appears under its name only when complete; a dump cut short leaves OUTPUT.part,
    which --resume continues.

    \b
    Examples:
      ckan-api-client dump datasets --all -o site.jsonl.gz --include-private
      ckan-api-client dump datasets --all --fq organization:my-org -o - | gzip > part.jsonl.gz
      ckan-api-client dump datasets --all --with-files files/ -o site.jsonl
      ckan-api-client dump organizations --all -o orgs.jsonl -r https://demo.ckan.org
    """
    if all_ == bool(ids):
        raise click.UsageError("give either --all or some ids")
    if fq and not (all_ and kind == "datasets"):
        raise click.UsageError("--fq narrows `dump datasets --all` only")
    client = settings.client()
    total = None
    if all_ and kind == "datasets" and not settings.quiet and sys.stderr.isatty():  # only for the bar
        query = {"rows": 0, "include_private": include_private, **({"fq": fq} if fq else {})}
        total = client.call_action("package_search", query)["count"]
    with _progress(settings, f"dump {kind}", total or (len(ids) or None)) as progress:
        report = bulk.dump(client, kind, output, ids=list(ids) if ids else None, include_private=include_private,
                           fq=fq, resume=resume, concurrency=settings.jobs, files_dir=files_dir,
                           overwrite_files=overwrite_files, progress=progress)
    return _report(report, settings, data_on_stdout=not is_regular_target(output))


@main.command()
@click.argument("kind", type=KIND)
@click.option("-i", "--input", "input_path", type=INPUT, required=True, help="JSON Lines (.gz too; -: stdin).")
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
    with _progress(settings, f"load {kind}") as progress:
        report = bulk.load(settings.client(), kind, input_path, mode=mode, concurrency=settings.jobs, resume=resume,
                           checkpoint=checkpoint, error_log=error_log, default_organization=default_organization,
                           files_dir=files_dir, progress=progress)
    return _report(report, settings)


def _refs_from(input_path: Path) -> Iterator[str]:
    """Ids or names, one per line, or JSON Lines records with an id or name; a bad line is a usage error."""
    from .streams import open_input

    with open_input(input_path) as fh:
        for number, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line.startswith("{"):
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
@click.option("-i", "--input", "input_path", type=INPUT,
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
        refs.extend(_refs_from(input_path))
    if not refs:
        raise click.UsageError("give ids or -i FILE")
    with _progress(settings, f"delete {kind}", len(refs)) as progress:
        report = bulk.delete(settings.client(), kind, refs, purge=purge, concurrency=settings.jobs, progress=progress)
    return _report(report, settings)


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
@click.option("--max-delete", default="50%", show_default=True,
              help="Refuse a run that would delete more than this (a count, or a % of what the source owns).")
@click.option("--allow-empty-source", is_flag=True, help="Let an empty source delete everything it owns.")
@click.option("--state", "state_path", type=click.Path(path_type=Path, dir_okay=False),
              help="The sync state file (default: one per portal and source under ~/.local/state).")
@click.option("--no-state", is_flag=True, help="Keep no state: read the owned datasets in full (slower, as correct).")
@click.option("--clean", "cleaners", multiple=True, type=click.Choice(["names", "tags", "emails", "oversized"]),
              help="Fix what CKAN refuses: names, tag names, placeholder emails, oversized extras (repeatable).")
@click.pass_obj
def sync(settings: Settings, source: Path, source_name: str, source_id_field: str, dry_run: bool,
         default_organization: str | None, organization_strategy: str, group_strategy: str, max_delete: str,
         allow_empty_source: bool, state_path: Path | None, no_state: bool, cleaners: tuple[str, ...]) -> int:
    """Make the portal hold exactly the datasets of SOURCE (JSON Lines, -: stdin); see the sync client.

    A source with records that cannot be read deletes nothing; a run that would delete more than
    --max-delete of what the source owns stops before writing. With its state file, a run reads
    only compact search pages, and in full only the datasets whose record changed.

    \b
    Examples:
      ckan-api-client sync source.jsonl --source-name my-harvest --dry-run
      ckan-api-client sync source.jsonl --source-name my-harvest --clean tags --clean emails
      ckan-api-client sync - --source-name feed --source-id ref < records.jsonl
    """
    from .planning import DeleteLimit
    from .syncing import SynchronizationClient, SyncReport

    if no_state and state_path is not None:
        raise click.UsageError("--state and --no-state exclude each other")
    client = SynchronizationClient(settings.client(), source_name, default_organization=default_organization,
                                   organization_strategy=organization_strategy,  # type: ignore[arg-type]
                                   group_strategy=group_strategy,  # type: ignore[arg-type]
                                   concurrency=settings.jobs, source_id=source_id_field,
                                   max_delete=DeleteLimit.parse(max_delete), allow_empty_source=allow_empty_source,
                                   state=False if no_state else (state_path or True), cleaners=cleaners)
    records = (value for _, value in read_jsonl(source))
    report = SyncReport(dry_run=dry_run)
    with _progress(settings, "sync", unit="records") as progress:
        if dry_run:
            for write in client.plan(records, report):
                if write.operation != "unchanged":
                    _emit(write.as_dict())
                if progress is not None:
                    progress(1)
        else:
            report = client.sync(records, progress=(lambda write, status: progress(1)) if progress else None)
    out = report.summary()
    if report.refused:
        out["refused"] = report.refused
    if report.counts.get("withheld"):
        click.echo(f"{report.counts['withheld']} deletes withheld: some source records could not be read", err=True)
    out["conflicts"] = [vars(c) for c in report.conflicts]
    out["failures"] = [vars(f) for f in report.failures + report.invalid]
    out["restored"] = report.restored
    _emit({"operation": "summary", **out})
    if dry_run and report.refused:
        click.echo(f"error: a real run would write nothing: {report.refused}", err=True)
        return EXIT_ERROR
    return EXIT_PARTIAL if not report.ok else EXIT_OK


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
@click.option("--state", "state_path", type=click.Path(path_type=Path, dir_okay=False),
              help="The mirror's state file (default: one per destination and mirror under ~/.local/state).")
@click.option("--max-delete", default="50%", show_default=True,
              help="Refuse a run that would delete more than this (a count, or a % of what the mirror owns).")
@click.option("--error-log", type=click.Path(path_type=Path), help="Write each failure here (JSON Lines).")
@click.pass_obj
def mirror(settings: Settings, source: str, from_token: str | None, destination: str | None,
           to_token: str | None, include_private: bool, fq: str | None, organization: str | None,
           datastore: bool, files: bool, dry_run: bool, name: str | None, state_path: Path | None,
           max_delete: str, error_log: Path | None) -> int:
    """Copy a whole portal into another, files and DataStore tables included, and keep it in step.

    The first run copies everything; later runs only what changed on the source since the last
    successful one, and delete what the source deleted. Datasets on the destination that this
    mirror did not create are never touched. Members and users are not copied.

    \b
    Example:
      ckan-api-client mirror --from https://old.example.org --to https://new.example.org \\
          --to-token $NEW_TOKEN --include-private --from-token $OLD_TOKEN
    """
    from .mirror import Mirror

    target = settings.site(destination, to_token or settings.token, "--to") if destination else settings.client()
    job = Mirror(settings.site(source, from_token, "--from"), target, name=name, include_private=include_private, fq=fq,
                 organization=organization, datastore=datastore, files=files, concurrency=settings.jobs,
                 state=state_path or True, max_delete=max_delete)
    with _progress(settings, "mirror", unit="datasets") as progress:
        def advance(write: Any, status: str) -> None:
            if dry_run and write.operation != "unchanged":
                _emit(write.as_dict())
            if progress is not None:
                progress(1)

        report = job.run(dry_run=dry_run, progress=advance)
    if error_log is not None:
        with open(error_log, "w", encoding="utf-8") as log:
            for failure in report.sync.failures + report.sync.conflicts + report.sync.invalid:
                log.write(json.dumps(vars(failure), ensure_ascii=False) + "\n")
            for what, why in report.failures:
                log.write(json.dumps({"operation": "copy", "name": what, "reason": why}, ensure_ascii=False) + "\n")
    _emit({"operation": "mirror", **report.summary()})
    if not settings.quiet:
        for failure in (report.sync.failures + report.sync.conflicts)[:10]:
            click.echo(f"failed: {failure.name} {failure.reason}", err=True)
        for what, why in report.failures[:10]:
            click.echo(f"failed: {what}: {why}", err=True)
    return EXIT_OK if report.ok else EXIT_PARTIAL


@main.group()
def resource() -> None:
    """Upload or download resource files (streamed, checked)."""


@resource.command("upload")
@click.argument("dataset")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("fields", nargs=-1)
@click.option("--replace", "resource_id", help="Replace the file of this resource instead of adding one.")
@click.pass_obj
def resource_upload(settings: Settings, dataset: str, file: Path, fields: tuple[str, ...],
                    resource_id: str | None) -> int:
    """Add FILE as a new resource of DATASET (fields as key=value / key:=json), or --replace one.

    \b
    Examples:
      ckan-api-client resource upload my-data big.csv format=CSV
      ckan-api-client resource upload my-data v2.csv --replace RESOURCE_ID
    """
    from .files import replace_resource_file, upload_resource

    size = file.stat().st_size
    with _progress(settings, f"upload {file.name}", size) as progress:
        done = [0]

        def advance(sent: int) -> None:
            if progress is not None:
                progress(max(0, min(sent, size) - done[0]))
                done[0] = min(sent, size)

        if resource_id:
            result = replace_resource_file(settings.client(), resource_id, file, progress=advance)
        else:
            extra = _parse_action_args(fields)
            extra.setdefault("name", file.name)
            result = upload_resource(settings.client(), dataset, file, progress=advance, **extra)
    _emit(result)
    return EXIT_OK


@resource.command("download")
@click.argument("resource_id")
@click.option("-o", "--output", type=OUTPUT, help="File to write (default: the file's name; -: stdout).")
@click.option("--overwrite", is_flag=True, help="Replace an existing file that differs.")
@click.pass_obj
def resource_download(settings: Settings, resource_id: str, output: Path | None, overwrite: bool) -> int:
    """Download a resource's file: streamed, checked, written atomically, resumed if cut off.

    \b
    Examples:
      ckan-api-client resource download RESOURCE_ID -o data.csv
      ckan-api-client resource download RESOURCE_ID -o - | head
    """
    from .files import download_resource, safe_filename

    client = settings.client()
    data = client.call_action("resource_show", {"id": resource_id})
    if not isinstance(data, dict):
        raise click.ClickException(f"resource_show gave no resource for {resource_id}")
    dest = output or Path(safe_filename(str(data.get("url") or "").rsplit("/", 1)[-1], fallback=resource_id))
    size = data.get("size") if isinstance(data.get("size"), int) else None
    with _progress(settings, f"download {dest.name}", size, unit="B") as progress:
        done = [0]

        def advance(received: int) -> None:
            if progress is not None:
                progress(received - done[0])
                done[0] = received

        result = download_resource(client, data, dest, overwrite=overwrite, progress=advance)
    summary = {"path": str(result.path), "size": result.size, "sha256": result.sha256, "skipped": result.skipped}
    if not is_regular_target(dest):
        click.echo(json.dumps(summary), err=True)
    else:
        _emit(summary)
    return EXIT_OK


@main.group()
def datastore() -> None:
    """Dump or load DataStore tables (CSV or JSON Lines)."""


@datastore.command("dump")
@click.argument("resource_id")
@click.option("-o", "--output", type=OUTPUT, required=True, help=".csv, or .jsonl (.gz: gzip; -: JSON Lines to stdout)")
@click.option("--filters", "filters_json", help="JSON filters, e.g. '{\"year\": 2020}'.")
@click.pass_obj
def datastore_dump(settings: Settings, resource_id: str, output: Path, filters_json: str | None) -> int:
    """Write every row of a DataStore table, paged correctly (each row once).

    \b
    Examples:
      ckan-api-client datastore dump RESOURCE_ID -o rows.csv
      ckan-api-client datastore dump RESOURCE_ID -o - --filters '{"year": 2020}'
    """
    from .datastore import DataStore

    filters = _json_option("--filters", filters_json)
    store = DataStore(settings.client(), concurrency=settings.jobs)
    columns = [f["id"] for f in store.info(resource_id) if f["id"] != "_id"]
    rows = 0
    out = TextOutput(output)
    try:
        with _progress(settings, "datastore dump", unit="rows") as progress:
            writer = csv.DictWriter(out.stream, fieldnames=columns) if _is_csv(output) else None
            if writer is not None:
                writer.writeheader()
            for row in store.iter_records(resource_id, filters=filters, include_id=False):
                if writer is not None:
                    writer.writerow({k: _csv_value(v) for k, v in row.items()})
                else:
                    out.write(row)
                rows += 1
                if progress is not None:
                    progress(1)
    except BaseException:
        out.abandon()
        raise
    out.commit()
    summary = {"operation": "datastore dump", "rows": rows, "path": str(output)}
    if not is_regular_target(output):
        click.echo(json.dumps(summary), err=True)
    else:
        _emit(summary)
    return EXIT_OK


@datastore.command("load")
@click.argument("resource_id", required=False)
@click.option("-i", "--input", "input_path", type=INPUT, required=True,
              help=".csv, or .jsonl (.gz too; -: JSON Lines from stdin)")
@click.option("--dataset", help="Create a new resource in this dataset for the table (instead of RESOURCE_ID).")
@click.option("--name", help="Name of the new resource (with --dataset).")
@click.option("--primary-key", help="Comma-separated primary key of a new table (upserts match on it).")
@click.option("--append", "action", flag_value="append", help="The table exists: add the rows to it.")
@click.option("--upsert", "action", flag_value="upsert",
              help="The table exists: update the rows with the same primary key, add the others.")
@click.option("--replace", "action", flag_value="replace", help="The table exists: drop it and load anew.")
@click.pass_obj
def datastore_load(settings: Settings, resource_id: str | None, input_path: Path, dataset: str | None,
                   name: str | None, primary_key: str | None, action: str | None) -> int:
    """Load rows from a CSV or JSON Lines file into a DataStore table, in chunks.

    A table that already exists is written only when told how: --append, --upsert or --replace.

    \b
    Examples:
      ckan-api-client datastore load --dataset my-data -i rows.csv --primary-key code
      ckan-api-client datastore load RESOURCE_ID -i more.csv --append
    """
    from .datastore import DataStore

    if bool(resource_id) == bool(dataset):
        raise click.UsageError("give either RESOURCE_ID (the table of that resource) or --dataset (a new resource)")
    store = DataStore(settings.client(), concurrency=settings.jobs)
    key = primary_key.split(",") if primary_key else None
    if resource_id and store.exists(resource_id):
        if action is None:
            raise click.UsageError(f"resource {resource_id} already has a DataStore table: pass --append to add the "
                                   "rows, --upsert to update rows by primary key, or --replace to load it anew")
        if action == "replace":
            store.delete_table(resource_id)
    elif action in ("append", "upsert"):
        raise click.UsageError(f"--{action} writes into an existing table, and resource {resource_id or '(new)'} "
                               "has none")
    rows = [0]
    with _progress(settings, "datastore load", unit="rows") as progress:
        def counted(records: Iterable[Any]) -> Iterator[Any]:
            for number, record in enumerate(records, start=1):
                if isinstance(record, Exception):
                    raise InvalidInput(f"{input_path}: {record}")
                rows[0] = number
                if progress is not None:
                    progress(1)
                yield record

        with contextlib.ExitStack() as stack:
            if _is_csv(input_path):
                from .streams import open_input

                records: Iterable[Any] = csv.DictReader(stack.enter_context(open_input(input_path)))
            else:
                records = (value for _, value in read_jsonl(input_path))
            if action in ("append", "upsert"):
                assert resource_id is not None
                store.upsert(resource_id, counted(records), method="insert" if action == "append" else "upsert")
                target = resource_id
            else:
                target = store.create(resource_id, resource={"package_id": dataset, "name": name or input_path.name}
                                      if dataset else None, records=counted(records), primary_key=key)
    _emit({"operation": f"datastore load ({action or 'create'})", "resource_id": target, "rows": rows[0]})
    return EXIT_OK


def _json_option(option: str, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError as error:
        raise click.UsageError(f"{option} must be JSON: {error}") from None


def _is_csv(path: Path) -> bool:
    return path.name.lower().removesuffix(".gz").endswith(".csv")


def _csv_value(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value


def hoist_global_options(argv: list[str], group: click.Group) -> list[str]:
    """Move the group's options that come after the subcommand in front of it, values and all.

    ``dump datasets --all -o f.jsonl --url URL -r URL -a KEY`` is how people type it (ckanapi takes
    its connection options after the command); click reads a group's options only before the
    subcommand. Nothing after ``--`` is touched.
    """
    takes_value: dict[str, bool] = {}
    for param in group.params:
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                takes_value[name] = not param.is_flag and not param.count
    front: list[str] = []
    rest: list[str] = []
    command_seen = False
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            rest.extend(argv[index:])
            break
        name = arg.split("=", 1)[0] if arg.startswith("--") else arg
        if name in takes_value:
            width = 2 if takes_value[name] and "=" not in arg else 1
            (front if command_seen else rest).extend(argv[index:index + width])
            index += width
            continue
        if not arg.startswith("-"):
            command_seen = True
        rest.append(arg)
        index += 1
    return front + rest


def run(argv: list[str] | None = None) -> int:
    """Entry point: run the command, map errors to exit codes (1 usage/token/connection, 3 partial, 130 interrupted)."""
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv), main)
    try:
        result = main.main(args=args, prog_name="ckan-api-client", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except bulk.Interrupted as stopped:
        summary = stopped.report.summary()
        kept = f"; what was written is in {stopped.where}: run the same command with --resume to finish" \
            if stopped.where else ""
        click.echo(f"interrupted after {summary.get('written', 0) + summary.get('created', 0)} records{kept}", err=True)
        return EXIT_INTERRUPTED
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.UsageError as error:  # one line, with where to look
        where = error.ctx.command_path if error.ctx is not None else "ckan-api-client"
        click.echo(f"error: {error.format_message()} (see '{where} --help')", err=True)
        return EXIT_ERROR
    except click.ClickException as error:
        error.show()
        return EXIT_ERROR
    except DestinationExists as error:
        click.echo(f"error: {error.path} exists and differs from the resource: pass --overwrite to replace it",
                   err=True)
        return EXIT_ERROR
    except CkanError as error:  # connection, HTTP, token, bad input: all one clear line
        click.echo(f"error: {error}", err=True)
        return EXIT_ERROR
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(run())
