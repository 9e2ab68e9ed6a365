"""Escalation playbooks: the article's cases, on the real server and Postgres, compressed."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from temporalio import activity
from temporalio.client import Client

from activities.models import TaskRow, TaskSpec
from activities.notify import relay_once
from activities.plays import PlayActivities
from starter.journeys import complete_milestone, end_journey, send_event
from starter.tasks import mark_task_done
from store.outbox import Outgoing
from store.timeline import fetch_timeline
from tests.helpers import (
    Journeys,
    champion,
    contact_left,
    measured,
    new_stakeholder_play,
    outbox_of,
    state_of,
    tasks_of,
)
from tests.histories import save_history
from tests.waiting import eventually
from worker import build_worker
from workflows.journey import names
from workflows.journey.messages import KeyContactChanged
from workflows.journey.workflow import journey_id
from workflows.models import Account
from workflows.playbook import names as play_names
from workflows.playbook.messages import FactsChanged, PlayState
from workflows.rules import JourneyFacts

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


# One moment for every "left" in a test: redeliveries of a change carry the same time.
LEFT_AT = datetime(2026, 2, 1, tzinfo=UTC)


def _left(contact_id: str, event_id: str | None = None) -> KeyContactChanged:
    return contact_left(contact_id, event_id=event_id, at=LEFT_AT)


async def _play_state(client: Client, play_id: str) -> PlayState:
    state: PlayState = await client.get_workflow_handle(play_id).query(
        play_names.STATE, result_type=PlayState
    )
    return state


@pytest.mark.usefixtures("worker")
async def test_key_contact_leaves_new_stakeholder_play_escalates_past_its_sla(
    client: Client,
    pool: asyncpg.Pool,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    account = make_account(contacts=(champion("k"),))
    await journeys.start(account, day_seconds=0.05)
    await send_event(client, account.account_id, names.KEY_CONTACT_CHANGED, _left("k-champion"))

    state = await eventually(lambda: state_of(client, account), lambda s: bool(s.open_plays))
    [play] = state.open_plays.values()
    assert play.play == "new_stakeholder"
    assert play.play_id == f"play-{account.account_id}-new_stakeholder-k-champion"
    assert "k-champion" in play.why

    # Onboarding milestones going overdue start plays of their own; this test follows one.
    rows = await eventually(
        lambda: tasks_of(pool, account, play_id=play.play_id),
        lambda ts: len(ts) == 3,
        what="three tasks",
    )
    assert [t.step for t in rows] == ["connect", "train", "confirm_buy_in"]
    assert {t.assignee_role for t in rows} == {"csm"}
    for t in rows[:2]:
        await mark_task_done(client, pool, t.id, "dana")

    # confirm_buy_in stays open: after its 28-day SLA the play escalates to the CS manager.
    escalated = await eventually(
        lambda: tasks_of(pool, account, play_id=play.play_id),
        lambda ts: any(t.assignee_role == "cs_manager" for t in ts),
        what="the escalation task",
    )
    [escalation] = [t for t in escalated if t.assignee_role == "cs_manager"]
    assert escalation.escalation_of == rows[2].id
    # The escalation's message is queued right after its task, by a second activity.
    messages = await eventually(
        lambda: outbox_of(pool, account),
        lambda ms: len([m for m in ms if m["idempotency_key"].startswith(play.play_id)]) == 3,
        what="the escalation message",
    )
    queued = [m for m in messages if m["idempotency_key"].startswith(play.play_id)]
    assert [m["recipient"] for m in queued] == ["csm", "csm", "cs_manager"]

    for t in [rows[2], escalation]:
        await mark_task_done(client, pool, t.id, "dana")
    state = await eventually(
        lambda: state_of(client, account),
        lambda s: play.play_id not in s.open_plays,
        what="the play to end and tell the journey",
    )
    [run] = [r for r in state.play_runs if r.play == "new_stakeholder"]
    assert run.ended_at is not None
    done = await _play_state(client, play.play_id)
    assert done.status == "completed"
    kinds = [r.kind for r in await fetch_timeline(pool, account.account_id)]
    assert {"play_started", "play_escalated", "play_ended"} <= set(kinds)

    # The relay delivers each message once.
    delivered: list[Outgoing] = []

    async def collect(message: Outgoing) -> None:
        delivered.append(message)

    assert await relay_once(pool, collect) >= 3
    await relay_once(pool, collect)
    mine = [m for m in delivered if m.play_id == play.play_id]
    assert len(mine) == len({m.id for m in mine}) == 3
    assert {m["status"] for m in await outbox_of(pool, account)} == {"sent"}
    await save_history(client, play.play_id, "playbook-escalated-v1")


@pytest.mark.usefixtures("worker")
async def test_green_to_yellow_starts_a_play_at_once_and_green_again_exits_it(
    client: Client,
    pool: asyncpg.Pool,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    account = make_account()
    await journeys.start(account, day_seconds=5.0)
    for m in ("support", "sentiment"):
        await send_event(client, account.account_id, names.HEALTH_MEASURED, measured(m, 90))
    await send_event(client, account.account_id, names.HEALTH_MEASURED, measured("support", 20))

    state = await eventually(lambda: state_of(client, account), lambda s: bool(s.open_plays))
    assert state.health is not None
    assert state.health.colour == "yellow"
    [play] = state.open_plays.values()
    assert play.play == "health_recovery"
    assert play.why.startswith("Health green→yellow: support 20/100")
    await eventually(lambda: tasks_of(pool, account), lambda ts: len(ts) == 2, what="two tasks")

    # A milestone done while the play runs: a health play's conditions never read it, so
    # the journey does not tell the play (a signal is a billed action).
    first = min((m for m in state.milestones if not m.after), key=lambda m: m.due_day)
    await complete_milestone(client, account.account_id, first.key)
    await send_event(client, account.account_id, names.HEALTH_MEASURED, measured("support", 95))
    state = await eventually(
        lambda: state_of(client, account),
        lambda s: not s.open_plays,
        what="the play to exit",
    )
    ended = await _play_state(client, play.play_id)
    assert ended.status == "exited"
    assert "health is green" in (ended.ended_reason or "")
    assert {t.status for t in await tasks_of(pool, account)} == {"resolved_by_exit"}
    # Its start, its end and both tasks resolved by exit: three activities (and rows) in all.
    assert await _activities(client, play.play_id) == [
        "record_play_started",
        "create_task",
        "create_task",
        "close_tasks",
        "record_play_finished",
    ]
    kinds = [r.kind for r in await fetch_timeline(pool, account.account_id)]
    assert {"play_started", "play_ended"} <= set(kinds)
    await save_history(client, play.play_id, "playbook-exited-merged-v1")
    told = await _facts_signals(client, journey_id(account.account_id))
    assert [f.health for f in told] == ["green"]
    assert told[0].completed_milestones == []
    await save_history(client, journey_id(account.account_id), "health-play-hears-health-v1")


async def _activities(client: Client, workflow_id: str) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        async for e in client.get_workflow_handle(workflow_id).fetch_history_events()
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


async def _facts_signals(client: Client, workflow_id: str) -> list[JourneyFacts]:
    """The facts a journey signalled to its plays, from its history."""
    told = []
    async for e in client.get_workflow_handle(workflow_id).fetch_history_events():
        attrs = e.signal_external_workflow_execution_initiated_event_attributes
        if e.HasField("signal_external_workflow_execution_initiated_event_attributes") and (
            attrs.signal_name == play_names.JOURNEY_FACTS
        ):
            [changed] = await client.data_converter.decode(attrs.input.payloads, [FactsChanged])
            told.append(changed.facts)
    return told


@pytest.mark.usefixtures("worker")
async def test_the_same_trigger_five_times_runs_one_play(
    client: Client,
    pool: asyncpg.Pool,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    account = make_account(contacts=(champion("f"),))
    await journeys.start(account, day_seconds=5.0)
    first = _left("f-champion", event_id="crm-1")
    # Two redeliveries of one event, and three retries of the change under new event ids.
    events = [first, first, first] + [_left("f-champion") for _ in range(2)]
    for e in events:
        await send_event(client, account.account_id, names.KEY_CONTACT_CHANGED, e)

    state = await eventually(
        lambda: state_of(client, account),
        lambda s: s.ledger.applied + s.ledger.duplicates == 5 and bool(s.open_plays),
    )
    assert state.ledger.duplicates == 2
    assert len(state.open_plays) == 1
    assert len(state.play_runs) == 1
    triggers = [t for t in state.triggers if t.kind == "key_contact_changed"]
    assert len(triggers) == 3
    assert [d.start for t in triggers for d in t.decisions] == [True, False, False]

    [play] = state.open_plays.values()
    await eventually(
        lambda: _play_state(client, play.play_id),
        lambda p: p.steps[3].task_id is not None and p.steps[4].status == "running",
        what="the play to reach its escalation step",
    )
    assert len(await tasks_of(pool, account)) == 3
    assert len(await outbox_of(pool, account)) == 2


async def test_a_worker_killed_mid_play_leaves_exactly_one_row_per_effect(
    client: Client,
    pool: asyncpg.Pool,
    journeys: Journeys,
    make_account: Callable[..., Account],
    worker_process: Callable[[], subprocess.Popen[bytes]],
) -> None:
    account = make_account(contacts=(champion("w"),))
    first = worker_process()
    play_id = new_stakeholder_play(account)
    await journeys.start(account, day_seconds=5.0)
    await send_event(client, account.account_id, names.KEY_CONTACT_CHANGED, _left("w-champion"))
    await eventually(
        lambda: tasks_of(pool, account, play_id=play_id),
        lambda ts: len(ts) >= 1,
        within=120,
        what="the first task",
    )
    first.kill()  # no goodbye: whatever it was doing is cut off
    first.wait(timeout=10)

    worker_process()
    rows = await eventually(
        lambda: tasks_of(pool, account, play_id=play_id),
        lambda ts: len(ts) == 3,
        within=120,
        what="all tasks",
    )
    for t in rows:
        await mark_task_done(client, pool, t.id, "dana")
    await eventually(
        lambda: state_of(client, account),
        lambda s: bool(s.play_runs) and play_id not in s.open_plays,
        within=120,
        what="the play to complete",
    )
    rows = await tasks_of(pool, account, play_id=play_id)
    assert sorted(t.step for t in rows) == ["confirm_buy_in", "connect", "train"]
    assert {t.status for t in rows} == {"done"}
    messages = [
        m for m in await outbox_of(pool, account) if m["idempotency_key"].startswith(play_id)
    ]
    assert len(messages) == len({m["idempotency_key"] for m in messages}) == 2


async def test_a_task_done_before_its_play_sees_it_created_is_kept(
    client: Client,
    pool: asyncpg.Pool,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    """The CSM finishes a task the moment its row exists: task_done reaches the play before
    create_task's result does. It used to be dropped, and the play waited forever."""
    plays = PlayActivities(pool)

    @activity.defn(name="create_task")
    async def create_then_done_at_once(spec: TaskSpec) -> TaskRow:
        row = await plays.create_task(spec)
        if spec.step == "connect":
            await mark_task_done(client, pool, row.id, "quick-csm")
        return row

    account = make_account(contacts=(champion("q"),))
    play_id = new_stakeholder_play(account)
    async with build_worker(
        client, pool, journeys.task_queue, replace={"create_task": create_then_done_at_once}
    ):
        await journeys.start(account, day_seconds=5.0)
        await send_event(client, account.account_id, names.KEY_CONTACT_CHANGED, _left("q-champion"))
        await eventually(lambda: state_of(client, account), lambda s: play_id in s.open_plays)
        play = await eventually(
            lambda: _play_state(client, play_id),
            lambda p: p.steps[2].task_id is not None,
            what="the play past the connect step",
        )
        assert [s.key for s in play.steps[:2]] == ["introduce", "connect"]
        assert play.steps[1].status == "done"
        rows = await tasks_of(pool, account, play_id=play_id)
        [connect] = [r for r in rows if r.step == "connect"]
        assert connect.status == "done" and connect.closed_by == "quick-csm"
        assert play.steps[1].task_id == connect.id
        # Ended here, not at teardown: the saved play history ends with the journey's stop.
        await end_journey(client, account.account_id, "ended", "task checked")
    await save_history(client, play_id, "playbook-task-done-early-v1")
