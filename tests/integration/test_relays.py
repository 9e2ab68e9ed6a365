"""The background relays outlive any error: a relay that dies leaves play messages unsent
(or accepted webhooks undelivered) until someone restarts the process."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from activities.models import OutboxMessage
from activities.notify import run_relay
from store import outbox
from store.outbox import Outgoing

pytestmark = pytest.mark.integration


async def test_the_outbox_relay_outlives_a_delivery_that_breaks(pool: asyncpg.Pool) -> None:
    account_id = f"acct-{uuid.uuid4().hex[:10]}"
    await outbox.enqueue(
        pool,
        OutboxMessage(
            idempotency_key=f"{account_id}/relay-test",
            play_id=f"play-{account_id}",
            account_id=account_id,
            recipient="dana",
            subject="Call the sponsor",
            body="The champion left.",
        ),
    )
    attempts: list[int] = []
    delivered = asyncio.Event()

    async def deliver(message: Outgoing) -> None:
        if message.account_id != account_id:
            return  # another test's leftover: not this test's business
        attempts.append(message.id)
        if len(attempts) == 1:
            raise RuntimeError("a receiver bug, not a network error")
        delivered.set()

    stop = asyncio.Event()
    relay = asyncio.create_task(run_relay(pool, deliver, stop, interval=0.05))
    try:
        async with asyncio.timeout(30):
            await delivered.wait()
    finally:
        stop.set()
        await asyncio.wait_for(relay, timeout=10)
    assert len(attempts) == 2
    assert len(set(attempts)) == 1  # the same message, tried again after the failure
