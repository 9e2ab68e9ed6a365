"""Waiting without sleeping blind: poll a condition against a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    within: float = 30.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call `probe` until `until(result)` holds; fail with the last result after `within` s."""
    deadline = time.monotonic() + within
    while True:
        result = await probe()
        if until(result):
            return result
        if time.monotonic() > deadline:
            last = repr(result)
            last = last if len(last) < 600 else last[:600] + "…"
            raise AssertionError(f"timed out after {within}s waiting for {what}; last: {last}")
        await asyncio.sleep(interval)  # allowed: polling interval between probes, not a sync
