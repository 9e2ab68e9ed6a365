"""store/'s read side against real Postgres: what the demo's closing summary counts (plays by
status, each play's first why, escalations, messages delivered) for the accounts it ran."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from activities.models import OutboxMessage, PlayFinished, PlayStarted, TaskSpec
from store import outbox, plays, tasks

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _play(account: str, run: str, why: str, at: datetime) -> PlayStarted:
    return PlayStarted(
        play_id=f"play-{account}",
        run_id=run,
        account_id=account,
        play="health_recovery",
        cause="green-yellow",
        title="Recover",
        why=why,
        started_at=at,
    )


def _task(account: str, step: str, escalation_of: int | None = None) -> TaskSpec:
    return TaskSpec(
        idempotency_key=f"play-{account}/r1/{step}",
        play_id=f"play-{account}",
        account_id=account,
        step=step,
        title=step,
        assignee_role="csm",
        csm="dana",
        due_at=NOW,
        escalation_of=escalation_of,
    )


async def test_the_summary_counts_only_the_accounts_and_time_asked_for(
    pool: asyncpg.Pool,
) -> None:
    mine, other = (f"acct-{uuid.uuid4().hex[:8]}" for _ in range(2))
    since = datetime.now(UTC) - timedelta(minutes=1)
    await plays.record_started(pool, _play(mine, "r0", "before the run", since - timedelta(1)))
    await plays.record_started(pool, _play(mine, "r1", "health fell", since + timedelta(1)))
    await plays.record_started(pool, _play(mine, "r2", "fell again", since + timedelta(2)))
    await plays.record_finished(
        pool,
        PlayFinished(
            play_id=f"play-{mine}",
            run_id="r1",
            status="exited",
            outcome="health is green",
            ended_at=since + timedelta(3),
        ),
    )
    await plays.record_started(pool, _play(other, "r1", "not ours", since + timedelta(1)))
    first = await tasks.create_task(pool, _task(mine, "call"))
    await tasks.create_task(pool, _task(mine, "call-escalated", escalation_of=first.id))
    await tasks.create_task(pool, _task(other, "call-escalated", escalation_of=first.id))
    for n in range(2):
        message_id = await outbox.enqueue(
            pool,
            OutboxMessage(
                idempotency_key=f"{mine}/m{n}",
                play_id=f"play-{mine}",
                account_id=mine,
                recipient="dana@example.com",
                subject="s",
                body="b",
            ),
        )
        if n == 0:
            async with pool.acquire() as conn:
                await outbox.mark_sent(conn, message_id)

    assert await plays.runs_by_status(pool, [mine], since) == [
        ("health_recovery", "exited", 1),
        ("health_recovery", "running", 1),
    ]
    assert await plays.first_whys(pool, [mine], since) == [("health_recovery", mine, "health fell")]
    assert await tasks.count_escalations(pool, [mine], since) == 1
    assert await outbox.count_sent(pool, [mine], since) == 1
