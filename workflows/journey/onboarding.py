"""Pure onboarding and outlook arithmetic the journey calls: a new journey's state and
milestone plan, what blocks a milestone, the stage a journey is in, and the timers it waits on
next."""

from __future__ import annotations

from datetime import datetime

from workflows.clock import JourneyClock
from workflows.journey import prose
from workflows.journey.messages import JourneyInput
from workflows.journey.state import (
    ContactState,
    JourneyState,
    MilestoneState,
    NextTimer,
    RecurringState,
)
from workflows.policy import Track
from workflows.rules import select_track


def new_state(start: JourneyInput, now: datetime) -> JourneyState:
    """A new journey's state as of `now`: its track (and why), milestones and contacts."""
    account = start.account
    choice = select_track(account, start.policy)
    epoch = start.epoch or now
    clock = JourneyClock(now, epoch, start.day_seconds)
    return JourneyState(
        account_id=account.account_id,
        segment=account.segment,
        tier=account.tier,
        csm=account.csm,
        contract_start=account.contract_start,
        contract_end=account.contract_end,
        policy_name=start.policy.name,
        policy_version=start.policy.version,
        track=choice.track.key,
        track_reason=choice.reason,
        touch=choice.track.touch,
        day_seconds=start.day_seconds,
        started_at=now,
        epoch=epoch,
        milestones=plan_milestones(choice.track, clock),
        recurring=[
            RecurringState(key=r.key, title=r.title, owner=r.owner, every_days=r.every_days)
            for r in start.policy.maturity.recurring
        ],
        contacts=[
            ContactState(contact_id=c.contact_id, persona=c.persona, key=c.key)
            for c in account.contacts
        ],
    )


def plan_milestones(track: Track, clock: JourneyClock) -> list[MilestoneState]:
    planned = [
        MilestoneState(
            key=m.key,
            title=m.title,
            owner=m.owner,
            after=list(m.after),
            due_day=m.due_days,
            due_at=clock.time_of(m.due_days),
        )
        for m in track.milestones
    ]
    planned += [
        MilestoneState(
            key=s.key,
            title=s.title,
            owner="customer",
            kind="rollout_stage",
            due_day=s.due_days,
            due_at=clock.time_of(s.due_days),
        )
        for s in track.rollout_stages
    ]
    return planned


def blocked_by(state: JourneyState, m: MilestoneState) -> list[str]:
    """The prerequisites of `m` not done yet, in policy order."""
    return [k for k in m.after if (p := state.milestone(k)) is not None and p.status != "done"]


def onboarding_end_day(state: JourneyState) -> float:
    return max((m.due_day for m in state.milestones), default=0.0)


def stage_of(state: JourneyState) -> str:
    """`onboarding` while any milestone is open, then the tenure stage (new, established, ...)."""
    if state.ended is not None:
        return "ended"
    if any(m.status == "pending" for m in state.milestones):
        return "onboarding"
    return state.tenure.stage if state.tenure else "adoption"


def next_timers(state: JourneyState, clock: JourneyClock, limit: int = 6) -> list[NextTimer]:
    """What the journey waits for next, soonest first (shown by `waypost status`)."""
    timers = [
        NextTimer(what=f"{m.title} due", day=m.due_day, at=m.due_at)
        for m in state.milestones
        if m.status == "pending"
    ]
    if state.next_adoption_check_day is not None:
        day = state.next_adoption_check_day
        timers.append(NextTimer(what=prose.ADOPTION_CHECK, day=day, at=clock.time_of(day)))
    for r in state.recurring:
        if r.next_due_day is not None and r.next_due_at is not None:
            timers.append(NextTimer(what=f"{r.title} due", day=r.next_due_day, at=r.next_due_at))
    if state.tenure and state.tenure.next_stage_at and state.tenure.next_stage:
        at = state.tenure.next_stage_at
        timers.append(
            NextTimer(
                what=f"Becomes {state.tenure.next_stage}", day=round(clock.day_of(at), 2), at=at
            )
        )
    timers.sort(key=lambda t: t.day)
    return timers[:limit]
