"""What every command shares: the global options, the settings they become, the one way a report is
rendered, progress bars, and the entry point that maps errors to exit codes."""

from __future__ import annotations

import configparser
import contextlib
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator

import click

from .._version import __version__
from ..blocking.client import CkanLowlevelClient
from ..core.options import ClientOptions, RetryPolicy
from ..core.site import site_root
from ..core.streams import require_readable
from ..engines.planning import DeleteLimit
from ..engines.report import Failure, Interrupted, Progress, Report
from ..exceptions import CkanError, DestinationExists, InvalidInput

EXIT_OK, EXIT_ERROR, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 3, 130
CONFIG_HELP = "~/.config/ckan-api-client/config.ini"
SHOWN_FAILURES = 10


def default_config() -> Path:
    """The profiles file: ``$XDG_CONFIG_HOME/ckan-api-client/config.ini`` (``~/.config`` by default)."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "ckan-api-client" / "config.ini"


@dataclass
class Settings:
    """The global options of one command line: the site, the token and the connection options."""

    url: str | None
    token: str | None
    options: ClientOptions
    """The connection options of the global flags, for every client the command makes."""
    jobs: int
    quiet: bool
    config: Path = field(default_factory=default_config)
    _client: CkanLowlevelClient | None = None

    def client(self, *, check_token: bool = True) -> CkanLowlevelClient:
        """The client of ``--url``/``--token``. ``check_token=False`` for a command whose engine checks the
        token itself, alongside its first reads (dump, sync, mirror)."""
        if self._client is None:
            if not self.url:
                raise click.UsageError("no CKAN URL: give --url, set CKAN_URL, or use a --profile")
            self._client = self.connect(self.url, self.token, check_token=False)
        if check_token:
            self._client.check_token()  # once per client
        return self._client

    def connect(self, url: str, token: str | None, url_flag: str = "--url", token_flag: str = "--token", *,
                check_token: bool = True) -> CkanLowlevelClient:
        """A client with the global options, its token checked unless told (one the site does not know would
        act as anonymous). A malformed URL or token is one line naming the flag it came from."""
        try:
            site_root(url)
        except InvalidInput as error:
            raise click.UsageError(f"{url_flag}: {error}") from None
        try:
            options = self.options.replace(api_key=token or None)
        except InvalidInput as error:
            raise click.UsageError(f"{token_flag}: {error}") from None
        client = CkanLowlevelClient(url, options=options)
        if check_token:
            client.check_token()
        return client

    def site(self, ref: str, token: str | None, flag: str, *, check_token: bool = True) -> CkanLowlevelClient:
        """A client for a site given as a URL or as the name of a profile (whose token a given one overrides)."""
        if "://" in ref:
            return self.connect(ref, token, flag, f"{flag}-token", check_token=check_token)
        values = read_profile(self.config, ref)
        if not values.get("url"):
            raise click.UsageError(f"profile {ref} has no url in {self.config}")
        return self.connect(values["url"], token or values.get("token"), f"{flag} {ref} (its url)", f"{flag}-token",
                            check_token=check_token)


def read_profile(config: Path, name: str) -> dict[str, str]:
    parser = configparser.ConfigParser()
    try:
        if not parser.read(config, encoding="utf-8"):
            raise click.UsageError(f"--profile {name}: no config file at {config}")
    except (configparser.Error, UnicodeDecodeError) as error:
        said = " ".join(str(error).split())
        raise click.UsageError(f"--profile {name}: {config} is not a config file of [profile] sections: {said}") \
            from None
    if not parser.has_section(name):
        raise click.UsageError(f"--profile {name}: no [{name}] section in {config}")
    return dict(parser.items(name))


def emit(value: Any, err: bool = False) -> None:
    """One JSON value as a line: on stdout (data, summaries), or on stderr."""
    click.echo(json.dumps(value, ensure_ascii=False), err=err)


class Bar(Progress):
    """A progress bar on stderr: the rate and the time left when the total is known, a count and the
    rate when it is not."""

    wants_total = True

    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def total(self, n: int) -> None:
        self.bar.total = n
        self.bar.refresh()

    def advance(self, n: int = 1) -> None:
        self.bar.update(n)


@contextlib.contextmanager
def progress_bar(settings: Settings, label: str, total: int | None = None, unit: str = "records"
                 ) -> Iterator[Bar | None]:
    """A bar on stderr when it is a terminal (and not -q); None otherwise, so logs stay clean."""
    if settings.quiet or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    in_bytes = unit == "B"
    with tqdm(total=total, desc=label, unit=unit if in_bytes else f" {unit}", file=sys.stderr, dynamic_ncols=True,
              unit_scale=in_bytes, unit_divisor=1024 if in_bytes else 1000) as bar:
        yield Bar(bar)


ERROR_LOG = click.option("--error-log", type=click.Path(path_type=Path),
                         help="Write each failure and conflict here (JSON Lines).")


@contextlib.contextmanager
def logged_report(path: Path | None) -> Iterator[Report]:
    """A report whose failures are written to ``path`` as JSON Lines as they come (``--error-log``)."""
    if path is None:
        yield Report("")
        return
    with open(path, "w", encoding="utf-8") as log:
        def write(failure: Failure) -> None:
            log.write(json.dumps(failure.as_dict(), ensure_ascii=False) + "\n")
            log.flush()
        yield Report("", sink=write)


def finish(report: Report, settings: Settings, data_on_stdout: bool = False) -> int:
    """Every engine's report, the same way: the JSON summary (on stderr when the data itself went to
    stdout), then each failure named on stderr (even with -q: quiet silences progress, not errors)."""
    emit(report.summary(), err=data_on_stdout)
    withheld = report["withheld"]
    if withheld:
        click.echo(f"{withheld} deletes withheld: some source records could not be read", err=True)
    for failure in report.failures[:SHOWN_FAILURES]:
        hint = " (--overwrite-files replaces it)" if failure.error_type == DestinationExists.__name__ else ""
        click.echo(f"{failure}{hint}", err=True)
    if len(report.failures) > SHOWN_FAILURES:
        click.echo(f"... and {len(report.failures) - SHOWN_FAILURES} more (--error-log FILE keeps them all)",
                   err=True)
    if report.refused and report.dry_run:
        click.echo(f"error: a real run would write nothing: {report.refused}", err=True)
        return EXIT_ERROR
    return EXIT_OK if report.ok else EXIT_PARTIAL


class DeleteLimitType(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """``--max-delete``: a count or a percentage, checked when parsed."""

    name = "count|percent"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> DeleteLimit:
        try:
            return DeleteLimit.parse(value)
        except InvalidInput as error:
            self.fail(str(error), param, ctx)


class InputFile(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """A file to read (``-``: stdin), refused as the command line is read when it is not there, is a folder
    or may not be read: before any request, and before a command writes the first byte of its output."""

    name = "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        try:
            require_readable(value)
        except InvalidInput as error:
            self.fail(str(error), param, ctx)
        return Path(value)


OUTPUT = click.Path(path_type=Path, allow_dash=True, dir_okay=False)
INPUT = InputFile()
KIND = click.Choice(["datasets", "organizations", "groups"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ckan-api-client")
@click.option("--url", "-r", "--remote", "url", envvar="CKAN_URL", help="CKAN site URL (or CKAN_URL).")
@click.option("--token", "-a", "--apikey", "token", envvar="CKAN_API_TOKEN",
              help="API token (or CKAN_API_TOKEN). Never printed.")
@click.option("--profile", help="Use url and token from this section of the config file.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), envvar="CKAN_API_CLIENT_CONFIG",
              show_default=CONFIG_HELP, help="Config file with [profile] sections.")
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates.")
@click.option("--ca-bundle", type=click.Path(exists=True), help="Verify TLS with this CA bundle.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=120.0, show_default=True,
              help="Read timeout per request (s).")
@click.option("--retries", type=click.IntRange(0), default=4, show_default=True, help="Retries of a failed request.")
@click.option("--max-rps", type=click.FloatRange(0, min_open=True),
              help="At most this many requests per second, over all workers.")
@click.option("-j", "--jobs", "-p", "--processes", "jobs", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Concurrent requests (ckanapi's -p/--processes too).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no messages (failures are still named).")
@click.pass_context
def main(ctx: click.Context, url: str | None, token: str | None, profile: str | None, config_path: Path | None,
         insecure: bool, ca_bundle: str | None, timeout: float, retries: int, max_rps: float | None, jobs: int,
         quiet: bool) -> None:
    """Script a CKAN portal: call any action, search, dump, load, delete, sync, mirror, files, DataStore."""
    config = config_path or default_config()
    if profile:
        values = read_profile(config, profile)
        source = click.core.ParameterSource.COMMANDLINE
        url = url if ctx.get_parameter_source("url") == source else values.get("url", url)
        token = token if ctx.get_parameter_source("token") == source else values.get("token", token)
    verify: bool | str = False if insecure else (ca_bundle or True)
    logging.basicConfig(level=logging.ERROR if quiet else logging.WARNING, format="%(message)s", stream=sys.stderr)
    try:
        options = ClientOptions.build(timeout=(min(10.0, timeout), timeout), verify=verify, max_rps=max_rps,
                                      retry=RetryPolicy(max_attempts=max(1, retries + 1)), concurrency=jobs)
    except InvalidInput as error:
        raise click.UsageError(str(error)) from None
    ctx.obj = Settings(url, token, options, jobs, quiet, config)


# ---------------------------------------------------------------- the entry point


def _options_of(command: click.Command) -> dict[str, bool]:
    """A command's option names, each with whether it takes a value."""
    found: dict[str, bool] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                found[name] = not param.is_flag and not param.count
    return found


def hoist_global_options(argv: list[str], group: click.Group) -> list[str]:
    """Move the group's options that come after the subcommand in front of it, values and all.

    ``dump datasets --all -o f.jsonl --url URL -r URL -a KEY`` is how people type it (ckanapi takes
    its connection options after the command); click reads a group's options only before the
    subcommand. An option of the subcommand itself with the same name (``export dcat --profile``)
    stays where it is. Nothing after ``--`` is touched.
    """
    takes_value = _options_of(group)
    front: list[str] = []
    rest: list[str] = []
    command: click.Command | None = None
    own: dict[str, bool] = {}
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            rest.extend(argv[index:])
            break
        name = arg.split("=", 1)[0] if arg.startswith("--") else arg
        if command is not None and name in own:
            width = 2 if own[name] and "=" not in arg else 1
            rest.extend(argv[index:index + width])
            index += width
            continue
        if name in takes_value:
            width = 2 if takes_value[name] and "=" not in arg else 1
            if index + width > len(argv):  # its value is missing (ckanapi's `action NAME -j`): click says so
                rest.append(arg)
                break
            (front if command is not None else rest).extend(argv[index:index + width])
            index += width
            continue
        if not arg.startswith("-"):
            parent = command if isinstance(command, click.Group) else group if command is None else None
            if parent is not None and arg in parent.commands:
                command = parent.commands[arg]
                own = _options_of(command)
            elif command is None:
                command = group  # an unknown command: click names it; hoist what follows anyway
        rest.append(arg)
        index += 1
    return front + rest


CKANAPI_HINTS = {
    "-c": "ckanapi's -c (a local CKAN's config) has no match here: this client talks to a running site, "
          "give --url",
    "-u": "ckanapi's -u/--ckan-user acts as a user of a local CKAN: give that user's API token with --token",
    "--ckan-user": "ckanapi's --ckan-user acts as a user of a local CKAN: give that user's API token with --token",
    "-z": "compression comes from the file name here: -o FILE.jsonl.gz writes gzip",
    "--gzip": "compression comes from the file name here: -o FILE.jsonl.gz writes gzip",
    "-l": "the log of failed records is --error-log FILE here",
    "--log": "the log of failed records is --error-log FILE here",
    "--datapackages": "Data Packages are written by 'ckan-api-client export datapackage'",
    "-s": "ckanapi's -s/--start-record: --resume skips the lines a run finished (or start the file later: "
          "tail -n +START FILE | ... -i -)",
    "--start-record": "--resume skips the lines a run finished (or start the file later: "
                      "tail -n +START FILE | ... -i -)",
    "-m": "ckanapi's -m/--max-records: give fewer lines (head -n MAX FILE | ... -i -)",
    "--max-records": "give fewer lines (head -n MAX FILE | ... -i -)",
    "--include-deleted": "deleted datasets leave CKAN's search index (unless ckan.search.remove_deleted_packages "
                         "is false): dump them by id, 'dump datasets ID...'",
    "-j": "-j N is how many requests run at once (a number); ckanapi's 'action -j' (plain JSON) is --compact here",
    "-g": "send with GET: --get (on 'action')",
    "--get-request": "send with GET: --get (on 'action')",
}


def usage_hint(error: click.UsageError) -> str:
    """A hint for an option someone coming from ckanapi would type."""
    if not isinstance(error, click.NoSuchOption):
        return ""
    hint = CKANAPI_HINTS.get(error.option_name)
    return f"; {hint}" if hint else ""


def run(argv: list[str] | None = None) -> int:
    """Entry point: run the command, map errors to exit codes (1 usage/token/connection, 3 partial, 130 interrupted)."""
    from . import main as command  # the group with every command registered

    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv), command)
    try:
        result = command.main(args=args, prog_name="ckan-api-client", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except Interrupted as stopped:
        done_count = sum(stopped.report[k] for k in ("written", "created", "updated"))
        kept = f"; what was written is in {stopped.where}: run the same command with --resume to finish" \
            if stopped.where else ""
        click.echo(f"interrupted after {done_count} records{kept}", err=True)
        return EXIT_INTERRUPTED
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.UsageError as error:  # one line, with where to look
        where = error.ctx.command_path if error.ctx is not None else "ckan-api-client"
        click.echo(f"error: {error.format_message()}{usage_hint(error)} (see '{where} --help')", err=True)
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
    except OSError as error:  # this machine's, not the portal's: a disk full or gone (click handles a closed pipe)
        where = f"{error.filename}: " if error.filename is not None else ""
        resume = "; run the same command with --resume to continue from it" \
            if str(error.filename or "").endswith(".part") and os.path.exists(error.filename) else ""
        click.echo(f"error: {where}{error.strerror or error}{resume}", err=True)
        return EXIT_ERROR
    return int(result or 0)
