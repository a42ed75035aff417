"""``ckan-api-client action``: call any action, with ckanapi's argument forms."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..core.streams import open_input
from .app import EXIT_OK, INPUT, Settings, main



def parse_action_args(args: tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` (a string), ``key:=json`` or ckanapi's ``key:json`` (any JSON), ``key@file`` (a file to upload)."""
    data: dict[str, Any] = {}
    for arg in args:
        key, kind, value = _split(arg)
        if kind == "=":
            data[key] = value
        elif kind == "@":
            data[key] = ("@file", value)
        else:
            try:
                data[key] = json.loads(value)
            except ValueError as error:
                raise click.UsageError(f"{arg}: the value after {kind} must be JSON ({error}); for a plain string "
                                       f"write {key}={value}") from None
    return data


def _split(arg: str) -> tuple[str, str, str]:
    """The key, the separator that comes first (``:=``, ``=``, ``:``, ``@``) and the value."""
    marks = [(arg.find(mark), mark) for mark in (":=", "=", ":", "@") if arg.find(mark) > 0]
    if not marks:
        raise click.UsageError(f"{arg}: give key=value, key:=json (or ckanapi's key:json) or key@file")
    position, mark = min(marks, key=lambda found: (found[0], -len(found[1])))
    return arg[:position], mark, arg[position + len(mark):]


@main.command()
@click.argument("name")
@click.argument("args", nargs=-1)
@click.option("--get", "-g", "--get-request", "use_get", is_flag=True,
              help="Send with GET (for side-effect-free actions).")
@click.option("-i", "--input-json", "stdin_json", is_flag=True, help="Read the data as one JSON object from stdin.")
@click.option("-I", "--input", "input_path", type=INPUT, help="Read the data as one JSON object from this file.")
@click.pass_obj
def action(settings: Settings, name: str, args: tuple[str, ...], use_get: bool, stdin_json: bool,
           input_path: Path | None) -> int:
    """Call any action: key=value (a string), key:=json or key:json (any JSON), key@file (upload a file).

    \b
    Examples:
      ckan-api-client action status_show
      ckan-api-client action package_show id=my-data
      ckan-api-client action package_search rows:2 'fq=organization:my-org'
      ckan-api-client action package_patch id=my-data 'tags:=[{"name": "air"}]'
      ckan-api-client action resource_create package_id=my-data upload@data.csv
      echo '{"id": "my-data"}' | ckan-api-client action package_show -i
    """
    data: dict[str, Any] = {}
    if stdin_json or input_path is not None:
        data = _read_object(Path("-") if stdin_json else input_path)  # type: ignore[arg-type]
    data.update(parse_action_args(args))
    files = {k: v[1] for k, v in data.items() if isinstance(v, tuple)}
    for key in files:
        del data[key]
    result = settings.client().call_action(name, data, method="GET" if use_get else "POST", files=files or None)
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))
    return EXIT_OK


def _read_object(path: Path) -> dict[str, Any]:
    where = "stdin" if str(path) == "-" else str(path)
    if str(path) == "-" and sys.stdin.isatty():
        raise click.UsageError("-i reads the action's data as JSON from stdin: pipe it in, or give -I FILE")
    with open_input(path) as fh:
        text = fh.read()
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError as error:
        raise click.UsageError(f"{where} is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise click.UsageError(f"{where} holds a JSON {type(value).__name__}: an action's data is one JSON object")
    return value
