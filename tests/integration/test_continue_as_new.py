"""Continue-as-new under load: no event lost, none applied twice, state carried whole.

A server of its own, told to suggest continue-as-new after 50 history events, so a journey
rolls over several times while a burst of events arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from temporalio.client import Client

from devtools.infra import TemporalServer, free_port
from runtime.search_attributes import ensure_search_attributes
from runtime.temporal import connect
from starter.journeys import send_event
from starter.tasks import mark_task_done
from store.tasks import list_tasks
from tests.helpers import Journeys, champion, contact_left, new_stakeholder_play, state_of
from tests.histories import save_history
from tests.waiting import eventually
from worker import build_worker
from workflows.journey import names
from workflows.journey.messages import HealthMeasured, UsageReported
from workflows.journey.state import JourneyState
from workflows.journey.workflow import journey_id
from workflows.models import Account

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def small_history_client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    server = TemporalServer.start(
        port=free_port(),
        ui_port=None,
        db_file=None,
        log_file=tmp_path_factory.mktemp("temporal-can") / "temporal.log",
        extra_args=["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=50"],
    )
    try:
        c = await connect(server.address)
        await ensure_search_attributes(c, "default")
        yield c
    finally:
        server.stop()


async def test_events_during_continue_as_new_are_applied_exactly_once(
    small_history_client: Client,
    pool: asyncpg.Pool,
    task_queue: str,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    client = small_history_client
    account = make_account()
    t0 = datetime.now(UTC)
    usage = [
        (names.USAGE_REPORTED, UsageReported(event_id=f"u{i}", occurred_at=t0, persona="admin"))
        for i in range(40)
    ]
    health = [
        (
            names.HEALTH_MEASURED,
            HealthMeasured(
                event_id=f"h{i}",
                occurred_at=t0 + timedelta(seconds=i),
                measure="support",
                value=float(i),
            ),
        )
        for i in range(40)
    ]
    unique = usage + health
    retries = unique[::4]  # every fourth delivered twice, as a CRM retry would

    async with build_worker(client, pool, task_queue):
        await journeys.start(account, day_seconds=30.0, client=client)
        for i in range(0, len(unique), 10):  # bursts of ten, concurrently
            batch = unique[i : i + 10] + retries[i // 4 : i // 4 + 3]
            await asyncio.gather(*(send_event(client, account.account_id, k, e) for k, e in batch))
        sent_retries = sum(len(retries[i // 4 : i // 4 + 3]) for i in range(0, len(unique), 10))

        def settled(s: JourneyState) -> bool:
            ledger = s.ledger
            return ledger.applied + ledger.stale == len(unique) and s.runs >= 2

        state = await eventually(lambda: state_of(client, account), settled, what="all events")
        assert state.ledger.duplicates == sent_retries
        # Health events carry increasing times: whichever arrived last, the newest stands.
        assert state.measures["support"].value == 39.0
        assert state.ledger.applied + state.ledger.stale == 80
        assert state.active_days["admin"]  # usage made it across the runs

        runs = [
            wf
            async for wf in client.list_workflows(
                f"WorkflowId = '{journey_id(account.account_id)}'"
            )
        ]
        first = min(runs, key=lambda wf: wf.start_time)
        await save_history(
            client, journey_id(account.account_id), "continued-as-new-v2", run_id=first.run_id
        )


async def test_a_play_running_across_continue_as_new_reports_to_the_new_run(
    small_history_client: Client,
    pool: asyncpg.Pool,
    task_queue: str,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    client = small_history_client
    account = make_account(contacts=(champion("c", name="C"),))
    play_id = new_stakeholder_play(account)
    async with build_worker(client, pool, task_queue):
        await journeys.start(account, day_seconds=30.0, client=client)
        await send_event(
            client,
            account.account_id,
            names.KEY_CONTACT_CHANGED,
            contact_left("c-champion", event_id="left-1"),
        )
        await eventually(
            lambda: state_of(client, account),
            lambda s: play_id in s.open_plays,
            what="the play to start",
        )
        # Enough events to roll the journey over while its play runs.
        t0 = datetime.now(UTC)
        for i in range(0, 60, 10):
            await asyncio.gather(
                *(
                    send_event(
                        client,
                        account.account_id,
                        names.USAGE_REPORTED,
                        UsageReported(event_id=f"u{i + j}", occurred_at=t0, persona="champion"),
                    )
                    for j in range(10)
                )
            )
        rolled = await eventually(
            lambda: state_of(client, account),
            lambda s: s.runs >= 2,
            what="continue-as-new",
        )
        assert play_id in rolled.open_plays  # carried over

        tasks = await eventually(
            lambda: list_tasks(pool, account_id=account.account_id),  # the open ones
            lambda ts: len([t for t in ts if t.play_id == play_id]) == 3,
            what="the play's tasks",
        )
        for t in tasks:
            if t.play_id == play_id:
                await mark_task_done(client, pool, t.id, "dana")
        done = await eventually(
            lambda: state_of(client, account),
            lambda s: play_id not in s.open_plays,
            what="the new run to hear the play end",
        )
        assert done.runs >= 2
        [run] = [r for r in done.play_runs if r.play == "new_stakeholder"]
        assert run.ended_at is not None
