"""Run the ckan-api-client command the way people do: as a subprocess, and under a pseudo-terminal."""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ckan_stack_plugin import REPO, Stack

COMMAND = [sys.executable, "-m", "ckan_api_client"]


def cli_env(stack: Stack | None, env: dict[str, str] | None = None) -> dict[str, str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("CKAN_URL", "CKAN_API_TOKEN")}
    full_env["PYTHONPATH"] = str(REPO / "src")
    if stack is not None:
        full_env.update(CKAN_URL=stack.url, CKAN_API_TOKEN=stack.token)
    full_env.update(env or {})
    return full_env


def cli(stack: Stack | None, *args: str, env: dict[str, str] | None = None, check: int | None = 0,
        input: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command with pipes for stdin/stdout/stderr; check its exit code and that the token never shows."""
    proc = subprocess.run([*COMMAND, *args], capture_output=True, text=True, env=cli_env(stack, env),
                          timeout=300, input=input, cwd=cwd)
    if check is not None:
        assert proc.returncode == check, \
            f"exit {proc.returncode}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}"
    if stack is not None:
        assert stack.token not in proc.stdout and stack.token not in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


@dataclass
class TerminalRun:
    returncode: int
    screen: str
    """Everything the terminal showed (stdout and stderr together, as a person sees them)."""


def cli_pty(stack: Stack | None, *args: str, env: dict[str, str] | None = None, check: int | None = 0,
            cwd: Path | None = None, interrupt_after: float | None = None, timeout: float = 300) -> TerminalRun:
    """Run the command on a pseudo-terminal, as at a person's terminal (stdin, stdout and stderr a tty).

    ``interrupt_after`` sends Ctrl-C's SIGINT after that many seconds."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the command
        try:
            if cwd is not None:
                os.chdir(cwd)
            # As at a terminal, Ctrl-C interrupts: a test run started in the background (nohup, `&` in a
            # script) hands its children SIGINT ignored, and Python then installs no KeyboardInterrupt.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.execve(sys.executable, [*COMMAND, *args], cli_env(stack, env))
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a window, as terminals have
    output = bytearray()
    started = time.monotonic()
    interrupted = False
    while True:
        if interrupt_after is not None and not interrupted and time.monotonic() - started >= interrupt_after:
            os.kill(pid, signal.SIGINT)
            interrupted = True
        if time.monotonic() - started > timeout:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"timed out; the terminal showed:\n{output.decode(errors='replace')[-3000:]}")
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output.extend(chunk)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    screen = output.decode("utf-8", errors="replace")
    run = TerminalRun(os.waitstatus_to_exitcode(status), screen)
    if check is not None:
        assert run.returncode == check, f"exit {run.returncode}; the terminal showed:\n{screen[-3000:]}"
    if stack is not None:
        assert stack.token not in screen
    assert "Traceback" not in screen, screen[-3000:]
    return run


def jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        return [json.loads(line) for line in fh if line.strip()]
