"""The package root is the public API: every name it lists imports, type checkers see them, and the
async half loads without requests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ckan_api_client


def test_every_public_name_imports_from_the_root() -> None:
    for name in ckan_api_client.__all__:
        assert getattr(ckan_api_client, name) is not None, name
    assert set(ckan_api_client.__all__) <= set(dir(ckan_api_client))


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        ckan_api_client.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("an unknown name imported")


def test_the_async_client_loads_without_requests() -> None:
    code = ("import sys\nfrom ckan_api_client import AsyncCkanLowlevelClient, AsyncDataStore\n"
            "print('requests' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_strict_type_checkers_see_the_root_names(tmp_path: Path) -> None:
    """``from ckan_api_client import X`` passes mypy --strict in a user's project (lazy names are re-exported
    explicitly), and a wrong use of one is caught."""
    names = ", ".join(n for n in ckan_api_client.__all__ if n != "__version__")
    user = tmp_path / "user_code.py"
    user.write_text(f"from ckan_api_client import {names}\n\n"
                    "def titles(client: CkanLowlevelClient) -> list[str]:\n"
                    "    return [d['title'] for d in client.iter_datasets()]\n\n"
                    "def wrong(client: CkanHighlevelClient) -> int:\n"
                    "    return client.get_dataset('x')\n")
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(user)],
                         capture_output=True, text=True)
    lines = [line for line in out.stdout.splitlines() if "error:" in line]
    assert len(lines) == 1 and "user_code.py:7" in lines[0] and "Dataset" in lines[0], out.stdout
