"""Play effects against real Postgres: each written once, however often a retry repeats it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from activities.models import (
    PlayFinished,
    PlayStarted,
    TaskClose,
    TasksClose,
    TaskSpec,
    TimelineEntry,
)
from activities.plays import PlayActivities
from store.tasks import list_tasks
from store.timeline import fetch_timeline

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _entry(account_id: str, kind: str) -> TimelineEntry:
    return TimelineEntry(
        idempotency_key=f"play-x/{account_id}/{kind}",
        account_id=account_id,
        workflow_id="play-x",
        kind=kind,
        summary=kind.replace("_", " "),
        occurred_at=NOW,
    )


async def test_a_play_start_and_end_write_their_timeline_once_in_one_activity(
    pool: asyncpg.Pool,
) -> None:
    plays, account = PlayActivities(pool), f"acct-{uuid.uuid4().hex[:8]}"
    started = PlayStarted(
        play_id=f"play-{account}",
        run_id="r1",
        account_id=account,
        play="health_recovery",
        cause="green-yellow",
        title="Recover",
        why="health fell",
        started_at=NOW,
        timeline=_entry(account, "play_started"),
    )
    finished = PlayFinished(
        play_id=started.play_id,
        run_id="r1",
        status="exited",
        outcome="health is green",
        ended_at=NOW,
        timeline=_entry(account, "play_ended"),
    )
    for _ in range(2):  # a retry after a lost reply
        await plays.record_play_started(started)
        await plays.record_play_finished(finished)
    kinds = [r.kind for r in await fetch_timeline(pool, account)]
    assert kinds == ["play_started", "play_ended"]


async def test_closing_a_plays_open_tasks_at_once_closes_each_once(pool: asyncpg.Pool) -> None:
    plays, account = PlayActivities(pool), f"acct-{uuid.uuid4().hex[:8]}"
    rows = [
        await plays.create_task(
            TaskSpec(
                idempotency_key=f"play-{account}/r1/{step}",
                play_id=f"play-{account}",
                account_id=account,
                step=step,
                title=step,
                assignee_role="csm",
                csm="dana",
                due_at=NOW,
            )
        )
        for step in ("diagnose", "recovery_plan", "follow_up")
    ]
    await plays.close_task(TaskClose(task_id=rows[0].id, status="done", by="dana"))
    close = TasksClose(task_ids=[r.id for r in rows], status="resolved_by_exit", by="green")
    assert await plays.close_tasks(close) == 2  # the one done already stays done
    assert await plays.close_tasks(close) == 0  # a retry closes nothing twice
    after = {r.step: r.status for r in await list_tasks(pool, account_id=account, status=None)}
    assert after == {
        "diagnose": "done",
        "recovery_plan": "resolved_by_exit",
        "follow_up": "resolved_by_exit",
    }


async def test_a_task_keeps_its_real_deadline_whichever_shape_the_play_sent(
    pool: asyncpg.Pool,
) -> None:
    # Plays scheduled before tasks kept one time base sent the journey date as `due_at` and the
    # real deadline as `due_real_at`; a retry of such an activity must still store the deadline.
    plays, account = PlayActivities(pool), f"acct-{uuid.uuid4().hex[:8]}"
    journey_date, deadline = datetime(2026, 1, 20, tzinfo=UTC), NOW + timedelta(minutes=5)
    fields = {
        "play_id": f"play-{account}",
        "account_id": account,
        "title": "Call the sponsor",
        "assignee_role": "csm",
        "csm": "dana",
    }
    old = TaskSpec.model_validate(
        {
            **fields,
            "idempotency_key": f"play-{account}/r1/old",
            "step": "old",
            "due_at": journey_date.isoformat(),
            "due_real_at": deadline.isoformat(),
        }
    )
    new = TaskSpec.model_validate(
        {
            **fields,
            "idempotency_key": f"play-{account}/r1/new",
            "step": "new",
            "due_at": deadline.isoformat(),
        }
    )
    assert (await plays.create_task(old)).due_at == deadline
    assert (await plays.create_task(new)).due_at == deadline
    stored = {r.step: r.due_at for r in await list_tasks(pool, account_id=account)}
    assert stored == {"old": deadline, "new": deadline}
