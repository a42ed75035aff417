"""pytest fixtures for code that talks to CKAN: a client, and throwaway objects purged after each test.

Installed with the package as a pytest plugin (entry point ``pytest11``), and inert: nothing runs
unless a test asks for one of these fixtures. Point them at a CKAN you may write to (a local one:
this project's ``scripts/ckan-stack up`` starts one) with a sysadmin's token::

    export CKAN_URL=http://127.0.0.1:15000 CKAN_API_TOKEN=...

    def test_my_harvester(ckan_client, ckan_factory):
        org = ckan_factory.make_org(title="Harvested")
        dataset = ckan_factory.make_dataset(org=org, resources=[{"url": "https://x.org/a.csv"}])
        my_harvester.run(ckan_client)
        assert ckan_client.get_dataset(dataset["id"])["num_resources"] == 1

* ``ckan_client``: a [`CkanLowlevelClient`][ckan_api_client.blocking.client.CkanLowlevelClient] on ``CKAN_URL`` with
  ``CKAN_API_TOKEN``; the test is skipped when they are not set.
* ``ckan_factory``: a [`Factory`][ckan_api_client.testing.Factory] making organizations, groups, users (with their own
  tokens) and datasets (with resources) under unique names; all purged after the test.
"""

from __future__ import annotations

import os
import uuid
import warnings
from typing import Any, Iterator

import pytest

from .exceptions import CkanError, NotFound
from .blocking.client import CkanLowlevelClient

__all__ = ["Factory", "unique_name", "discard", "ckan_client", "ckan_factory"]


def unique_name(prefix: str = "t") -> str:
    """A CKAN name no other test will take: ``prefix-`` and 12 hex digits."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class Factory:
    """Makes throwaway CKAN objects with unique names, and purges them all in [`cleanup`][ckan_api_client.testing.Factory.cleanup]."""

    def __init__(self, client: CkanLowlevelClient) -> None:
        self.client = client
        self._made: list[tuple[str, str]] = []

    def make_org(self, **fields: Any) -> dict[str, Any]:
        org = dict(self.client.call_action("organization_create", {"name": unique_name("org"), **fields}))
        self._made.append(("organization_purge", org["id"]))
        return org

    def make_group(self, **fields: Any) -> dict[str, Any]:
        group = dict(self.client.call_action("group_create", {"name": unique_name("grp"), **fields}))
        self._made.append(("group_purge", group["id"]))
        return group

    def make_user(self, **fields: Any) -> dict[str, Any]:
        """A user, with an API token of its own in ``user["token"]``."""
        name = unique_name("user")
        user = dict(self.client.call_action("user_create", {
            "name": name, "email": f"{name}@example.invalid", "password": uuid.uuid4().hex, **fields}))
        user["token"] = self.client.call_action("api_token_create", {"user": user["id"], "name": "tests"})["token"]
        self._made.append(("user_delete", user["id"]))
        return user

    def make_dataset(self, org: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """A dataset in ``org`` (a new organization if none); ``resources=[...]`` and any field may be given."""
        owner = org or self.make_org()
        dataset = dict(self.client.call_action("package_create", {
            "name": unique_name("ds"), "owner_org": owner["id"], **fields}))
        self.track_dataset(dataset["id"])
        return dataset

    def track_dataset(self, ref: str) -> None:
        """Purge this dataset after the test too (one the test made itself, by id or name)."""
        self._made.append(("dataset_purge", ref))

    def cleanup(self) -> None:
        """Purge everything made or tracked, newest first; what is already gone is fine."""
        for action, ref in reversed(self._made):
            discard(self.client, action, ref)
        self._made.clear()


def discard(client: CkanLowlevelClient, action: str, ref: str) -> None:
    """Call a purge or delete in a test's cleanup: an object already gone is fine (ignored); any other
    failure is a warning naming the object, so that the test's own outcome is not hidden by its cleanup."""
    try:
        client.call_action(action, {"id": ref})
    except NotFound:
        pass  # already gone: what the cleanup wanted
    except CkanError as error:
        warnings.warn(f"cleanup: {action} {ref} failed: {error}", stacklevel=2)


@pytest.fixture
def ckan_client() -> Iterator[CkanLowlevelClient]:
    """A client on ``CKAN_URL`` with ``CKAN_API_TOKEN`` (skips the test when they are not set)."""
    url, token = os.environ.get("CKAN_URL"), os.environ.get("CKAN_API_TOKEN")
    if not url or not token:
        pytest.skip("set CKAN_URL and CKAN_API_TOKEN (a sysadmin's) to run tests against a CKAN")
    with CkanLowlevelClient(url, token) as client:
        yield client


@pytest.fixture
def ckan_factory(ckan_client: CkanLowlevelClient) -> Iterator[Factory]:
    """Throwaway organizations, groups, users and datasets, purged after the test."""
    factory = Factory(ckan_client)
    yield factory
    factory.cleanup()
