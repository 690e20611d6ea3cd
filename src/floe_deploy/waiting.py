"""Waiting for a condition: one tenacity policy (fixed interval, deadline) for every poll."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

T = TypeVar("T")


def poll(check: Callable[[], T | None], *, timeout: float, interval: float) -> T | None:
    """Call `check` every `interval` seconds until it returns something other than None; None
    when `timeout` seconds pass first. Exceptions from `check` propagate at once."""
    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_result(lambda result: result is None),
        retry_error_callback=lambda _: None,
    )
    return retrying(check)
