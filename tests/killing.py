"""Kill a running sync or mirror mid-way, as a crash or an OOM killer would (SIGKILL: no clean-up at all)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from ckan_api_client.low_level import CkanLowlevelClient
from ckan_stack_plugin import REPO


def owned_count(client: CkanLowlevelClient, source_name: str) -> int:
    return int(client.call_action("package_search", {
        "fq": f'extras_sync_source:"{source_name}"', "rows": 0, "include_private": True})["count"])


def kill_after(code: str, args: list[str], client: CkanLowlevelClient, source_name: str, datasets: int) -> None:
    """Run ``code`` in a new interpreter and SIGKILL it once ``source_name`` owns ``datasets`` datasets."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=dict(os.environ, PYTHONPATH=str(REPO / "src")))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if owned_count(client, source_name) >= datasets:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed: give it more to do"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
