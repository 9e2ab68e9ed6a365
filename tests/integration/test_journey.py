"""The first journey on the real dev server and real Postgres, in compressed time."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.models import TimelineEntry
from activities.store import StoreActivities
from starter.journeys import JourneyError, complete_milestone, end_journey, journey_state
from store.timeline import fetch_timeline
from tests.helpers import Journeys, state_of
from tests.histories import save_history
from tests.waiting import eventually
from worker import build_worker
from workflows.journey.workflow import journey_id
from workflows.models import Account
from workflows.policy import Policy
from workflows.rules import select_track

pytestmark = pytest.mark.integration

# Fast enough that a 90-day milestone is due in under 5 s, slow enough that an update sent
# right after start lands well before the earliest (3-day) timer.
DAY = 0.05


def _onboarding_days_apart(policy: Policy, track_key: str) -> Policy:
    """`policy` with the track's milestones after the first falling due a day apart."""
    tracks = []
    for track in policy.onboarding.tracks:
        if track.key == track_key:
            first, *rest = track.milestones
            rest = [
                m.model_copy(update={"due_days": first.due_days + i}) for i, m in enumerate(rest, 1)
            ]
            track = track.model_copy(update={"milestones": [first, *rest]})
        tracks.append(track)
    onboarding = policy.onboarding.model_copy(update={"tracks": tracks})
    return policy.model_copy(update={"onboarding": onboarding})


@pytest.mark.usefixtures("worker")
async def test_journey_takes_the_track_the_policy_selects(
    client: Client, journeys: Journeys, policy: Policy, make_account: Callable[..., Account]
) -> None:
    for segment, tier in [("smb", "base"), ("mid_market", "plus"), ("enterprise", "premium")]:
        seats = 2000 if segment == "enterprise" else 20
        account = make_account(segment=segment, tier=tier, seats=seats)
        await journeys.start(account, day_seconds=DAY)
        state = await state_of(client, account)
        expected = select_track(account, policy)
        assert state.track == expected.track.key
        assert state.track_reason == expected.reason
        planned = [m.key for m in expected.track.milestones + expected.track.rollout_stages]
        assert [m.key for m in state.milestones] == planned


@pytest.mark.usefixtures("worker")
async def test_milestone_done_in_time_and_overdue_when_its_timer_fires_first(
    client: Client,
    pool: asyncpg.Pool,
    journeys: Journeys,
    policy: Policy,
    make_account: Callable[..., Account],
) -> None:
    account = make_account()
    # Whole seconds before the first milestone is due, so a loaded machine cannot make the
    # completion sent right after start late; the rest follow a day apart, so the test waits
    # seconds, not the track's month, for their timers.
    spaced = _onboarding_days_apart(policy, select_track(account, policy).track.key)
    await journeys.start(account, policy=spaced, day_seconds=1.0)
    first, *rest = (await state_of(client, account)).milestones
    assert not first.after, (
        "the test completes the first milestone, which must have no prerequisites"
    )

    done = await complete_milestone(client, account.account_id, first.key, by="csm")
    assert done.status == "done"
    assert not done.late

    state = await eventually(
        lambda: state_of(client, account),
        lambda s: all(m.status != "pending" for m in s.milestones),
        what="every milestone done or overdue",
    )
    assert state.milestone(first.key).status == "done"  # type: ignore[union-attr]
    assert [m.status for m in state.milestones[1:]] == ["overdue"] * len(rest)
    assert state.stage == "new"  # onboarding over: the tenure stage shows

    # Completing an overdue milestone still counts, marked late.
    unblocked = next(m for m in rest if set(m.after) <= {first.key})
    late = await complete_milestone(client, account.account_id, unblocked.key)
    assert late.status == "done"
    assert late.late

    timeline = await fetch_timeline(pool, account.account_id)
    kinds = [(row.kind, row.subject) for row in timeline]
    assert ("milestone_done", first.key) in kinds
    for m in rest:
        assert ("milestone_overdue", m.key) in kinds
    assert kinds.count(("milestone_done", first.key)) == 1
    # Ended here, not at teardown: the saved history is of a whole journey.
    await end_journey(client, account.account_id, "ended", "onboarding checked")
    await client.get_workflow_handle(journey_id(account.account_id)).result()
    await save_history(client, journey_id(account.account_id), "onboarding-done-and-overdue-v1")


@pytest.mark.usefixtures("worker")
async def test_starting_the_same_account_twice_gives_one_journey(
    client: Client, journeys: Journeys, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    first = await journeys.start(account, day_seconds=DAY)
    second = await journeys.start(account, day_seconds=DAY)
    assert first.created
    assert not second.created
    assert second.run_id == first.run_id

    async def runs() -> list[str]:
        query = f"WorkflowId = '{journey_id(account.account_id)}'"
        return [wf.run_id async for wf in client.list_workflows(query)]

    # Visibility lags: wait for it to show the run, then it must show that one alone.
    listed = await eventually(runs, bool, what="visibility to list the journey")
    assert listed == [first.run_id]


@pytest.mark.usefixtures("worker")
async def test_update_validator_refuses_an_unknown_milestone_before_history(
    client: Client, journeys: Journeys, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    await journeys.start(account, day_seconds=DAY)

    with pytest.raises(JourneyError) as refused:
        await complete_milestone(client, account.account_id, "no_such_milestone")
    assert refused.value.kind == "UnknownMilestone"
    assert "no_such_milestone" in str(refused.value)
    assert "known:" in str(refused.value)

    handle = client.get_workflow_handle(journey_id(account.account_id))
    events = [e.event_type async for e in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED not in events
    assert all(m.status != "done" for m in (await state_of(client, account)).milestones)
    # Churned here, not at teardown: the saved history is of a whole journey.
    await end_journey(client, account.account_id, "churned", "refused update checked")
    await handle.result()
    await save_history(client, journey_id(account.account_id), "refused-update-then-churn-v1")


async def test_unknown_account_is_named_in_the_error(client: Client) -> None:
    with pytest.raises(JourneyError) as refused:
        await journey_state(client, "nobody-here")
    assert refused.value.kind == "unknown_account"
    assert "nobody-here" in str(refused.value)


async def test_timeline_row_is_written_once_when_the_activity_is_retried(
    client: Client,
    pool: asyncpg.Pool,
    task_queue: str,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    store = StoreActivities(pool)
    attempts: list[tuple[int, bool]] = []

    # Stand-in under the real name: the write commits, then the worker "crashes" before the
    # result reaches Temporal, so Temporal retries an activity whose effect already happened.
    @activity.defn(name="record_timeline")
    async def record_then_fail_once(entry: TimelineEntry) -> bool:
        wrote = await store.record_timeline(entry)
        attempt = activity.info().attempt
        attempts.append((attempt, wrote))
        if attempt == 1:
            raise ApplicationError("simulated crash after commit")
        return wrote

    account = make_account()
    async with build_worker(
        client, pool, task_queue, replace={"record_timeline": record_then_fail_once}
    ):
        await journeys.start(account, day_seconds=DAY)
        await eventually(
            lambda: fetch_timeline(pool, account.account_id),
            lambda rows: any(r.kind == "journey_started" for r in rows),
        )
        await eventually(
            lambda: _async(list(attempts)),
            lambda seen: (2, False) in seen,
            what="the retried attempt",
        )

    rows = await fetch_timeline(pool, account.account_id)
    started = [r for r in rows if r.kind == "journey_started"]
    assert len(started) == 1
    assert (1, True) in attempts
    assert (2, False) in attempts


async def _async(value: list[tuple[int, bool]]) -> list[tuple[int, bool]]:
    return value
