"""Waiting for real processes: poll a condition until a deadline, never a bare sleep."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Call `condition` until it returns something truthy, and return that.

    Args:
        condition: a function of no arguments, called every `interval` seconds.
        timeout: seconds to keep trying.
        what: what is awaited, in words, for the failure message.
        interval: seconds between two calls.

    Raises:
        AssertionError: `condition` was still falsy after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}; last value: {value!r}")
        time.sleep(interval)  # the pause between two polls, not a synchronisation


def wait_for(probe: Callable[[], T], wanted: Callable[[T], bool], timeout: float, what: str) -> T:
    """Call `probe` until `wanted` holds for what it returns, and return that (`wait_until`).

    Raises:
        AssertionError: not so after `timeout` seconds; the last value is in the message.
    """
    seen: list[T] = []

    def reached() -> bool:
        seen[:] = [probe()]
        return wanted(seen[0])

    try:
        wait_until(reached, timeout, what)
    except AssertionError as error:
        raise AssertionError(f"{error}; last seen: {seen[0]!r}") from None
    return seen[0]
