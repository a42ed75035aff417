"""Figures the tests measure (faults met, requests per sync), printed once in pytest's terminal summary."""

from __future__ import annotations

from collections import defaultdict

FIGURES: dict[str, list[str]] = defaultdict(list)


def record(section: str, line: str) -> None:
    """Keep a line for the summary under ``section``."""
    FIGURES[section].append(line)


def pytest_terminal_summary(terminalreporter: object) -> None:
    for section, lines in FIGURES.items():
        terminalreporter.write_sep("-", section)  # type: ignore[attr-defined]
        for line in lines:
            terminalreporter.write_line(line)  # type: ignore[attr-defined]
