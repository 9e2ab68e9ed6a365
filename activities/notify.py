"""The outbox relay: delivers messages plays queued, and marks them sent (store/outbox.py).

Plays never talk to the outside world themselves; they write to the outbox (idempotently),
and this relay, running in every worker, delivers. Several relays may run at once: rows are
claimed with `FOR UPDATE SKIP LOCKED`. Delivery is at least once; each message carries its
idempotency key (`X-Waypost-Message-Id`) so a receiver can drop a repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import structlog

from store import outbox
from store.errors import DB_ERRORS
from store.outbox import Outgoing

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 8

Deliver = Callable[[Outgoing], Awaitable[None]]


async def deliver_to_log(message: Outgoing) -> None:
    log.info(
        "message delivered",
        account_id=message.account_id,
        play_id=message.play_id,
        to=message.recipient,
        subject=message.subject,
    )


def webhook_delivery(url: str, client: httpx.AsyncClient) -> Deliver:
    async def deliver(message: Outgoing) -> None:
        response = await client.post(
            url,
            json=message.model_dump(),
            headers={"X-Waypost-Message-Id": message.idempotency_key},
        )
        response.raise_for_status()

    return deliver


async def relay_once(pool: asyncpg.Pool, deliver: Deliver, batch: int = 50) -> int:
    """Deliver up to `batch` pending messages; returns how many were sent."""
    sent = 0
    async with pool.acquire() as conn, conn.transaction():
        for message in await outbox.claim_pending(conn, batch):
            try:
                await deliver(message)
            except Exception as err:  # any delivery error is a failed attempt, counted
                error = str(err) or type(err).__name__
                await outbox.mark_failed_attempt(conn, message.id, error, MAX_ATTEMPTS)
                log.warning("message delivery failed", message_id=message.id, error=error)
                continue
            await outbox.mark_sent(conn, message.id)
            sent += 1
    return sent


async def run_relay(
    pool: asyncpg.Pool, deliver: Deliver, stop: asyncio.Event, interval: float = 1.0
) -> None:
    """Relay until `stop` is set; finishes the batch in hand first. Nothing but `stop` ends
    it: a relay that died would leave every play message unsent until a restart."""
    while not stop.is_set():
        try:
            sent = await relay_once(pool, deliver)
        except DB_ERRORS as err:
            log.warning("outbox relay: database unavailable", error=str(err))
            sent = 0
        except Exception:
            log.exception("outbox relay pass failed; trying again")
            sent = 0
        if sent == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
