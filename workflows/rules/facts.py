"""What rules about plays are told: the changes that may start plays (play events), and the
journey facts that a play's conditions are judged against."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field

from workflows.models import ID_PATTERN, HealthColour, Persona
from workflows.rules.why import Result, num


class _Event(Result):
    """A change that may start plays. `cause` names what it is about: a play runs at most
    once at a time per cause, and cooldowns and re-entry are counted per cause."""

    event_id: str | None = Field(default=None, description="The external event, if any.")
    occurred_at: datetime | None = None


class HealthChangedEvent(_Event):
    kind: Literal["health_changed"] = "health_changed"
    from_colour: HealthColour | None
    to_colour: HealthColour
    score: float | None = None

    @property
    def cause(self) -> str:
        return "health"  # one health play per account at a time, whatever the colours

    def describe(self) -> str:
        return f"health changed from {self.from_colour or 'unknown'} to {self.to_colour}"


class KeyContactChangedEvent(_Event):
    kind: Literal["key_contact_changed"] = "key_contact_changed"
    contact_id: str = Field(pattern=ID_PATTERN, description="The new key contact.")
    persona: Persona | None = None

    @property
    def cause(self) -> str:
        return self.contact_id

    def describe(self) -> str:
        return f"key contact changed to {self.contact_id} ({self.persona or 'persona unknown'})"


class AdoptionRiskEvent(_Event):
    kind: Literal["adoption_risk"] = "adoption_risk"
    persona: Persona

    @property
    def cause(self) -> str:
        return self.persona

    def describe(self) -> str:
        return f"adoption at risk for {self.persona}"


class SupportEscalatedEvent(_Event):
    kind: Literal["support_escalated"] = "support_escalated"
    ticket_id: str = Field(pattern=ID_PATTERN)

    @property
    def cause(self) -> str:
        return self.ticket_id

    def describe(self) -> str:
        return f"support ticket {self.ticket_id} escalated"


class RenewalDueEvent(_Event):
    kind: Literal["renewal_due"] = "renewal_due"
    contract_end: date
    days_before: float = Field(
        gt=0, description="The checkpoint reached (see renewal_checkpoints)."
    )

    @property
    def cause(self) -> str:
        return self.contract_end.isoformat()

    def describe(self) -> str:
        return f"renewal on {self.contract_end.isoformat()} is {num(self.days_before)} days away"


class MilestoneOverdueEvent(_Event):
    kind: Literal["milestone_overdue"] = "milestone_overdue"
    milestone: str
    occurrence: int | None = Field(
        default=None, ge=1, description="For a recurring milestone: which one (1, 2, ...)."
    )

    @property
    def cause(self) -> str:
        # Each occurrence of a recurring milestone is its own cause, so a once-per-cause play
        # runs again for next year's overdue refresher.
        return self.milestone if self.occurrence is None else f"{self.milestone}-{self.occurrence}"

    def describe(self) -> str:
        which = "" if self.occurrence is None else f" #{self.occurrence}"
        return f"milestone {self.milestone}{which} is overdue"


PlayEvent = Annotated[
    HealthChangedEvent
    | KeyContactChangedEvent
    | AdoptionRiskEvent
    | SupportEscalatedEvent
    | RenewalDueEvent
    | MilestoneOverdueEvent,
    Field(discriminator="kind"),
]


class JourneyFacts(Result):
    """What a `wait_until` or `exit_when` condition is judged against."""

    health: HealthColour | None = None
    completed_milestones: list[str] = Field(default_factory=list)
    done_steps: list[str] = Field(default_factory=list)
    adoption_at_risk: list[Persona] = Field(default_factory=list)
