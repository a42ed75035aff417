"""Every public member, sync and async, answered with each kind of malformed answer, raises only
exceptions of the tree (``CkanError``) or returns a well-formed result of its declared type: never an
``AttributeError``, a ``KeyError``, a raw ``requests``/``httpx`` exception, or garbage passed on.

The rows are made from the client API's table (:mod:`ckan_api_client.core.api`): a method added there
is covered here without a new row. Loopback servers only; one attempt, so each fault is met as it is."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from async_facade import Blocking
from ckan_api_client import (AsyncCkanHighlevelClient, AsyncCkanLowlevelClient, AsyncDataStore, CkanHighlevelClient,
                             CkanLowlevelClient, DataStore, DownloadResult, RetryPolicy)
from ckan_api_client import exceptions as exc
from ckan_api_client.core.api import HighLevelApi, LowLevelApi, api_methods
from ckan_api_client.core.objects import Dataset, Group, License, Organization, Resource
from ckan_api_client.core.site import Capabilities
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
    "list-result": Reply(200, {"success": True, "result": [1, 2, 3]}),
    "no-error": Reply(200, {"success": False}),
    "html-500": Reply(500, "<html><title>Internal Server Error</title></html>"),
    "cut-409": Reply(409, '{"success": false, "error": {"__type": "Valid'),
}

EXTRA_LOW_LEVEL = {"request": ("GET", "/api/3/action/status_show"), "call_action": ("package_show", {"id": "x"}),
                   "download_resource": None}
"""The low-level members that are not in the table (the shell's own), with their arguments (None: files)."""
NOT_CALLS = {"close", "aclose", "run", "run_iter", "answer", "capabilities", "anonymous", "options", "page_size",
             "base_url", "api_key", "transport", "facts", "client", "forget_resolved"}

SAMPLES: dict[str, Any] = {"kind": "group", "fields": None, "rows": 1000, "resource_ids": ["a"],
                           "sql": "SELECT 1"}
"""Arguments by parameter name, where the type alone does not say what a good one is."""


def sample(name: str, annotation: str, upload: Path) -> Any:
    """A plausible argument for a parameter: the point is the answers, not the arguments."""
    if name in SAMPLES:
        return SAMPLES[name]
    if name == "file" or "UploadFile" in annotation:
        return upload
    if annotation.startswith("Dataset"):
        return Dataset(id="x", name="x", title="t")
    if annotation.startswith("Resource"):
        return Resource(id="x", name="n", url="http://example.com/r.csv")
    if annotation.startswith(("Organization", "Group")):
        return {"id": "x", "name": "x", "title": "t"}
    if "Mapping" in annotation:
        return {"id": "x", "name": "x"}
    return "x"


def call_args(method: Callable[..., Any], upload: Path) -> tuple[Any, ...]:
    return tuple(sample(p.name, str(p.annotation), upload) for p in inspect.signature(method).parameters.values()
                 if p.default is inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_KEYWORD)


KINDS = {"dict[str, Any]": dict, "row": dict, "Any": object, "DownloadResult": DownloadResult, "Dataset": Dataset, "Resource": Resource, "Organization": Organization,
         "Group": Group, "License": License, "Capabilities": Capabilities, "str": str, "bool": bool}


def well_formed(value: Any, returns: str) -> bool:
    """``value`` is of the declared type, down to the items of a list (and an entity dict has its id)."""
    returns = returns.strip()
    if returns == "None":
        return value is None
    if " | None" in returns:
        return value is None or well_formed(value, returns.replace(" | None", ""))
    if returns.startswith(("list[", "Iterator[", "AsyncIterator[")):
        inner = returns[returns.index("[") + 1:-1]
        return all(well_formed(item, inner) for item in value)
    if returns == "dict[str, Any]":
        return isinstance(value, dict) and isinstance(value.get("id"), str)
    kind = KINDS.get(returns)
    return kind is not None and isinstance(value, kind)


def judgeable(returns: str) -> bool:
    """:func:`well_formed` knows every part of this type."""
    returns = returns.strip()
    if returns == "None":
        return True
    if " | None" in returns:
        return judgeable(returns.replace(" | None", ""))
    for wrapper in ("Operation[", "Listing[", "list[", "Iterator[", "AsyncIterator["):
        if returns.startswith(wrapper):
            return judgeable(returns[len(wrapper):-1])
    return returns in KINDS


def test_every_table_method_has_a_well_formed_check() -> None:
    """A return type this test cannot judge would let any answer pass: refused here instead."""
    for table in (LowLevelApi, HighLevelApi):
        for name, method in api_methods(table).items():
            returns = str(inspect.signature(method.factory).return_annotation)
            assert judgeable(returns), (name, returns)


def test_the_clients_have_the_table_and_nothing_unlisted() -> None:
    def public(cls: type) -> set[str]:
        return {name for name, _ in inspect.getmembers(cls) if not name.startswith("_")} - NOT_CALLS

    low = set(api_methods(LowLevelApi)) | set(EXTRA_LOW_LEVEL)
    assert public(CkanLowlevelClient) == public(AsyncCkanLowlevelClient) == low
    assert public(CkanHighlevelClient) == public(AsyncCkanHighlevelClient) == set(api_methods(HighLevelApi))


def judged(member: Callable[..., Any], args: tuple[Any, ...], returns: str) -> None:
    """Call a member: a tree exception, or a result of the declared type (an iterator drained and checked)."""
    try:
        result = member(*args)
        if isinstance(result, Iterator) or hasattr(result, "__next__"):
            result = list(result)
            returns = f"list[{returns[returns.index('[') + 1:-1]}]"
    except exc.CkanError:
        return  # a typed error: what the matrix asks
    assert well_formed(result, returns), f"{getattr(member, '__name__', member)} returned {result!r} for {returns}"


@pytest.fixture(params=list(ANSWERS), ids=list(ANSWERS))
def server(request: pytest.FixtureRequest) -> Any:
    with ScriptedServer([ANSWERS[request.param]]) as running:
        yield running


def clients(mode: str, url: str) -> tuple[Any, Any, Any]:
    """The low-level client, the high-level client on it, and a DataStore on it, for ``mode``."""
    if mode == "sync":
        low = CkanLowlevelClient(url, TOKEN, retry=ONCE)
        return low, CkanHighlevelClient(client=low), DataStore(low)
    alow = AsyncCkanLowlevelClient(url, TOKEN, retry=ONCE)
    return Blocking(alow), Blocking(AsyncCkanHighlevelClient(client=alow)), Blocking(AsyncDataStore(alow))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_every_member_is_a_typed_error_or_well_formed(server: ScriptedServer, mode: str, tmp_path: Path) -> None:
    upload = tmp_path / "f.csv"
    upload.write_text("a,b\n1,2\n")
    low, high, store = clients(mode, server.url)
    for table, client in ((LowLevelApi, low), (HighLevelApi, high)):
        for name, method in api_methods(table).items():
            returns = str(inspect.signature(getattr(client._client if mode == "async" else client, name))
                          .return_annotation)
            judged(getattr(client, name), call_args(method.factory, upload), returns)
    resource = {"id": "r", "url": f"{server.url}/file.csv"}
    judged(lambda: low.download_resource(resource, tmp_path / "d.csv", overwrite=True), (), "DownloadResult")
    for name, args in EXTRA_LOW_LEVEL.items():
        if args is not None:
            judged(getattr(low, name), args, "Any")
    judged(lambda: low.capabilities, (), "Capabilities")
    for name, args, returns in (("iter_records", ("r",), "Iterator[row]"), ("exists", ("r",), "bool"),
                                ("info", ("r",), "list[row]"), ("search_sql", ("x",), "list[row]")):
        judged(getattr(store, name), args, returns)
