"""The forking journey: branches running at once on one account, in compressed time."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client

from starter.journeys import JourneyError, complete_milestone, send_event
from store.timeline import fetch_timeline
from tests.helpers import Journeys, measured, state_of
from tests.histories import save_history
from tests.waiting import eventually
from workflows.journey import names
from workflows.journey.messages import (
    AddRolloutStage,
    HealthMeasured,
    KeyContactChanged,
    RenewContract,
    UsageReported,
)
from workflows.journey.state import JourneyState
from workflows.journey.workflow import journey_id
from workflows.models import Account, Contact
from workflows.policy import load_policy

pytestmark = pytest.mark.integration

POLICIES = Path(__file__).resolve().parents[2] / "policies"


def _contacts(slug: str, *personas: str) -> tuple[Contact, ...]:
    return tuple(
        Contact.model_validate(
            {"contact_id": f"{slug}-{p}", "name": f"{p} person", "persona": p, "key": True}
        )
        for p in personas
    )


def _event_id() -> str:
    return uuid.uuid4().hex


def _real(state: JourneyState, day: float, day_seconds: float) -> datetime:
    """The real instant of journey day `day`, to stamp events as a CRM would."""
    return state.started_at + timedelta(seconds=day * day_seconds)


@pytest.mark.usefixtures("worker")
async def test_risk_product_flags_the_idle_admin_but_not_end_users_without_incidents(
    client: Client, journeys: Journeys, make_account: Callable[..., Account]
) -> None:
    day = 0.2
    policy = load_policy(POLICIES / "risk-management.yaml")
    busy = make_account(contacts=_contacts("busy", "admin", "end_user"))
    idle = make_account(contacts=_contacts("idle", "admin", "end_user"))
    for account in (busy, idle):
        await journeys.start(account, day_seconds=day, policy=policy)
        for measure in ("support", "sentiment", "contact_stability"):
            await send_event(
                client, account.account_id, names.HEALTH_MEASURED, measured(measure, 90)
            )

    # The busy admin logs in on three days of the first week; the end users never do, and
    # there are no incidents, so nothing is expected of them.
    state = await eventually(lambda: state_of(client, busy), lambda s: s.journey_day >= 3.3)
    for d in (1.5, 2.5, 3.2):  # the first check looks at days 1-7
        await send_event(
            client,
            busy.account_id,
            names.USAGE_REPORTED,
            UsageReported(event_id=_event_id(), occurred_at=_real(state, d, day), persona="admin"),
        )

    busy_state = await eventually(
        lambda: state_of(client, busy),
        lambda s: s.adoption is not None,
        what="the first adoption check",
    )
    idle_state = await eventually(
        lambda: state_of(client, idle),
        lambda s: any(t.kind == "adoption_risk" for t in s.triggers),
        what="the idle admin's adoption risk",
    )
    by_persona = {p.persona: p for p in busy_state.adoption.personas}  # type: ignore[union-attr]
    assert by_persona["admin"].status == "met"
    assert by_persona["end_user"].status == "no_expectation"
    assert not [t for t in busy_state.triggers if t.kind == "adoption_risk"]
    assert busy_state.health is not None
    assert busy_state.health.colour == "green"

    risks = [t for t in idle_state.triggers if t.kind == "adoption_risk"]
    assert [t.cause for t in risks] == ["admin"]
    assert risks[0].why is not None
    assert {d.play for d in risks[0].decisions if d.start} == {"admin_usage_review"}
    idle_personas = {p.persona: p.status for p in idle_state.adoption.personas}  # type: ignore[union-attr]
    assert idle_personas["end_user"] == "no_expectation"


@pytest.mark.usefixtures("worker")
async def test_a_weekly_rollup_reports_every_persona_in_one_signal(
    client: Client, journeys: Journeys, make_account: Callable[..., Account]
) -> None:
    account = make_account(contacts=_contacts("roll", "admin", "end_user"))
    await journeys.start(account, day_seconds=1.0)
    state = await eventually(lambda: state_of(client, account), lambda s: s.journey_day >= 3)
    start = (state.epoch or state.started_at).date()
    week = [start + timedelta(days=d) for d in range(3)]
    rollup = UsageReported(
        event_id=_event_id(),
        occurred_at=datetime.now(UTC),
        by_persona={"admin": week, "end_user": week[:1]},
    )
    await send_event(client, account.account_id, names.USAGE_REPORTED, rollup)
    state = await eventually(
        lambda: state_of(client, account), lambda s: s.ledger.applied == 1, what="the rollup"
    )
    assert state.active_days == {"admin": week, "end_user": week[:1]}


@pytest.mark.usefixtures("worker")
async def test_health_and_safety_account_reaches_its_three_year_stakeholder_review(
    client: Client, pool: asyncpg.Pool, journeys: Journeys, make_account: Callable[..., Account]
) -> None:
    day = 0.004  # 1095 days in about 4.4 s
    policy = load_policy(POLICIES / "health-and-safety.yaml")
    account = make_account(contract_start=date(2026, 1, 1), contract_end=date(2029, 6, 1), seats=30)
    await journeys.start(account, day_seconds=day, policy=policy)

    state = await eventually(
        lambda: state_of(client, account),
        lambda s: (r := s.recurring_item("stakeholder_review")) is not None and r.occurrence >= 1,
        within=60,
        what="the stakeholder review to fall due",
    )
    assert state.journey_day >= 1095
    refresher = state.recurring_item("training_refresher")
    goal_review = state.recurring_item("goal_review")
    assert refresher is not None
    assert goal_review is not None
    assert refresher.occurrence >= 3
    assert goal_review.occurrence >= 6
    assert state.tenure is not None
    assert state.tenure.stage in {"renewing_cycle", "mature"}

    done = await complete_milestone(client, account.account_id, "stakeholder_review", by="csm")
    assert done.kind == "recurring"
    assert done.occurrence == 1

    rows = await fetch_timeline(pool, account.account_id)
    subjects = {(r.kind, r.subject) for r in rows}
    assert ("recurring_due", "stakeholder_review#1") in subjects
    assert ("recurring_due", "training_refresher#3") in subjects
    assert ("recurring_done", "stakeholder_review#1") in subjects
    # Refreshers nobody marked done are overdue when the next falls due: a trigger each.
    overdue = [t for t in state.triggers if t.kind == "milestone_overdue"]
    assert any(t.cause == "training_refresher-1" for t in overdue)


@pytest.mark.usefixtures("worker")
async def test_enterprise_rollout_gains_a_stage_mid_onboarding(
    client: Client,
    pool: asyncpg.Pool,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    account = make_account(segment="enterprise", tier="premium", seats=3000)
    await journeys.start(account, day_seconds=0.05)
    before = await state_of(client, account)
    assert before.stage == "onboarding"
    stages = [m for m in before.milestones if m.kind == "rollout_stage"]
    assert stages, "the enterprise track has rollout stages"
    end_before = max(m.due_day for m in before.milestones)

    handle = client.get_workflow_handle(journey_id(account.account_id))
    new_end = end_before + 60
    after: JourneyState = await handle.execute_update(
        names.ADD_ROLLOUT_STAGE,
        AddRolloutStage(key="wave_emea", title="EMEA wave", due_days=new_end, seats=800),
        result_type=JourneyState,
    )
    added = after.milestone("wave_emea")
    assert added is not None
    assert added.kind == "rollout_stage"
    assert max(m.due_day for m in after.milestones) == new_end
    assert added.status == "pending"
    # Shown are the six soonest timers: the new stage, due last, waits its turn behind them.
    assert len(after.next_timers) == 6
    assert all(t.day < new_end for t in after.next_timers)
    assert "EMEA wave due" not in [t.what for t in after.next_timers]

    with pytest.raises(Exception) as dup:
        await handle.execute_update(
            names.ADD_ROLLOUT_STAGE,
            AddRolloutStage(key="wave_emea", title="Again", due_days=new_end),
            result_type=JourneyState,
        )
    assert "already exists" in str(dup.value.__cause__)

    rows = await fetch_timeline(pool, account.account_id)
    [row] = [r for r in rows if r.kind == "rollout_stage_added"]
    assert f"now ends day {new_end:g}" in row.summary
    await save_history(client, journey_id(account.account_id), "rollout-stage-added-v2")


@pytest.mark.usefixtures("worker")
async def test_validators_refuse_a_renewal_in_the_past_and_a_blocked_milestone(
    client: Client, journeys: Journeys, make_account: Callable[..., Account]
) -> None:
    account = make_account(segment="enterprise", tier="premium", seats=3000)
    await journeys.start(account, day_seconds=1.0)
    state = await state_of(client, account)
    handle = client.get_workflow_handle(journey_id(account.account_id))

    with pytest.raises(Exception) as past:
        await handle.execute_update(
            names.RENEW_CONTRACT,
            RenewContract(contract_end=date(2020, 1, 1)),
            result_type=JourneyState,
        )
    assert getattr(past.value.__cause__, "type", None) == "RenewalInPast"

    blocked = next(m for m in state.milestones if m.after)
    with pytest.raises(JourneyError) as refused:
        await complete_milestone(client, account.account_id, blocked.key)
    assert refused.value.kind == "MilestoneBlocked"
    assert blocked.after[0] in str(refused.value)

    renewed: JourneyState = await handle.execute_update(
        names.RENEW_CONTRACT, RenewContract(contract_end=date(2031, 1, 1)), result_type=JourneyState
    )
    assert renewed.contract_end == date(2031, 1, 1)


def _event_stream(contact: str) -> list[tuple[str, HealthMeasured | KeyContactChanged]]:
    """An in-order stream: a measure moving up and down, and a contact leaving then returning."""
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    stream: list[tuple[str, HealthMeasured | KeyContactChanged]] = []
    for i, value in enumerate([80, 35, 60, 20, 75, 90]):
        stream.append(
            (
                names.HEALTH_MEASURED,
                HealthMeasured(
                    event_id=f"support-{i}",
                    occurred_at=t0 + timedelta(hours=i),
                    measure="support",
                    value=value,
                ),
            )
        )
    for i, change in enumerate(["left", "joined", "left"]):
        stream.append(
            (
                names.KEY_CONTACT_CHANGED,
                KeyContactChanged(
                    event_id=f"contact-{i}",
                    occurred_at=t0 + timedelta(hours=i, minutes=30),
                    contact_id=contact,
                    change=change,
                    persona="champion",
                ),
            )
        )
    return stream


@pytest.mark.usefixtures("worker")
async def test_duplicate_and_out_of_order_burst_ends_as_the_in_order_stream(
    client: Client, journeys: Journeys, make_account: Callable[..., Account]
) -> None:
    ordered = make_account(contacts=_contacts("c", "champion"))
    shuffled = make_account(contacts=_contacts("c", "champion"))
    for account in (ordered, shuffled):
        await journeys.start(account, day_seconds=5.0)

    in_order = _event_stream("x-champion")
    for kind, event in in_order:
        await send_event(client, ordered.account_id, kind, event)

    burst = in_order + random.Random(7).sample(in_order, k=6)  # duplicates (retries)
    random.Random(11).shuffle(burst)
    await asyncio.gather(*(send_event(client, shuffled.account_id, k, e) for k, e in burst))

    def settled(n: int) -> Callable[[JourneyState], bool]:
        return lambda s: s.ledger.applied + s.ledger.duplicates + s.ledger.stale == n

    a = await eventually(lambda: state_of(client, ordered), settled(len(in_order)))
    b = await eventually(lambda: state_of(client, shuffled), settled(len(burst)))
    assert b.ledger.duplicates == 6
    assert {k: v.value for k, v in a.measures.items()} == {
        k: v.value for k, v in b.measures.items()
    }
    assert a.measures["support"].value == 90
    assert a.health is not None
    assert b.health is not None
    assert (a.health.score, a.health.colour) == (b.health.score, b.health.colour)
    contact = {c.contact_id: c.present for c in a.contacts}
    assert contact == {c.contact_id: c.present for c in b.contacts}
    assert contact["x-champion"] is False


@pytest.mark.usefixtures("worker")
async def test_health_attribute_finds_the_yellow_accounts(
    client: Client, journeys: Journeys, make_account: Callable[..., Account]
) -> None:
    csm = f"csm-{uuid.uuid4().hex[:6]}"
    accounts = {colour: make_account(csm=csm) for colour in ("green", "yellow", "red")}
    values = {"green": 90, "yellow": 55, "red": 10}
    for colour, account in accounts.items():
        await journeys.start(account, day_seconds=5.0)
        for measure in ("support", "sentiment"):
            await send_event(
                client, account.account_id, names.HEALTH_MEASURED, measured(measure, values[colour])
            )

    async def yellow_ids() -> list[str]:
        query = f"WaypostHealth = 'yellow' AND WaypostCsm = '{csm}'"
        return [wf.id async for wf in client.list_workflows(query)]

    found = await eventually(yellow_ids, lambda ids: len(ids) >= 1, what="visibility to catch up")
    assert found == [journey_id(accounts["yellow"].account_id)]
