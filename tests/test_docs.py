"""The documentation runs: every Python and shell snippet of docs/, in order, against the local stacks.

Each page runs in a fresh folder, its blocks one after another (``python`` blocks with the
project's interpreter, ``sh`` blocks with bash -e); ``console`` and ``text`` blocks are not run.
The readable names the pages use (``my-org``, ``my-data``, ``my-harvest``) are replaced with fresh
ones made for the run, so pages never collide with each other or with a previous run.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from ckan_api_client.low_level import CkanLowlevelClient
from ckan_stack_plugin import REPO, Stack, bring_up

DOCS = REPO / "docs"
PAGES = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if "reference" not in p.parts)
BLOCK = re.compile(r"^```(python|sh)\n(.*?)^```", re.S | re.M)
NEEDS_SOURCE = {"cookbook/move.md", "cookbook/mirror.md"}


def blocks(page: str) -> list[tuple[str, str]]:
    return BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))


def test_every_page_has_runnable_snippets() -> None:
    assert {"index.md", "ckanapi.md", "cookbook/backup.md", "cookbook/move.md", "cookbook/harvest.md", "cookbook/mirror.md",
            "cookbook/files.md", "cookbook/datastore.md", "cookbook/testing.md", "cookbook/async.md",
            "cookbook/dcat.md"} <= set(PAGES)
    assert all(blocks(page) for page in PAGES)


class Names:
    """Fresh objects behind the placeholders of one page: on the portal, or on the source portal to copy."""

    def __init__(self, portal: CkanLowlevelClient, source: CkanLowlevelClient | None) -> None:
        self.tag = uuid.uuid4().hex[:8]
        self.values = {"my-harvest": f"hv-{self.tag}", "my-org": f"org-{self.tag}", "my-data": f"data-{self.tag}"}
        self.clients = [c for c in (portal, source) if c is not None]
        home = source or portal  # the pages that copy a portal find their catalog on the source
        org = home.call_action("organization_create", {"name": self.values["my-org"]})
        for i, name in enumerate([self.values["my-data"], f"{self.values['my-data']}-2"][:2 if source else 1]):
            made = home.call_action("package_create", {"name": name, "owner_org": org["id"], "private": i == 1,
                                                       "title": f"Readings {i}"})
            if i == 0:
                home.call_action("resource_create", {"package_id": made["id"], "name": "file"},
                                 files={"upload": ("data.csv", io.BytesIO(b"a,b\n1,2\n"))})

    def substitute(self, code: str) -> str:
        for placeholder, value in self.values.items():
            code = code.replace(placeholder, value)
        return code

    def cleanup(self) -> None:
        for client in self.clients:
            found = client.call_action("package_search", {  # its datasets, and any in its organization
                "fq": f"name:*{self.tag}* OR organization:{self.values['my-org']}", "rows": 1000,
                "include_private": True, "include_drafts": True})
            for dataset in found["results"]:
                client.call_action("dataset_purge", {"id": dataset["id"]})
            for org in client.call_action("organization_list", {"q": self.tag}) or []:
                client.call_action("organization_purge", {"id": org})


@pytest.fixture
def names(request: pytest.FixtureRequest, ckan_stack: Stack) -> Iterator[tuple[Names, dict[str, str]]]:
    page = request.node.callspec.params["page"]
    env = {"CKAN_URL": ckan_stack.url, "CKAN_API_TOKEN": ckan_stack.token}
    source = None
    if page in NEEDS_SOURCE:
        if "2.11.6" not in os.environ.get("CKAN_TEST_OTHER_VERSIONS", "2.11.6 2.10.11").split():
            pytest.skip("this page copies from a second portal: CKAN 2.11.6 is not in CKAN_TEST_OTHER_VERSIONS")
        other = bring_up("2.11.6")
        source = other.client()
        env.update(SOURCE_URL=other.url, SOURCE_TOKEN=other.token)
    made = Names(ckan_stack.client(), source)
    yield made, env
    made.cleanup()


@pytest.mark.parametrize("page", PAGES)
def test_the_snippets_of_a_page_run(page: str, names: tuple[Names, dict[str, Any]], tmp_path: Path) -> None:
    made, env = names
    full_env = dict(os.environ, **env, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                    PYTHONPATH=str(REPO / "src"))
    for number, (language, code) in enumerate(blocks(page), start=1):
        code = made.substitute(code)
        command = [sys.executable, "-c", code] if language == "python" else ["bash", "-euo", "pipefail", "-c", code]
        proc = subprocess.run(command, cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{page}, block {number} ({language}) failed:\n{code}\n" \
                                     f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr and env["CKAN_API_TOKEN"] not in proc.stdout + proc.stderr
