"""The pytest fixtures shipped in the package, used as a project that depends on it would use them."""

from __future__ import annotations

import pytest

from ckan_api_client.exceptions import NotFound
from ckan_stack_plugin import Stack

pytest_plugins = ["pytester"]

USER_TESTS = '''
def test_with_throwaway_objects(ckan_client, ckan_factory):
    org = ckan_factory.make_org(title="Harvested")
    group = ckan_factory.make_group()
    user = ckan_factory.make_user()
    dataset = ckan_factory.make_dataset(org=org, groups=[{"name": group["name"]}],
                                        resources=[{"url": "https://example.org/a.csv", "name": "a"}])
    assert ckan_client.get_dataset(dataset["id"])["num_resources"] == 1
    assert user["token"]
    with open("made.txt", "w") as fh:
        fh.write(" ".join([org["id"], group["id"], dataset["id"]]))
'''


def test_the_fixtures_make_objects_and_purge_them(pytester: pytest.Pytester, ckan_stack: Stack,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKAN_URL", ckan_stack.url)
    monkeypatch.setenv("CKAN_API_TOKEN", ckan_stack.token)
    pytester.makepyfile(USER_TESTS)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    org_id, group_id, dataset_id = (pytester.path / "made.txt").read_text().split()
    client = ckan_stack.client()
    for action, ref in (("organization_show", org_id), ("group_show", group_id), ("package_show", dataset_id)):
        with pytest.raises(NotFound):
            client.call_action(action, {"id": ref})


def test_without_a_ckan_the_tests_are_skipped_not_failed(pytester: pytest.Pytester,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CKAN_URL", raising=False)
    monkeypatch.delenv("CKAN_API_TOKEN", raising=False)
    pytester.makepyfile(USER_TESTS)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(skipped=1)
