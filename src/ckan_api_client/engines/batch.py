"""Many actions from one JSON Lines file: ckanapi's ``batch``, on this client's transport.

Each line is ``{"action": NAME, "data": {...}, "files": {"upload": "path"}}`` (``data`` and ``files``
optional; ``files`` only with ``local_files``, so that a file of actions from elsewhere cannot upload
what this machine holds). The actions run in order, one after another (a line may need what an earlier
one made), or ``concurrency`` at a time for lines that are independent; each result is written as a line
``{"line": N, "action": NAME, "result": ...}`` in the order of the input. An action that may be
repeated (a ``*_show``, a search) is retried through faults as every call is; a write is sent once,
and one whose answer was lost is a failure that says so. A line that is not an action is an invalid
record, one the portal refuses a failed one, and the others run; a checkpoint beside the input lets a
resumed run skip the lines done before (the actions are not run twice).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..blocking.client import CkanLowlevelClient
from ..blocking.concurrency import run_concurrently
from ..core.calls import is_read_only
from ..core.streams import Checkpoint, TextOutput, read_jsonl
from ..exceptions import InvalidInput, outcome_unknown
from .report import Failure, Interrupted, Measure, Progress, Report

__all__ = ["batch", "ActionLine", "action_line"]

_KEYS = {"action", "data", "files"}


@dataclass(frozen=True)
class ActionLine:
    """One line of a batch: the action to call, its data and the local files to upload with it."""

    action: str
    data: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> str | None:
        """What the action is about, as the user knows it: its data's ``id`` or ``name``."""
        ref = self.data.get("id") or self.data.get("name")
        return ref if isinstance(ref, str) else None


def action_line(record: dict[str, Any], *, local_files: bool) -> ActionLine:
    """The action a batch line asks for, or :class:`InvalidInput` saying why it is not one."""
    action, data, files = record.get("action"), record.get("data", {}), record.get("files", {})
    unknown = sorted(set(record) - _KEYS)
    if unknown:
        raise InvalidInput(f"unknown key {unknown[0]!r}: a line is {{\"action\": NAME, \"data\": {{...}}, "
                           "\"files\": {...}}")
    if not isinstance(action, str) or not action.strip():
        raise InvalidInput("the line names no action (\"action\": NAME)")
    if not isinstance(data, dict):
        raise InvalidInput(f"the data of {action} must be a JSON object, not {type(data).__name__}")
    if not isinstance(files, dict) or not all(isinstance(v, str) and v for v in files.values()):
        raise InvalidInput("files must map each field to a file's path, e.g. {\"upload\": \"data.csv\"}")
    if files and not local_files:
        raise InvalidInput("the line uploads local files: allow it with --local-files (local_files=True)")
    for field_name, where in files.items():
        if not os.path.isfile(where):
            raise InvalidInput(f"no such file for {field_name!r}: {where}")
    return ActionLine(action.strip(), data, files)


def batch(client: CkanLowlevelClient, path: str | Path, output: str | Path = "-", *, concurrency: int = 1,
          resume: bool = False, checkpoint: str | Path | None = None, local_files: bool = False,
          progress: Progress | None = None, report: Report | None = None) -> Report:
    """Run the action of each line of ``path`` (JSON Lines, ``-``: stdin) and write each result to
    ``output``; see the module documentation. The report counts the actions run by name."""
    report = report or Report("")
    report.operation = "batch"
    marks = Checkpoint.beside(path, checkpoint, resume)

    def read(number: int, value: Any) -> ActionLine | Failure:
        """The line's action, or why it has none (reported in its turn, in the input's order)."""
        failure = Failure.of_line("batch", None, number, value)
        if failure is not None:
            return failure
        try:
            return action_line(value, local_files=local_files)
        except InvalidInput as error:
            return Failure.of("batch", None, error, line=number, record=value)

    def tasks() -> Iterator[tuple[int, Any, ActionLine | Failure]]:
        for number, value in read_jsonl(path):
            if number in marks.done:
                report.count("skipped (done before)")
            else:
                yield number, value, read(number, value)

    def call(task: tuple[int, Any, ActionLine | Failure]) -> Any:
        line = task[2]
        if isinstance(line, Failure):
            return None
        return client.call_action(line.action, line.data, files=dict(line.files) or None)

    with Measure(report, client.transport):
        try:
            client.check_token()
            results = TextOutput(output, resume=resume)
            report.details["output"] = str(output)
            try:
                for (number, record, line), outcome in run_concurrently(tasks(), call, concurrency=concurrency,
                                                                        ordered=True):
                    if isinstance(line, Failure):
                        report.add(line)
                    elif isinstance(outcome, Exception):
                        failure = Failure.of(line.action, line.ref, outcome, line=number, record=record)
                        if not is_read_only(line.action) and outcome_unknown(outcome):
                            failure.reason += " (the write may have been applied: look before running it again)"
                        report.add(failure)
                    else:
                        results.write({"line": number, "action": line.action, "result": outcome})
                        report.count(line.action)
                        marks.mark(number)
                    if progress is not None:
                        progress.advance(1)
            except KeyboardInterrupt:
                results.abandon()
                raise Interrupted(report, results.where) from None
            except BaseException:
                results.abandon()
                raise
            results.commit()
        finally:
            marks.close()
    return report
