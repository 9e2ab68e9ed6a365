"""Pure onboarding arithmetic: journey days to instants and back, and the stage it implies."""

from __future__ import annotations

from datetime import datetime, timedelta

from workflows.messages import JourneyState, MilestoneState, Stage
from workflows.policy import Track


def plan_milestones(track: Track, started_at: datetime, day_seconds: float) -> list[MilestoneState]:
    return [
        MilestoneState(
            key=m.key,
            title=m.title,
            owner=m.owner,
            due_day=m.due_days,
            due_at=started_at + timedelta(seconds=m.due_days * day_seconds),
        )
        for m in track.milestones
    ]


def journey_day(started_at: datetime, now: datetime, day_seconds: float) -> float:
    return round((now - started_at).total_seconds() / day_seconds, 2)


def stage_of(state: JourneyState) -> Stage:
    if state.ended is not None:
        return "ended"
    if any(m.status == "pending" for m in state.milestones):
        return "onboarding"
    return "adoption"
