"""The built documentation site, looked at in a real browser (headless Chromium), as a reader sees it:
cross-references rendered as links (no raw ``:class:`` text, no raw reStructuredText table), real
defaults in the command reference (no ``Sentinel``, no build machine's home directory), code blocks that
fit a 1280 px window.
Screenshots of each page go to ``artifacts/docs/`` (kept by CI as an artifact)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from ckan_stack_plugin import REPO

PAGES = ["", "ckanapi/", "cookbook/backup/", "cookbook/harvest/", "cookbook/dcat/", "reference/api/",
         "reference/internals/", "reference/cli/", "reference/dcat/"]
ARTIFACTS = REPO / "artifacts" / "docs"
RAW_ROLE = re.compile(r":(class|func|meth|mod|data|attr|exc):`")
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The docs built (strict) and served on loopback."""
    folder = tmp_path_factory.mktemp("site")
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(folder)],
                           cwd=REPO, capture_output=True, text=True, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert build.returncode == 0, build.stderr[-3000:]
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("chromium and chromedriver are needed (scripts/test installs Debian's packages)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


OVERFLOWING = """
return Array.from(document.querySelectorAll('.md-content pre')).filter(
    pre => pre.scrollWidth > pre.clientWidth + 1).map(pre => pre.innerText.slice(0, 120));
"""


@pytest.mark.parametrize("page", PAGES)
def test_a_page_reads_right_in_a_browser(site: str, browser: Any, page: str) -> None:
    browser.get(site + page)
    text = browser.execute_script("return document.querySelector('.md-content').innerText")
    assert text.strip(), f"{page or 'index'} shows nothing"
    assert not RAW_ROLE.search(text), RAW_ROLE.search(text)
    assert "Sentinel" not in text
    assert "=========" not in text, f"{page}: a reStructuredText table shows as raw text"
    home = str(Path.home())
    assert home not in text and "/root/" not in text, f"{page}: the build machine's home directory shows"
    assert browser.execute_script(OVERFLOWING) == [], f"{page}: code blocks scroll sideways at 1280 px"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"{page.strip('/').replace('/', '-') or 'index'}.png"))


def test_the_reference_links_its_cross_references(site: str, browser: Any) -> None:
    browser.get(site + "reference/api/")
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('.md-content a.autorefs, .md-content a.autorefs-internal'))"
        ".map(a => a.getAttribute('href'))")
    assert len(links) > 20, "the API reference should link its types and cross-references"
    methods = browser.execute_script("return Array.from(document.querySelectorAll('h3.doc-heading'))"
                                     ".map(h => h.id)")
    assert "ckan_api_client.CkanLowlevelClient.get_dataset" in methods  # the table's methods are documented
    assert not any(".core." in m for m in methods), "internals belong on their own page"
