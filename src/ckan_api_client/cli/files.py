"""``ckan-api-client resource``: upload and download resource files (streamed, checked)."""

from __future__ import annotations

from pathlib import Path

import click

from ..core.files import safe_filename
from ..core.streams import is_regular_target
from .action import parse_action_args
from .app import EXIT_OK, OUTPUT, Settings, emit, main, progress_bar


@main.group()
def resource() -> None:
    """Upload or download resource files (streamed, checked)."""


class Sent:
    """Turns "bytes so far" callbacks into a bar's steps."""

    def __init__(self, bar: object, limit: int | None = None) -> None:
        self.bar, self.limit, self.done = bar, limit, 0

    def __call__(self, so_far: int) -> None:
        if self.limit is not None:
            so_far = min(so_far, self.limit)
        if self.bar is not None and so_far > self.done:
            self.bar.advance(so_far - self.done)  # type: ignore[attr-defined]
        self.done = max(self.done, so_far)


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
    size = file.stat().st_size
    client = settings.client()
    with progress_bar(settings, f"upload {file.name}", size, unit="B") as bar:
        sent = Sent(bar, size)
        if resource_id:
            result = client.replace_resource_file(resource_id, file, progress=sent)
        else:
            extra = parse_action_args(fields)
            extra.setdefault("name", file.name)
            result = client.upload_resource(dataset, file, progress=sent, **extra)
    emit(result)
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
    client = settings.client()
    data = client.call_action("resource_show", {"id": resource_id})
    if not isinstance(data, dict):
        raise click.ClickException(f"resource_show gave no resource for {resource_id}")
    dest = output or Path(safe_filename(str(data.get("url") or "").rsplit("/", 1)[-1], fallback=resource_id))
    size = data.get("size") if isinstance(data.get("size"), int) else None
    with progress_bar(settings, f"download {dest.name}", size, unit="B") as bar:
        result = client.download_resource(data, dest, overwrite=overwrite, progress=Sent(bar))
    summary = {"path": str(result.path), "size": result.size, "sha256": result.sha256, "skipped": result.skipped}
    emit(summary, err=not is_regular_target(dest))
    return EXIT_OK
