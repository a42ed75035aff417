"""``ckan-api-client datastore``: dump or load DataStore tables (CSV or JSON Lines)."""

from __future__ import annotations

import contextlib
import csv
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

import click

from ..blocking.datastore import DataStore
from ..core.datastore import LOAD_MODES
from ..core.streams import TextOutput, is_regular_target, open_input, read_jsonl
from ..engines.report import Failure, Measure, Report
from ..exceptions import InvalidInput
from .app import ERROR_LOG, INPUT, OUTPUT, Settings, finish, logged_report, main, progress_bar


@main.group()
def datastore() -> None:
    """Dump or load DataStore tables (CSV or JSON Lines)."""


def is_csv(path: Path) -> bool:
    return path.name.lower().removesuffix(".gz").endswith(".csv")


def csv_value(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value


@datastore.command("dump")
@click.argument("resource_id")
@click.option("-o", "--output", type=OUTPUT, default="-", show_default=True,
              help=".csv, or .jsonl (.gz: gzip; -: JSON Lines to stdout)")
@click.option("--filters", "filters_json", help="JSON filters, e.g. '{\"year\": 2020}'.")
@click.pass_obj
def datastore_dump(settings: Settings, resource_id: str, output: Path, filters_json: str | None) -> int:
    """Write every row of a DataStore table, paged correctly (each row once).

    \b
    Examples:
      ckan-api-client datastore dump RESOURCE_ID -o rows.csv
      ckan-api-client datastore dump RESOURCE_ID --filters '{"year": 2020}'
    """
    filters = json_option("--filters", filters_json)
    store = DataStore(settings.client(), concurrency=settings.jobs)
    report = Report("datastore dump")
    report.details.update(resource_id=resource_id, path=str(output))
    out = TextOutput(output)
    try:
        with Measure(report, store.client.transport), progress_bar(settings, "datastore dump", unit="rows") as bar:
            columns = [f["id"] for f in store.info(resource_id) if f["id"] != "_id"]
            writer = csv.DictWriter(out.stream, fieldnames=columns) if is_csv(output) else None
            if writer is not None:
                writer.writeheader()
            for row in store.iter_records(resource_id, filters=filters, include_id=False):
                if writer is not None:
                    writer.writerow({k: csv_value(v) for k, v in row.items()})
                else:
                    out.write(row)
                report.count("written")
                if bar is not None:
                    bar.advance(1)
    except BaseException:
        out.abandon()
        raise
    out.commit()
    return finish(report, settings, data_on_stdout=not is_regular_target(output))


@datastore.command("load")
@click.argument("resource_id", required=False)
@click.option("-i", "--input", "-I", "input_path", type=INPUT, required=True,
              help=".csv, or .jsonl (.gz too; -: JSON Lines from stdin)")
@click.option("--dataset", help="Create a new resource in this dataset for the table (instead of RESOURCE_ID).")
@click.option("--name", help="Name of the new resource (with --dataset).")
@click.option("--primary-key", help="Comma-separated primary key of a new table (upserts match on it).")
@click.option("--append", "mode", flag_value="append", help="The table exists: add the rows to it.")
@click.option("--upsert", "mode", flag_value="upsert",
              help="The table exists: update the rows with the same primary key, add the others.")
@click.option("--replace", "mode", flag_value="replace", help="The table exists: drop it and load anew.")
@ERROR_LOG
@click.pass_obj
def datastore_load(settings: Settings, resource_id: str | None, input_path: Path, dataset: str | None,
                   name: str | None, primary_key: str | None, mode: str | None, error_log: Path | None) -> int:
    """Load rows from a CSV or JSON Lines file into a DataStore table, in chunks; a line that is not a
    JSON object is reported and left out, the rest loaded.

    A table that already exists is written only when told how: --append, --upsert or --replace.

    \b
    Examples:
      ckan-api-client datastore load --dataset my-data -i rows.csv --primary-key code
      ckan-api-client datastore load RESOURCE_ID -i more.csv --append
    """
    if bool(resource_id) == bool(dataset):
        raise click.UsageError("give either RESOURCE_ID (the table of that resource) or --dataset (a new resource)")
    assert mode is None or mode in LOAD_MODES
    store = DataStore(settings.client(), concurrency=settings.jobs)
    with logged_report(error_log) as report, progress_bar(settings, "datastore load", unit="rows") as bar, \
            contextlib.ExitStack() as stack:
        report.operation = f"datastore load ({mode or 'create'})"

        def rows_read(records: Iterable[tuple[int, Any]]) -> Iterator[Any]:
            """The rows to load; a line that is not a JSON object is reported (with its text) and left out."""
            for number, record in records:
                if bar is not None:
                    bar.advance(1)
                unreadable = Failure.of_line("datastore load", str(input_path), number, record)
                if unreadable is not None:
                    report.add(unreadable)
                    continue
                report.count("written")
                yield record

        if is_csv(input_path):
            rows = csv.DictReader(stack.enter_context(open_input(input_path)))
            records: Iterable[tuple[int, Any]] = ((rows.line_num, row) for row in rows)
        else:
            records = read_jsonl(input_path)
        try:
            with Measure(report, store.client.transport):
                target = store.load(rows_read(records), resource_id, mode=mode,
                                    resource={"package_id": dataset, "name": name or input_path.name} if dataset
                                    else None, primary_key=primary_key.split(",") if primary_key else None)
        except InvalidInput as error:
            if "--" in str(error):  # a table that exists, or not: the user must say how
                raise click.UsageError(str(error)) from None
            raise
        report.details["resource_id"] = target
    return finish(report, settings)


def json_option(option: str, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError as error:
        raise click.UsageError(f"{option} must be JSON: {error}") from None
