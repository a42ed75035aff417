"""First contact, as a new user meets it: a token pasted from a file, a URL with a typo, a server that is
not a CKAN. One clear line and exit 1, no traceback, the token never shown in any form."""

from __future__ import annotations

import pytest

from ckan_stack_plugin import Stack
from cli_runner import cli
from loopback_servers import Reply, ScriptedServer, free_port


def test_a_token_read_from_a_file_with_its_newline_works(ckan_stack: Stack) -> None:
    pasted = ckan_stack.token + "\n"
    proc = cli(ckan_stack, "action", "status_show", env={"CKAN_API_TOKEN": pasted})
    assert '"ckan_version"' in proc.stdout
    assert "stripped" in proc.stderr and "retrying" not in proc.stderr


def test_a_token_with_a_newline_inside_is_one_line_naming_the_flag(ckan_stack: Stack) -> None:
    broken = ckan_stack.token[:30] + "\n" + ckan_stack.token[30:]
    proc = cli(ckan_stack, "action", "status_show", env={"CKAN_API_TOKEN": broken}, check=1)
    assert proc.stderr.startswith("error: --token:") and proc.stderr.count("\n") == 1
    assert ckan_stack.token[:30] not in proc.stderr and ckan_stack.token[30:] not in proc.stderr


@pytest.mark.parametrize("url, says", [
    ("http://127.0.0.1:15000x", "no valid port"),
    ("http://127.0.0.1:99999", "no valid port"),
    ("127.0.0.1:15000", "'https://127.0.0.1:15000'"),
    ("http://127.0.0.1:15000/api/3/action", "site's root URL"),
    ("https://", "not a usable site URL"),
])
def test_a_malformed_url_is_one_line_naming_url(url: str, says: str) -> None:
    proc = cli(None, "--url", url, "action", "status_show", check=1)
    assert proc.stderr.startswith("error: --url:") and says in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1


def test_a_server_that_is_not_ckan_says_so() -> None:
    page = "<!doctype html><html><head><title>Welcome to nginx!</title></head></html>"
    with ScriptedServer([Reply(404, page, {"Content-Type": "text/html"})]) as server:
        proc = cli(None, "--url", server.url, "action", "status_show", check=1)
    assert "not answer as a CKAN site root" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_a_ckan_page_path_suggests_the_site_root(ckan_stack: Stack) -> None:
    proc = cli(None, "--url", f"{ckan_stack.url}/dataset", "action", "status_show", check=1)
    assert f"try {ckan_stack.url!r}" in proc.stderr, proc.stderr


def test_connection_refused_is_one_line_without_library_internals() -> None:
    proc = cli(None, "--url", f"http://127.0.0.1:{free_port()}", "--retries", "0", "action", "status_show", check=1)
    assert proc.stderr.strip().endswith("(connection refused)"), proc.stderr
    assert "Max retries" not in proc.stderr and "urllib3" not in proc.stderr and "HTTPConnection" not in proc.stderr
