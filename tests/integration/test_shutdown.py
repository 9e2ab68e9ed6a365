"""Graceful shutdown: SIGTERM to a `python worker.py` in the middle of an activity and of an
outbox delivery. Both finish, the worker exits 0, and the next worker carries on: every task
and message exists once, and every message is delivered once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
from fastapi import FastAPI, Request, Response
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from starter.api.serve import running
from starter.journeys import send_event
from starter.tasks import mark_task_done
from tests.helpers import (
    Journeys,
    champion,
    contact_left,
    new_stakeholder_play,
    outbox_of,
    state_of,
    tasks_of,
)
from tests.waiting import eventually
from workflows.journey import names
from workflows.models import Account

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
Start = Callable[..., subprocess.Popen[bytes]]


class Receiver:
    """Where the relay POSTs messages: counts each message id, and holds the account's
    messages until released, so the test can stop a worker mid-delivery."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.received: Counter[str] = Counter()
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        self.app = FastAPI()
        self.app.add_api_route("/messages", self.receive, methods=["POST"])

    async def receive(self, request: Request) -> Response:
        message = await request.json()
        if message["account_id"] == self.account_id and not self.release.is_set():
            self.holding.set()
            await self.release.wait()
        self.received[request.headers["x-waypost-message-id"]] += 1
        return Response(status_code=204)


@pytest.fixture
async def tasks_locked(pool: asyncpg.Pool) -> AsyncIterator[asyncio.Event]:
    """Hold a lock that makes every insert into `tasks` wait, until the event is set."""
    release = asyncio.Event()
    locked = asyncio.Event()

    async def hold() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("LOCK TABLE tasks IN EXCLUSIVE MODE")
            locked.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.wait_for(locked.wait(), timeout=10)
    yield release
    release.set()
    await holder


async def _waiting_on_tasks(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        waiting: int = await conn.fetchval(
            """SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                WHERE c.relname = 'tasks' AND NOT l.granted
                  AND l.database = (SELECT oid FROM pg_database
                                     WHERE datname = current_database())"""
        )
    return waiting


async def _log(path: Path) -> str:
    return await asyncio.to_thread(path.read_text)


async def test_sigterm_mid_activity_and_mid_delivery_loses_and_doubles_nothing(
    client: Client,
    pool: asyncpg.Pool,
    journeys: Journeys,
    make_account: Callable[..., Account],
    worker_process: Start,
    tasks_locked: asyncio.Event,
    tmp_path: Path,
) -> None:
    account = make_account(contacts=(champion("s", name="Sam"),))
    play_id = new_stakeholder_play(account)
    receiver = Receiver(account.account_id)
    async with running(receiver.app) as base:
        hooks = {
            "WAYPOST_NOTIFY_WEBHOOK_URL": f"{base}/messages",
            "WAYPOST_GRACEFUL_SHUTDOWN_SECONDS": "30",
        }
        first = worker_process(**hooks)
        await journeys.start(account, day_seconds=5.0)
        await send_event(
            client, account.account_id, names.KEY_CONTACT_CHANGED, contact_left("s-champion")
        )
        # The play's first message is out for delivery (held by the receiver) and its first
        # task's insert waits on the lock: both are in flight in the first worker.
        await asyncio.wait_for(receiver.holding.wait(), timeout=60)
        await eventually(lambda: _waiting_on_tasks(pool), bool, what="create_task in flight")

        first.send_signal(signal.SIGTERM)
        first_log = tmp_path / "worker-0.log"
        await eventually(
            lambda: _log(first_log),
            lambda text: "worker stopping" in text,
            what="the worker to start its graceful stop",
        )
        assert first.poll() is None, "it must wait for what is in flight"
        tasks_locked.set()
        receiver.release.set()
        code = await asyncio.to_thread(first.wait, 60)
        assert code == 0, (await _log(first_log))[-3000:]
        assert "worker stopped" in await _log(first_log)

        # The activity in flight completed on its first attempt, in the worker that stopped.
        started, completed = await _create_task_attempts(client, play_id)
        assert started == [(1, f"{first.pid}@")], "retried, or never finished"
        assert completed == 1
        [connect] = [t for t in await tasks_of(pool, account) if t.play_id == play_id]
        assert connect.step == "connect"

        worker_process(**hooks)
        rows = await eventually(
            lambda: tasks_of(pool, account),
            lambda ts: len([t for t in ts if t.play_id == play_id]) == 3,
            within=60,
            what="the next worker to carry the play on",
        )
        for t in rows:
            if t.play_id == play_id:
                await mark_task_done(client, pool, t.id, "dana")
        await eventually(
            lambda: state_of(client, account),
            lambda s: bool(s.play_runs) and play_id not in s.open_plays,
            within=60,
            what="the play to complete",
        )
        messages = await eventually(
            lambda: outbox_of(pool, account, play_id=play_id),
            lambda rows: {r["status"] for r in rows} == {"sent"},
            what="every message sent",
        )

    rows = [t for t in await tasks_of(pool, account) if t.play_id == play_id]
    assert sorted(t.step for t in rows) == ["confirm_buy_in", "connect", "train"]
    keys = [m["idempotency_key"] for m in messages]
    assert len(keys) == len(set(keys)) == 2
    # Delivered once each: the held delivery finished in the stopping worker and was not
    # sent again by the next one.
    assert {k: receiver.received[k] for k in keys} == dict.fromkeys(keys, 1)


async def _create_task_attempts(client: Client, play_id: str) -> tuple[list[tuple[int, str]], int]:
    """(attempt, worker identity prefix) of each create_task start, and how many completed."""
    history = await client.get_workflow_handle(play_id).fetch_history()
    create_task = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "create_task"
    }
    started = [
        (
            e.activity_task_started_event_attributes.attempt,
            e.activity_task_started_event_attributes.identity.split("@")[0] + "@",
        )
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in create_task
    ]
    failed_or_timed_out = [
        e
        for e in history.events
        if e.event_type
        in (EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED, EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT)
    ]
    assert failed_or_timed_out == []
    completed = sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and e.activity_task_completed_event_attributes.scheduled_event_id in create_task
    )
    return started, completed
