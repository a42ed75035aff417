"""pytest plugin: a real CKAN for the tests, and helpers that make throwaway objects in it.

* ``ckan_stack`` (session): the CKAN under test. It uses ``CKAN_URL`` / ``CKAN_API_TOKEN`` from the
  environment when both are set, else brings up the local stack in-process with the ``ckan_stack``
  package (``stack/``, the code behind ``scripts/ckan-stack``; CKAN_VERSION, default 2.12.0), with
  ckanext-dcat enabled (``CKAN_STACK_PLUGINS=dcat``) so that harvests meet the real ``/catalog.ttl``.
* ``other_stack`` (session, parametrized): each release in ``CKAN_TEST_OTHER_VERSIONS`` (default
  "2.11.6 2.10.11"; set it empty to skip them), each brought up with its own state and ports.
* ``any_stack``: ``ckan_stack`` and then each ``other_stack``.
* ``factory`` (per test): the package's own :class:`ckan_api_client.testing.Factory` (``make_org()``,
  ``make_group()``, ``make_user()``, ``make_dataset()``, unique names, purged after the test) on the
  stack. Tests isolate by unique names, never by wiping data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

import ckan_stack as local_stack
from ckan_api_client import CkanLowlevelClient, testing

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CKAN_SHARED_DIR", REPO.parent / "shared"))
"""The project's shared folder (real portal data), beside the clone as CI lays it."""
REAL_PORTALS = SHARED / "data" / "real-portals"
DEFAULT_VERSION = local_stack.DEFAULT_VERSION
OTHER_VERSIONS = os.environ.get("CKAN_TEST_OTHER_VERSIONS", "2.11.6 2.10.11").split()


@dataclass(frozen=True)
class Stack:
    """A running CKAN: its URL, a sysadmin token, and the version it reports."""

    url: str
    token: str = field(repr=False)
    version: str
    requested: str | None = None
    """The CKAN_VERSION this stack was brought up for (None for one given by CKAN_URL)."""
    python: Path | None = None
    """The interpreter of CKAN's own virtualenv, to run CKAN's (and its extensions') code offline (None for
    a CKAN given by CKAN_URL)."""

    def client(self, **options: Any) -> CkanLowlevelClient:
        return CkanLowlevelClient(self.url, self.token, **options)

    def open(self, mode: str, **options: Any) -> Any:
        """A sync client (``mode="sync"``), or the async client behind blocking calls (``"async"``),
        for the behaviour tests that run against both."""
        if mode == "sync":
            return self.client(**options)
        from async_facade import Blocking
        from ckan_api_client import AsyncCkanLowlevelClient

        return Blocking(AsyncCkanLowlevelClient(self.url, self.token, **options))


def bring_up(version: str | None = None) -> Stack:
    """The local stack for ``version`` (CKAN_VERSION's, else the default), started if it is not running."""
    environ = {k: v for k, v in os.environ.items() if k not in ("CKAN_URL", "CKAN_API_TOKEN")}
    if (version or environ.get("CKAN_VERSION") or DEFAULT_VERSION) == DEFAULT_VERSION:
        environ.setdefault("CKAN_STACK_PLUGINS", "dcat")  # the real ckanext-dcat: /catalog.ttl to harvest from
    config = local_stack.StackConfig.from_env(environ, version=version)
    try:
        site = local_stack.Stack(config).up()
    except local_stack.StackError as exc:
        pytest.fail(f"the local CKAN {config.version} stack did not come up:\n{exc}", pytrace=False)
    return _stack(site.url, site.token, config.version, config.venv / "bin" / "python")


def _stack(url: str, token: str, requested: str | None = None, python: Path | None = None) -> Stack:
    version = CkanLowlevelClient(url).capabilities.ckan_version
    return Stack(url=url, token=token, version=version, requested=requested, python=python)


@pytest.fixture(scope="session", autouse=True)
def _state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Sync state files of the tests (and of the commands they run) go to a temporary folder."""
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    yield
    if previous is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = previous


@pytest.fixture(scope="session")
def ckan_stack() -> Stack:
    url, token = os.environ.get("CKAN_URL"), os.environ.get("CKAN_API_TOKEN")
    if url and token:
        return _stack(url, token)
    return bring_up(os.environ.get("CKAN_VERSION"))


_other_stacks: dict[str, Stack] = {}


@pytest.fixture(scope="session", params=OTHER_VERSIONS or [pytest.param(None, marks=pytest.mark.skip(
    reason="CKAN_TEST_OTHER_VERSIONS is empty"))])
def other_stack(request: pytest.FixtureRequest) -> Stack:
    version = request.param
    if version not in _other_stacks:
        _other_stacks[version] = bring_up(version)
    return _other_stacks[version]


@pytest.fixture(scope="session", params=["default", *OTHER_VERSIONS])
def any_stack(request: pytest.FixtureRequest) -> Stack:
    if request.param == "default":
        stack: Stack = request.getfixturevalue("ckan_stack")
        return stack
    if request.param not in _other_stacks:
        _other_stacks[request.param] = bring_up(request.param)
    return _other_stacks[request.param]


@pytest.fixture
def client(ckan_stack: Stack) -> Iterator[CkanLowlevelClient]:
    """A sysadmin low-level client on the default stack."""
    with ckan_stack.client() as sysadmin:
        yield sysadmin


class Factory(testing.Factory):
    """The package's factory (:mod:`ckan_api_client.testing`) on one of this repo's stacks."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack.client())
        self.stack = stack
        self.admin = self.client

    def cleanup(self) -> None:
        super().cleanup()
        self.client.close()


@pytest.fixture
def factory(ckan_stack: Stack) -> Iterator[Factory]:
    made = Factory(ckan_stack)
    yield made
    made.cleanup()


@pytest.fixture
def any_factory(any_stack: Stack) -> Iterator[Factory]:
    made = Factory(any_stack)
    yield made
    made.cleanup()
