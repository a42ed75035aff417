"""scripts/ckan-stack itself: its env output, its status, and its failure modes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from ckan_stack_plugin import REPO, Stack

STACK_SCRIPT = REPO / "scripts" / "ckan-stack"


def run_stack(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("CKAN_STACK_", "CKAN_VERSION"))}
    full_env.update(env)
    return subprocess.run([str(STACK_SCRIPT), *args], env=full_env, capture_output=True, text=True, timeout=600)


def test_env_prints_exactly_the_two_lines(ckan_stack: Stack) -> None:
    if ckan_stack.requested is None:
        pytest.skip("the stack came from CKAN_URL, not from this script")
    proc = run_stack("env", CKAN_VERSION=ckan_stack.requested)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0] == f"CKAN_URL={ckan_stack.url}"
    assert re.fullmatch(r"CKAN_API_TOKEN=\S{20,}", lines[1])


def test_status_names_each_running_part(ckan_stack: Stack) -> None:
    if ckan_stack.requested is None:
        pytest.skip("the stack came from CKAN_URL, not from this script")
    proc = run_stack("status", CKAN_VERSION=ckan_stack.requested)
    assert proc.returncode == 0, proc.stdout
    for part in ("postgres", "redis", "solr", "ckan"):
        assert re.search(rf"^{part}\s+running\s+pid \d+\s+127\.0\.0\.1:\d+$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^worker\s+running\s+pid \d+", proc.stdout, re.M), proc.stdout


def test_env_without_a_stack_fails_and_prints_nothing(tmp_path: Path) -> None:
    proc = run_stack("env", CKAN_STACK_DIR=str(tmp_path))
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "ckan-stack up" in proc.stderr


def test_a_taken_port_is_named_and_its_owner_left_alone(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_stack("up", CKAN_STACK_DIR=str(tmp_path), CKAN_STACK_PG_PORT=str(port))
        assert proc.returncode != 0
        assert f"port {port}" in proc.stderr and "CKAN_STACK_PG_PORT" in proc.stderr
        assert proc.stdout == ""
        # The socket we hold is still ours and still listening.
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass


def test_unknown_command_prints_usage() -> None:
    proc = run_stack("explode")
    assert proc.returncode == 2
    assert "up|down|status|env|reset" in proc.stderr


def test_config_gives_each_minor_version_its_own_ports_and_reads_overrides(tmp_path: Path) -> None:
    from ckan_stack import Ports, StackConfig, StackError

    env = {"CKAN_STACK_DIR": str(tmp_path)}
    assert StackConfig.from_env(env).ports == Ports(postgres=15432, redis=16379, solr=18983, ckan=15000)
    older = StackConfig.from_env(env, version="2.10.11")
    assert older.ports == Ports(postgres=15434, redis=16381, solr=18985, ckan=15002)
    assert older.state == tmp_path / "2.10.11" and older.ckan_url == "http://127.0.0.1:15002"
    moved = StackConfig.from_env({**env, "CKAN_VERSION": "2.11.6", "CKAN_STACK_CKAN_PORT": "25000",
                                  "CKAN_STACK_CONFIG": "a=1; b = two\nc=x=y"})
    assert moved.version == "2.11.6" and moved.ports.ckan == 25000 and moved.ports.solr == 18984
    assert dict(moved.extra_ckan_config) == {"a": "1", "b": "two", "c": "x=y"}
    with pytest.raises(StackError, match="CKAN_STACK_PG_PORT='x'"):
        StackConfig.from_env({**env, "CKAN_STACK_PG_PORT": "x"})
    with pytest.raises(StackError, match="'oops' is not key=value"):
        StackConfig.from_env({**env, "CKAN_STACK_CONFIG": "oops"})


def test_a_bad_setting_is_one_line_from_the_command(tmp_path: Path) -> None:
    proc = run_stack("status", CKAN_STACK_DIR=str(tmp_path), CKAN_STACK_WORKERS="many")
    assert proc.returncode == 1
    assert "CKAN_STACK_WORKERS='many' is not a number" in proc.stderr and "Traceback" not in proc.stderr
