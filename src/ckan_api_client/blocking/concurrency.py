"""Bounded concurrency: the one worker loop under the bulk engine, the sync client and the DataStore helpers.

[`run_concurrently`][ckan_api_client.blocking.concurrency.run_concurrently] runs a worker over a stream of tasks with at most ``concurrency`` calls
in flight and at most ``2 × concurrency`` tasks taken from the input ahead of time (so a huge
input is streamed, not loaded), yielding ``(task, outcome)`` as tasks finish or, with
``ordered=True``, in input order. A task that raises an ``Exception`` does not stop the others:
the exception is yielded as its outcome, unless it is one of the ``fatal`` types.

It stops handing out work, and cancels every task still queued, when the caller stops consuming
(closes the generator, breaks out of its loop, or is interrupted), when a worker raises a fatal
error (re-raised to the caller), or on ``KeyboardInterrupt``. Workers already running finish
their current call; a long worker can watch `Runner.stopping` to end early.

[`alongside`][ckan_api_client.blocking.concurrency.alongside] runs one call while the caller goes on (the
engines check a token while they read, instead of before: two round trips fewer on a distant portal).
"""

from __future__ import annotations

import collections
import threading
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar

__all__ = ["alongside", "run_concurrently", "Runner", "until_failed"]

T = TypeVar("T")
R = TypeVar("R")


class Runner(Generic[T, R]):
    """One run of a worker over tasks; iterate it for ``(task, outcome)`` pairs."""

    def __init__(self, tasks: Iterable[T], worker: Callable[[T], R], *, concurrency: int = 4,
                 ordered: bool = False, fatal: tuple[type[BaseException], ...] = ()) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.tasks = tasks
        self.worker = worker
        self.concurrency = concurrency
        self.ordered = ordered
        self.fatal = fatal
        self.stopping = threading.Event()
        """Set when the run is being stopped: a long worker may check it and return early."""

    def __iter__(self) -> Iterator[tuple[T, "R | Exception"]]:
        window = self.concurrency * 2
        iterator = iter(self.tasks)
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="ckan-worker")
        pending: collections.deque[tuple[T, Future[R]]] = collections.deque()

        def fill() -> None:
            while len(pending) < window and not self.stopping.is_set():
                try:
                    task = next(iterator)
                except StopIteration:
                    return
                pending.append((task, pool.submit(self.worker, task)))

        def is_fatal(error: BaseException) -> bool:
            """KeyboardInterrupt, SystemExit, or what the caller calls fatal: it stops everything."""
            return not isinstance(error, Exception) or isinstance(error, self.fatal)

        def outcome(future: Future[R]) -> "R | Exception":
            error = future.exception()
            if error is None:
                return future.result()
            if isinstance(error, Exception) and not is_fatal(error):
                return error
            raise error

        def head_or_fatal() -> tuple[T, Future[R]]:
            """The first task once it is done; a fatal error of any task raised as soon as it comes, not
            after the tasks before it (a dump's last range failing stops the walks of the first ones)."""
            head = pending[0][1]
            while not head.done():
                wait([f for _, f in pending if not f.done()], return_when=FIRST_COMPLETED)
                for _, future in pending:
                    error = future.exception() if future.done() and not future.cancelled() else None
                    if error is not None and is_fatal(error):
                        raise error
            return pending.popleft()

        interrupted = False
        try:
            fill()
            while pending:
                if self.ordered:
                    finished = [head_or_fatal()]
                else:
                    done, _ = wait([f for _, f in pending], return_when=FIRST_COMPLETED)
                    finished = [(t, f) for t, f in pending if f in done]
                    for item in finished:
                        pending.remove(item)
                for task, future in finished:
                    yield task, outcome(future)
                fill()
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            # Normal end, the caller stopped consuming, a fatal error or an interrupt: hand out
            # nothing more and drop what is queued; running calls end on their own.
            self.stopping.set()
            for _, future in pending:
                future.cancel()
            pool.shutdown(wait=not interrupted, cancel_futures=True)  # Ctrl-C does not wait for slow calls


def run_concurrently(tasks: Iterable[T], worker: Callable[[T], R], *, concurrency: int = 4,
                     ordered: bool = False,
                     fatal: tuple[type[BaseException], ...] = ()) -> Iterator[tuple[T, "R | Exception"]]:
    """Yield ``(task, outcome)`` for each task, ``outcome`` being the worker's return or its exception.

    See the module documentation: bounded, streamed, and cancelled when the caller stops
    consuming or a worker raises one of the ``fatal`` exception types.
    """
    return iter(Runner(tasks, worker, concurrency=concurrency, ordered=ordered, fatal=fatal))


@contextmanager
def alongside(call: Callable[[], R]) -> Iterator["Future[R]"]:
    """Run ``call`` in a thread while the block goes on; the block takes ``.result()`` where it needs the
    outcome (the call's error is raised there). Leaving the block waits for the call to end."""
    with ThreadPoolExecutor(1, thread_name_prefix="ckan-alongside") as pool:
        yield pool.submit(call)


def until_failed(items: Iterable[T], call: "Future[Any]") -> Iterator[T]:
    """``items`` one by one, stopped with the error of ``call`` (run
    [`alongside`][ckan_api_client.blocking.concurrency.alongside]) as soon as it has failed: a long read
    learns of a refused token at once, not at its end."""
    for item in items:
        if call.done() and call.exception() is not None:
            call.result()
        yield item
