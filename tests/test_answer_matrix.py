"""Every public member, sync and async, answered with each kind of malformed answer, raises only
exceptions of the tree (``CkanError``): never an ``AttributeError``, a ``KeyError`` or a raw
``requests``/``httpx`` exception. Loopback servers only; one attempt, so each fault is met as it is."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

import pytest

from async_facade import Blocking
from ckan_api_client import exceptions as exc
from ckan_api_client.async_client import AsyncCkanHighlevelClient, AsyncCkanLowlevelClient, AsyncDataStore
from ckan_api_client.core import RetryPolicy
from ckan_api_client.datastore import DataStore
from ckan_api_client.files import download_resource, replace_resource_file, upload_resource
from ckan_api_client.high_level import CkanHighlevelClient
from ckan_api_client.low_level import CkanLowlevelClient
from ckan_api_client.objects import Dataset, Resource
from loopback_servers import Reply, ScriptedServer

ONCE = RetryPolicy(max_attempts=1)
TOKEN = "tok-" + "x" * 40

ANSWERS = {
    "null-result": Reply(200, {"success": True, "result": None}),
    "cut-json": Reply(200, '{"success": true, "result": {"id": "x", "na', headers={"Content-Type": "application/json"}),
    "html-200": Reply(200, "<!doctype html><html><title>Maintenance</title></html>", {"Content-Type": "text/html"}),
    "empty": Reply(200, b""),
    "list": Reply(200, [1, 2, 3]),
    "wrong-result": Reply(200, {"success": True, "result": "a string"}),
    "no-error": Reply(200, {"success": False}),
    "html-500": Reply(500, "<html><title>Internal Server Error</title></html>"),
    "cut-409": Reply(409, '{"success": false, "error": {"__type": "Valid'),
}

LOW_LEVEL: dict[str, tuple[Any, ...]] = {
    "request": ("GET", "/api/3/action/status_show"),
    "call_action": ("package_show", {"id": "x"}),
    "check_token": (),
    "search_pages": (),
    "list_datasets": (), "iter_datasets": (), "get_dataset": ("x",), "post_dataset": ({"name": "x"},),
    "put_dataset": ({"id": "x", "name": "x"},), "delete_dataset": ("x",),
    "list_group_summaries": ("group",),
    "list_groups": (), "iter_groups": (), "get_group": ("x",), "post_group": ({"name": "x"},),
    "put_group": ({"id": "x", "name": "x"},), "delete_group": ("x",),
    "list_organizations": (), "iter_organizations": (), "get_organization": ("x",),
    "post_organization": ({"name": "x"},), "put_organization": ({"id": "x", "name": "x"},),
    "delete_organization": ("x",),
    "list_licenses": (),
}
NOT_CALLS = {"close", "aclose", "run", "run_iter", "capabilities", "anonymous", "options", "page_size", "base_url",
             "api_key", "actions", "transport"}

HIGH_LEVEL: dict[str, tuple[Any, ...]] = {
    "list_datasets": (), "iter_datasets": (), "get_dataset": ("x",), "create_dataset": ({"name": "x"},),
    "update_dataset": (Dataset(id="x", title="t"),), "save_dataset": (Dataset(name="x"),), "delete_dataset": ("x",),
    "add_resource": ("x", {"name": "r", "url": "http://example.com/r.csv"}), "get_resource": ("x",),
    "update_resource": (Resource(id="x", name="n"),), "replace_resource_file": ("x", None),
    "delete_resource": ("x",), "reorder_resources": ("x", ["a"]),
    "list_organizations": (), "iter_organizations": (), "get_organization": ("x",),
    "create_organization": ({"name": "x"},), "update_organization": ({"id": "x", "title": "t"},),
    "delete_organization": ("x",), "list_groups": (), "iter_groups": (), "get_group": ("x",),
    "create_group": ({"name": "x"},), "update_group": ({"id": "x", "title": "t"},), "delete_group": ("x",),
    "resolve_organization": ("x",), "resolve_group": ("x",), "list_licenses": (),
}
HIGH_NOT_CALLS = {"close", "aclose", "client", "resolved", "forget_resolved"}


def public_members(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls) if not name.startswith("_")}


def test_the_tables_name_every_public_member() -> None:
    assert public_members(CkanLowlevelClient) - NOT_CALLS == set(LOW_LEVEL)
    # The async client has the files helper as a method (covered with the files below).
    assert public_members(AsyncCkanLowlevelClient) - NOT_CALLS == set(LOW_LEVEL) | {"download_resource"}
    for cls in (CkanHighlevelClient, AsyncCkanHighlevelClient):
        assert public_members(cls) - HIGH_NOT_CALLS == set(HIGH_LEVEL), cls


def call(member: Callable[..., Any], args: tuple[Any, ...]) -> None:
    result = member(*args)
    if hasattr(result, "__next__"):
        for _ in result:
            pass


def only_tree(fn: Callable[[], None]) -> None:
    try:
        fn()
    except exc.CkanError:
        pass  # a typed error: what the matrix asks


@pytest.fixture(params=list(ANSWERS), ids=list(ANSWERS))
def server(request: pytest.FixtureRequest) -> Any:
    with ScriptedServer([ANSWERS[request.param]]) as running:
        yield running


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_low_level_members_raise_only_tree_exceptions(server: ScriptedServer, mode: str) -> None:
    client: Any = CkanLowlevelClient(server.url, TOKEN, retry=ONCE) if mode == "sync" else \
        Blocking(AsyncCkanLowlevelClient(server.url, TOKEN, retry=ONCE))
    for name, args in LOW_LEVEL.items():
        only_tree(lambda: call(getattr(client, name), args))
    only_tree(lambda: client.capabilities)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_high_level_files_and_datastore_raise_only_tree_exceptions(server: ScriptedServer, mode: str,
                                                                   tmp_path: Path) -> None:
    upload = tmp_path / "f.csv"
    upload.write_text("a,b\n1,2\n")
    resource = {"id": "r", "url": f"{server.url}/file.csv"}
    if mode == "sync":
        low = CkanLowlevelClient(server.url, TOKEN, retry=ONCE)
        high: Any = CkanHighlevelClient(client=low)
        store: Any = DataStore(low)
        extra: list[Callable[[], Any]] = [
            lambda: download_resource(low, resource, tmp_path / "d.csv", overwrite=True),
            lambda: upload_resource(low, "x", upload, name="f"),
            lambda: replace_resource_file(low, "r", upload),
        ]
    else:
        alow = AsyncCkanLowlevelClient(server.url, TOKEN, retry=ONCE)
        high = Blocking(AsyncCkanHighlevelClient(client=alow))
        store = Blocking(AsyncDataStore(alow))
        blocking = Blocking(alow)
        extra = [lambda: blocking.download_resource(resource, tmp_path / "d.csv", overwrite=True)]
    for name, args in HIGH_LEVEL.items():
        args = tuple(upload if a is None else a for a in args)
        only_tree(lambda: call(getattr(high, name), args))
    for name, args in (("iter_records", ("r",)), ("exists", ("r",)), ("info", ("r",)), ("search_sql", ("x",))):
        only_tree(lambda: call(getattr(store, name), args))
    for fn in extra:
        only_tree(fn)
