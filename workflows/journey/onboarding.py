"""Pure onboarding and outlook arithmetic the journey calls: milestone plans, what blocks a
milestone, the stage a journey is in, and the timers it waits on next."""

from __future__ import annotations

from workflows.clock import JourneyClock
from workflows.journey.state import JourneyState, MilestoneState, NextTimer
from workflows.policy import Track


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
        timers.append(NextTimer(what="Adoption check", day=day, at=clock.time_of(day)))
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
