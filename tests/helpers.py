"""What the integration tests say again and again, said once: a test's journeys (started on
its task queue, ended when it is over), the journey state, the tasks and the messages of the
accounts a test made, and the events a CRM sends."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import asyncpg
import httpx
from fastapi import FastAPI
from temporalio.client import Client

from activities.models import TaskRow
from starter.journeys import JourneyError, Started, end_journey, is_running, journey_state
from starter.journeys import start_journey as start_journey_for
from store.tasks import list_tasks
from worker import build_worker
from workflows.journey.messages import HealthMeasured, KeyContactChanged
from workflows.journey.state import JourneyState
from workflows.journey.workflow import journey_id
from workflows.models import Account, Contact
from workflows.policy import Policy

# A journey that will not end is a bug in the test run, not something to wait out forever.
END_WITHIN = 60.0


class Journeys:
    """The journeys of one test (the `journeys` fixture): started on the test's task queue,
    and ended when the test is over, so the session's server does not keep them running.

    Ending needs a worker on the queue. The test's own worker may be gone by then (a stand-in
    worker the test ran in an `async with`, a worker process it killed), so the ends run in a
    worker of their own, one per client the journeys were started with (an encrypted client
    needs a worker holding its key)."""

    def __init__(self, client: Client, pool: asyncpg.Pool, task_queue: str, policy: Policy):
        self.client = client
        self.pool = pool
        self.task_queue = task_queue
        self.policy = policy
        self._ours: dict[str, Client] = {}

    async def start(
        self,
        account: Account,
        *,
        day_seconds: float,
        policy: Policy | None = None,
        client: Client | None = None,
    ) -> Started:
        """Start the account's journey as the product does (`starter.journeys.start_journey`)."""
        client = client or self.client
        self.adopt(account.account_id, client)
        return await start_journey_for(
            client,
            account,
            policy or self.policy,
            task_queue=self.task_queue,
            day_seconds=day_seconds,
        )

    def adopt(self, account_id: str, client: Client | None = None) -> None:
        """End this account's journey too when the test is over: one the test starts some
        other way (`POST /contracts`, the demo's API client)."""
        self._ours[account_id] = client or self.client

    async def end_the_running(self) -> None:
        running = [
            (account_id, client)
            for account_id, client in self._ours.items()
            if await _running(client, account_id)
        ]
        if not running:
            return
        clients = list({id(c): c for _, c in running}.values())
        async with AsyncExitStack() as workers:
            for c in clients:
                # A connection of its own: the SDK allows one worker per queue and connection,
                # and the test's worker may still hold this client's.
                own = await Client.connect(
                    c.service_client.config.target_host,
                    namespace=c.namespace,
                    data_converter=c.data_converter,
                )
                await workers.enter_async_context(build_worker(own, self.pool, self.task_queue))
            async with asyncio.timeout(END_WITHIN):
                await asyncio.gather(*(_end(c, account_id) for account_id, c in running))


async def _running(client: Client, account_id: str) -> bool:
    try:
        return await is_running(client, account_id)
    except JourneyError as err:
        if err.kind == "unknown_account":  # adopted, but its start was refused
            return False
        raise


async def _end(client: Client, account_id: str) -> None:
    await end_journey(client, account_id, "ended", "test over")
    await client.get_workflow_handle(journey_id(account_id)).result()


async def state_of(client: Client, account: Account | str) -> JourneyState:
    """The journey's state, as `waypost status` and the API read it."""
    account_id = account if isinstance(account, str) else account.account_id
    return await journey_state(client, account_id)


async def states_of(client: Client, accounts: list[Account]) -> list[JourneyState]:
    return [await state_of(client, a) for a in accounts]


async def tasks_of(
    pool: asyncpg.Pool, *accounts: Account, play_id: str | None = None
) -> list[TaskRow]:
    """Every task of these accounts (any status), soonest due first per account; only the
    play's when `play_id` is given."""
    rows = [
        row
        for a in accounts
        for row in await list_tasks(pool, account_id=a.account_id, status=None)
    ]
    return [r for r in rows if play_id is None or r.play_id == play_id]


async def outbox_of(
    pool: asyncpg.Pool, account: Account, *, play_id: str | None = None
) -> list[asyncpg.Record]:
    """The account's queued messages in the order they were queued; only the play's when
    `play_id` is given."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT idempotency_key, play_id, recipient, subject, status FROM outbox "
            "WHERE account_id = $1 ORDER BY id",
            account.account_id,
        )
    return [r for r in rows if play_id is None or r["play_id"] == play_id]


def champion(slug: str, name: str = "Casey Champion", email: str | None = None) -> Contact:
    """A key contact `<slug>-champion`: when one leaves, the new_stakeholder play starts."""
    return Contact(
        contact_id=f"{slug}-champion", name=name, email=email, persona="champion", key=True
    )


def new_stakeholder_play(account: Account) -> str:
    """The workflow id of the play its first contact's leaving starts."""
    return f"play-{account.account_id}-new_stakeholder-{account.contacts[0].contact_id}"


def contact_left(
    contact_id: str, *, event_id: str | None = None, at: datetime | None = None
) -> KeyContactChanged:
    """A CRM says the champion left (a new event id each time unless one is given)."""
    return KeyContactChanged(
        event_id=event_id or uuid.uuid4().hex,
        occurred_at=at or datetime.now(UTC),
        contact_id=contact_id,
        change="left",
        persona="champion",
    )


def measured(
    measure: str, value: float, *, at: datetime | None = None, event_id: str | None = None
) -> HealthMeasured:
    """A health measure taken now (or `at`), under a new event id unless one is given."""
    return HealthMeasured(
        event_id=event_id or uuid.uuid4().hex,
        occurred_at=at or datetime.now(UTC),
        measure=measure,
        value=value,
    )


def http_to(app: FastAPI) -> httpx.AsyncClient:
    """An HTTP client that calls the app in-process, without a server."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
