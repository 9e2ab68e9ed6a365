"""One model per message a journey takes or gives: its input, each update, its state query."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows.models import Account
from workflows.policy import Policy

MilestoneStatus = Literal["pending", "done", "overdue"]
Stage = Literal["onboarding", "adoption", "ended"]


class JourneyInput(BaseModel):
    """What a journey starts with: the account, the policy pinned at start, and its clock."""

    account: Account
    policy: Policy
    day_seconds: float = Field(
        default=86400.0,
        gt=0,
        description="Seconds in a journey day: 86400 in production, tiny in tests and demos.",
    )


class MilestoneDone(BaseModel):
    """Update `complete_milestone`: someone finished an onboarding milestone."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, description="The milestone's key in the account's track.")
    by: str | None = Field(default=None, description="Who reported it (CSM, CRM, system).")


class EndJourney(BaseModel):
    """Update `end_journey`: the customer churned or the relationship ended another way."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["churned", "ended"]
    reason: str = Field(min_length=1)


class MilestoneState(BaseModel):
    key: str
    title: str
    owner: str
    due_day: float
    due_at: datetime
    status: MilestoneStatus = "pending"
    done_at: datetime | None = None
    done_day: float | None = None
    late: bool = Field(default=False, description="Done, but only after it went overdue.")


class JourneyEnded(BaseModel):
    outcome: Literal["churned", "ended"]
    reason: str
    at: datetime


class JourneyState(BaseModel):
    """Query `state`: everything a CSM needs to see where a journey is."""

    account_id: str
    segment: str
    tier: str
    csm: str
    policy_name: str
    policy_version: int
    track: str
    track_reason: str
    touch: str
    day_seconds: float
    started_at: datetime
    journey_day: float = 0.0
    stage: Stage = "onboarding"
    milestones: list[MilestoneState]
    ended: JourneyEnded | None = None

    def milestone(self, key: str) -> MilestoneState | None:
        return next((m for m in self.milestones if m.key == key), None)
