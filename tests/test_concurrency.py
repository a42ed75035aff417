"""The one worker loop: bounded, streamed, and cancelled when the caller stops or a worker fails fatally."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from ckan_api_client.blocking.concurrency import Runner, alongside, run_concurrently, until_failed


def test_bounds_the_work_in_flight_and_keeps_going() -> None:
    running, peak = 0, 0
    lock = threading.Lock()

    def work(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        if n % 5 == 0:
            raise ValueError(f"bad {n}")
        return n * 2

    outcomes = list(run_concurrently(range(40), work, concurrency=3, ordered=True))
    assert [task for task, _ in outcomes] == list(range(40))
    assert peak <= 3
    assert all(isinstance(o, ValueError) if t % 5 == 0 else o == t * 2 for t, o in outcomes)


def test_an_endless_input_is_streamed_not_loaded() -> None:
    taken = []

    def tasks() -> itertools.count[int]:
        for n in itertools.count():
            taken.append(n)
            yield n  # type: ignore[misc]

    results = run_concurrently(tasks(), lambda n: n, concurrency=2)
    first = [next(results) for _ in range(10)]
    results.close()  # type: ignore[attr-defined]
    assert len(first) == 10 and len(taken) <= 10 + 2 * 2 + 1


def test_stopping_to_consume_cancels_what_is_queued() -> None:
    started = []

    def work(n: int) -> int:
        started.append(n)
        time.sleep(0.05)
        return n

    results = run_concurrently(range(100), work, concurrency=2, ordered=True)
    assert next(results) == (0, 0)
    results.close()  # type: ignore[attr-defined]
    time.sleep(0.2)
    assert len(started) <= 4  # the two running when the caller stopped, and nothing queued after


def test_a_fatal_error_stops_the_run_and_reaches_the_caller() -> None:
    started = []

    def work(n: int) -> int:
        started.append(n)
        if n == 3:
            raise KeyError("fatal")
        time.sleep(0.02)
        return n

    runner = Runner(range(200), work, concurrency=2, fatal=(KeyError,))
    with pytest.raises(KeyError):
        list(runner)
    assert runner.stopping.is_set() and len(started) < 20


def test_a_bad_concurrency_is_refused() -> None:
    with pytest.raises(ValueError):
        list(run_concurrently([1], lambda n: n, concurrency=0))


def test_a_call_alongside_stops_a_long_read_as_soon_as_it_fails() -> None:
    """The engines check a token while they read: a refusal ends the read at the next record, not at its end."""
    refused = threading.Event()

    def check() -> None:
        refused.wait(5)
        raise PermissionError("token refused")

    def records() -> itertools.count[int]:
        for n in itertools.count():
            if n == 3:
                refused.set()
                time.sleep(0.2)  # the check fails while record 3 is read: it is not handed on
            yield n

    read = []
    with pytest.raises(PermissionError, match="token refused"):
        with alongside(check) as checked:
            for n in until_failed(records(), checked):
                read.append(n)
    assert read == [0, 1, 2]  # an endless source, stopped

    with alongside(lambda: 42) as answered:
        assert list(until_failed(range(5), answered)) == [0, 1, 2, 3, 4]
        assert answered.result() == 42
