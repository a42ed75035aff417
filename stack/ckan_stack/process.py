"""Running commands and watching processes: the small I/O helpers every component uses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path


class StackError(Exception):
    """A failure reported in one clear message (the command exits non-zero with it)."""


def log(version: str, message: str) -> None:
    print(f"[ckan-stack {version}] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, check: bool = True, capture: bool = False, input: str | None = None,
        env: Mapping[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise StackError with the tail of the command's own output."""
    piped = capture or check
    proc = subprocess.run(cmd, text=True, input=input, env=env, cwd=cwd,
                          stdout=subprocess.PIPE if piped else None, stderr=subprocess.PIPE if piped else None)
    if check and proc.returncode != 0:
        output = "\n".join(((proc.stdout or "") + (proc.stderr or "")).splitlines()[-40:])
        raise StackError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{output}")
    return proc


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int, exe_hint: str) -> bool:
    """True when ``pid`` runs and its executable matches (guards against a recycled pid)."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return exe_hint in exe and ") Z " not in stat


def spawn(cmd: list[str], logfile: Path, pidfile: Path, *, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> int:
    """Start a long-running process in its own session, output appended to ``logfile``."""
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
    pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def wait_until(ready: Callable[[], bool], *, timeout: float, alive: Callable[[], bool], what: str,
               logfile: Path) -> None:
    """Poll ``ready`` until it holds; fail early when the process is gone, or at ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if not alive():
            raise StackError(f"{what} exited during start-up; the tail of {logfile}:\n{tail(logfile)}")
        time.sleep(0.2)
    raise StackError(f"{what} did not become ready in {timeout:.0f}s; the tail of {logfile}:\n{tail(logfile)}")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False
