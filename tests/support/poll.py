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
