"""The relay loop: one pass over the inbox after another, until asked to stop.

It knows nothing of what a pass does (`starter.ingress.inbox.run_relay` hands it one), only
when to run the next: at once after a pass that got through its rows, else after `interval`.
Postgres being away is not the relay's end: it logs, waits and tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from store.errors import DB_ERRORS

log = structlog.get_logger(__name__)


async def relay(
    one_pass: Callable[[], Awaitable[bool]], *, stop: asyncio.Event, interval: float
) -> None:
    """Run `one_pass` until `stop` is set; a pass that says True (more may be due) is
    followed at once by the next."""
    log.info("inbox relay running", interval=interval)
    while not stop.is_set():
        busy = False
        try:
            busy = await one_pass()
        except DB_ERRORS as err:
            log.warning("inbox relay could not reach Postgres", error=str(err))
        except Exception:  # only `stop` ends the relay: a dead one strands accepted events
            log.exception("inbox relay pass failed; trying again")
        if not busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    log.info("inbox relay stopped")
