"""Bulk execution: run many CKAN calls with bounded concurrency over one shared client session.

:func:`run_concurrently` is the one worker loop that the sync client and every bulk command
use: at most ``concurrency`` calls in flight, at most ``2 × concurrency`` tasks taken from the
input ahead of time (so a huge input is streamed, not loaded), results yielded as they finish or,
with ``ordered=True``, in input order. A task that raises does not stop the others: its exception
is yielded as its outcome.
"""

from __future__ import annotations

import collections
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Iterable, Iterator, TypeVar, Union

__all__ = ["run_concurrently", "Outcome"]

T = TypeVar("T")
R = TypeVar("R")

Outcome = Union[R, BaseException]


def run_concurrently(tasks: Iterable[T], worker: Callable[[T], R], *, concurrency: int = 4,
                     ordered: bool = False) -> Iterator[tuple[T, "R | Exception"]]:
    """Yield ``(task, result)`` for each task, ``result`` being the worker's return or its exception."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    window = concurrency * 2
    iterator = iter(tasks)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ckan-bulk") as pool:
        pending: collections.deque[tuple[T, Future[R]]] = collections.deque()

        def fill() -> None:
            while len(pending) < window:
                try:
                    task = next(iterator)
                except StopIteration:
                    return
                pending.append((task, pool.submit(worker, task)))

        def outcome(future: Future[R]) -> "R | Exception":
            error = future.exception()
            if error is not None:
                if not isinstance(error, Exception):
                    raise error  # KeyboardInterrupt, SystemExit: stop everything
                return error
            return future.result()

        fill()
        while pending:
            if ordered:
                task, future = pending.popleft()
                yield task, outcome(future)
            else:
                done, _ = wait([f for _, f in pending], return_when=FIRST_COMPLETED)
                finished = [(t, f) for t, f in pending if f in done]
                for item in finished:
                    pending.remove(item)
                for task, future in finished:
                    yield task, outcome(future)
            fill()
