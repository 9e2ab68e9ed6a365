"""Many workers: two `python worker.py` processes on one task queue share the journeys, and
when one is killed outright the other finishes everything, each effect exactly once."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from starter.journeys import send_event
from starter.tasks import mark_task_done
from tests.helpers import (
    Journeys,
    champion,
    contact_left,
    new_stakeholder_play,
    states_of,
    tasks_of,
)
from tests.waiting import eventually
from workflows.journey import names
from workflows.journey.workflow import journey_id
from workflows.models import Account

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
JOURNEYS = 6


async def _pollers(client: Client, task_queue: str) -> set[str]:
    """Worker processes (pids) polling the queue's workflow tasks."""
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {p.identity.split("@")[0] for p in described.pollers}


async def _identities(client: Client, workflow_ids: list[str]) -> set[str]:
    """Which worker processes (pids) completed workflow tasks or ran activities."""
    seen: set[str] = set()
    for wid in workflow_ids:
        async for e in client.get_workflow_handle(wid).fetch_history_events():
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                seen.add(e.workflow_task_completed_event_attributes.identity.split("@")[0])
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                seen.add(e.activity_task_started_event_attributes.identity.split("@")[0])
    return seen


async def test_two_workers_share_the_load_and_lose_nothing_when_one_is_killed(
    client: Client,
    pool: asyncpg.Pool,
    task_queue: str,
    journeys: Journeys,
    make_account: Callable[..., Account],
    worker_process: Callable[[], subprocess.Popen[bytes]],
) -> None:
    workers = [worker_process(), worker_process()]
    pids = {str(w.pid) for w in workers}
    await eventually(
        lambda: _pollers(client, task_queue),
        lambda polling: pids <= polling,
        within=60,
        what="both workers polling the task queue",
    )

    accounts = [make_account(contacts=(champion(f"c{i}", name=f"C{i}"),)) for i in range(JOURNEYS)]
    for account in accounts:
        await journeys.start(account, day_seconds=5.0)
        await send_event(
            client,
            account.account_id,
            names.KEY_CONTACT_CHANGED,
            contact_left(account.contacts[0].contact_id),
        )
    plays = {new_stakeholder_play(a) for a in accounts}
    await eventually(
        lambda: tasks_of(pool, *accounts),
        lambda rows: {r.play_id for r in rows} >= plays,
        within=60,
        what="every play's first task",
    )
    everything = [journey_id(a.account_id) for a in accounts] + sorted(plays)
    assert await _identities(client, everything) >= pids, "one worker did all the work"

    # One worker dies mid-run, with journeys cached on it and plays in progress.
    workers[0].kill()
    workers[0].wait(timeout=10)

    rows = await eventually(
        lambda: tasks_of(pool, *accounts),
        lambda rows: len([r for r in rows if r.play_id in plays]) == 3 * JOURNEYS,
        within=90,
        what="the survivor to create every play's tasks",
    )
    for r in rows:
        if r.play_id in plays:
            await mark_task_done(client, pool, r.id, "dana")
    await eventually(
        lambda: states_of(client, accounts),
        lambda states: all(
            s.play_runs and not ({new_stakeholder_play(a) for a in accounts} & set(s.open_plays))
            for s in states
        ),
        within=90,
        what="every play to complete and tell its journey",
    )

    rows = [r for r in await tasks_of(pool, *accounts) if r.play_id in plays]
    for play_id in plays:
        mine = [r for r in rows if r.play_id == play_id]
        assert sorted(r.step for r in mine) == ["confirm_buy_in", "connect", "train"]
        assert {r.status for r in mine} == {"done"}
    async with pool.acquire() as conn:
        messages = await conn.fetch(
            "SELECT play_id, idempotency_key FROM outbox WHERE play_id = ANY($1::text[])",
            sorted(plays),
        )
    keys = [m["idempotency_key"] for m in messages]
    assert len(keys) == len(set(keys)) == 2 * JOURNEYS
