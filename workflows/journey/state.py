"""A journey's state: carried across continue-as-new and returned by query `state`.

Times a CSM reads are journey days and journey dates; the clock (workflows/clock.py) maps them
onto real instants, which only differ from journey time when days are compressed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from workflows.clock import JourneyClock
from workflows.journey.ledger import EventLedger
from workflows.models import UNSCORED, HealthLabel, Persona
from workflows.rules import (
    AdoptionReport,
    FactsWatched,
    HealthScore,
    PlayDecision,
    PlayRun,
    Tenure,
)
from workflows.rules.why import Why

MilestoneStatus = Literal["pending", "done", "overdue"]


class MilestoneState(BaseModel):
    key: str
    title: str
    owner: str
    kind: Literal["milestone", "rollout_stage"] = "milestone"
    after: list[str] = []
    due_day: float
    due_at: datetime = Field(description="Journey date and time it falls due.")
    status: MilestoneStatus = "pending"
    done_at: datetime | None = None
    done_day: float | None = None
    late: bool = Field(default=False, description="Done, but only after it went overdue.")


class RecurringState(BaseModel):
    """A recurring milestone (training refresher, goal review, stakeholder review)."""

    key: str
    title: str
    owner: str
    every_days: float
    occurrence: int = Field(default=0, description="The latest occurrence that fell due.")
    due_day: float | None = None
    done_occurrences: list[int] = []
    next_due_day: float | None = None
    next_due_at: datetime | None = None


class MeasureValue(BaseModel):
    value: float
    at: datetime
    note: str | None = None
    source: str = "crm"


class ContactState(BaseModel):
    contact_id: str
    persona: Persona
    key: bool = False
    present: bool = True


class Incident(BaseModel):
    incident_id: str
    at: datetime
    severity: str


class TriggerRecord(BaseModel):
    """A change that may start plays, with the decision for each play it triggers."""

    kind: str
    cause: str
    day: float
    at: datetime
    summary: str
    why: Why | None = None
    decisions: list[PlayDecision] = []


class Completed(BaseModel):
    """Result of update `complete_milestone`, whatever kind of item was completed."""

    key: str
    title: str
    kind: Literal["milestone", "rollout_stage", "recurring"]
    status: MilestoneStatus
    done_day: float | None
    late: bool = False
    occurrence: int | None = None


class OpenPlay(BaseModel):
    play_id: str
    play: str
    title: str
    cause: str
    why: str
    started_day: float
    watches: FactsWatched | None = Field(
        default=None,
        description="The journey facts its conditions read; None (plays started before this "
        "was kept) hears them all.",
    )


class NextTimer(BaseModel):
    what: str
    day: float
    at: datetime


class JourneyEnded(BaseModel):
    outcome: Literal["churned", "ended"]
    reason: str
    at: datetime


class JourneyState(BaseModel):
    """Everything a CSM needs to see where a journey is, and all a new run needs to go on."""

    account_id: str
    segment: str
    tier: str
    csm: str
    contract_start: date | None = None
    contract_end: date | None = None
    policy_name: str
    policy_version: int
    track: str
    track_reason: str
    touch: str
    day_seconds: float
    started_at: datetime = Field(description="Real instant the journey's first run started.")
    epoch: datetime | None = Field(default=None, description="Journey time on day 0.")
    journey_day: float = 0.0
    today: date | None = None
    stage: str = "onboarding"
    tenure: Tenure | None = None
    milestones: list[MilestoneState]
    recurring: list[RecurringState] = []
    contacts: list[ContactState] = []
    measures: dict[str, MeasureValue] = {}
    health: HealthScore | None = None
    adoption: AdoptionReport | None = None
    active_days: dict[Persona, list[date]] = {}
    incidents: list[Incident] = []
    next_adoption_check_day: float | None = None
    maturity_cursor: datetime | None = Field(
        default=None, description="Journey time up to which maturity items were handled."
    )
    renewal_checkpoints_fired: list[str] = []
    next_renewal_day: float | None = None
    triggers: list[TriggerRecord] = []
    open_plays: dict[str, OpenPlay] = {}
    play_runs: list[PlayRun] = Field(default=[], description="What cooldowns are judged on.")
    next_timers: list[NextTimer] = []
    ledger: EventLedger = Field(default_factory=EventLedger)
    runs: int = Field(default=1, description="Runs so far, counting continue-as-new.")
    ended: JourneyEnded | None = None

    def milestone(self, key: str) -> MilestoneState | None:
        return next((m for m in self.milestones if m.key == key), None)

    def recurring_item(self, key: str) -> RecurringState | None:
        return next((r for r in self.recurring if r.key == key), None)

    @property
    def health_colour(self) -> HealthLabel:
        return self.health.colour if self.health else UNSCORED

    def clock(self) -> JourneyClock:
        """The journey's clock: day 0 at the first run's start, at its `day_seconds`."""
        return JourneyClock(self.started_at, self.epoch or self.started_at, self.day_seconds)
