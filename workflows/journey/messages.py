"""One model per message a journey takes: its input, each signal and each update.

Every external event carries `event_id` (for de-duplication) and `occurred_at` (for ordering):
CRMs retry and reorder deliveries, and a journey must end up as the in-order stream would.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from workflows.clock import DAY_SECONDS
from workflows.journey import names
from workflows.journey.state import JourneyState
from workflows.models import ID_PATTERN, KEY_PATTERN, Account, Persona
from workflows.policy import MeasureKey, Policy


class JourneyInput(BaseModel):
    """What a journey starts with: the account, the policy pinned at start, and its clock."""

    account: Account
    policy: Policy
    day_seconds: float = Field(
        default=DAY_SECONDS,
        gt=0,
        description="Seconds in a journey day: 86400 in production, tiny in tests and demos.",
    )
    epoch: AwareDatetime | None = Field(
        default=None,
        description="Journey time at the first run's start; default the real start time. "
        "Compressed runs set the contract start, so they begin on the first contract day.",
    )
    carried: JourneyState | None = Field(
        default=None, description="State handed over by continue-as-new; None on a new journey."
    )


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(min_length=1, max_length=200, description="Unique per event at source.")
    occurred_at: AwareDatetime = Field(description="When it happened at the source (with zone).")


class UsageReported(_Event):
    """Product usage (signal `usage_reported`), in one of two shapes.

    One person's: someone with `persona` was active at `occurred_at`, or on each of
    `active_on` (journey dates). Or the account's rollup, as product analytics exports it:
    `by_persona` maps each persona to its active days, so a week of usage for the whole
    account is one signal, not one per persona (each signal is a billed Temporal action).
    """

    persona: Persona | None = Field(default=None, description="One person's usage: their role.")
    contact_id: str | None = Field(default=None, pattern=ID_PATTERN)
    active_on: list[date] = Field(
        default=[],
        max_length=62,
        description="Days active, e.g. a weekly rollup; dates after "
        "the journey's today are ignored.",
    )
    by_persona: dict[Persona, Annotated[list[date], Field(max_length=62)]] = Field(
        default={},
        validate_default=True,
        description="The account's rollup: days active per persona. Instead of `persona`.",
    )

    @field_validator("by_persona")
    @classmethod
    def _one_shape(
        cls, by_persona: dict[Persona, list[date]], info: ValidationInfo
    ) -> dict[Persona, list[date]]:
        if "persona" not in info.data:
            return by_persona  # `persona` itself was invalid, and that error says so
        one = info.data["persona"] is not None
        if one and by_persona:
            raise ValueError("give `persona` or `by_persona`, not both")
        if not one and not by_persona:
            raise ValueError(
                "give `persona` (one person's usage) or `by_persona` (the account's days "
                "active per persona)"
            )
        if by_persona and (info.data.get("active_on") or info.data.get("contact_id")):
            raise ValueError(
                "a `by_persona` rollup carries its own days: drop `active_on` and `contact_id`"
            )
        return by_persona

    def days_by_persona(self, day_of_event: date) -> dict[Persona, list[date]]:
        """Active days per persona, whichever shape was sent (`day_of_event`: when a single
        usage without dates happened, in journey dates)."""
        if self.persona is None:
            return {p: sorted(set(days)) for p, days in self.by_persona.items()}
        return {self.persona: sorted(set(self.active_on or [day_of_event]))}


class IncidentReported(_Event):
    """An incident at the customer: event-driven personas are expected to respond to it."""

    incident_id: str = Field(pattern=ID_PATTERN)
    severity: Literal["low", "medium", "high", "critical"] = "medium"


class HealthMeasured(_Event):
    """A health measure's new value, 0-100 (signal `health_measured`)."""

    measure: MeasureKey
    value: float = Field(ge=0, le=100)
    note: str | None = Field(
        default=None, max_length=300, description="e.g. '3 escalations in 30 days'"
    )


class KeyContactChanged(_Event):
    """A key contact left, joined or changed role (signal `key_contact_changed`)."""

    contact_id: str = Field(pattern=ID_PATTERN)
    change: Literal["left", "joined", "role_changed"]
    persona: Persona


class SupportEscalated(_Event):
    """A support ticket was escalated (signal `support_escalated`)."""

    ticket_id: str = Field(pattern=ID_PATTERN)
    severity: Literal["low", "medium", "high", "critical"] = "high"


ExternalEvent = (
    UsageReported | IncidentReported | HealthMeasured | KeyContactChanged | SupportEscalated
)

# The external events a journey takes, by signal name: callers look a kind up here to
# validate an event before signalling it.
SIGNALS: dict[str, type[_Event]] = {
    names.USAGE_REPORTED: UsageReported,
    names.INCIDENT_REPORTED: IncidentReported,
    names.HEALTH_MEASURED: HealthMeasured,
    names.KEY_CONTACT_CHANGED: KeyContactChanged,
    names.SUPPORT_ESCALATED: SupportEscalated,
}


class MilestoneDone(BaseModel):
    """Update `complete_milestone`: an onboarding milestone, rollout stage or recurring item
    (its current occurrence) is done."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, description="The milestone's key in the account's track.")
    by: str | None = Field(default=None, description="Who reported it (CSM, CRM, system).")


class AddRolloutStage(BaseModel):
    """Update `add_rollout_stage`: an enterprise rollout gains a stage, moving its end."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    title: str = Field(min_length=1, max_length=120)
    due_days: float = Field(ge=0, description="Days after onboarding started.")
    seats: int | None = Field(default=None, ge=1)


class RenewContract(BaseModel):
    """Update `renew_contract`: the contract now ends on `contract_end`."""

    model_config = ConfigDict(extra="forbid")

    contract_end: date


class EndJourney(BaseModel):
    """Update `end_journey`: the customer churned or the relationship ended another way."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["churned", "ended"]
    reason: str = Field(min_length=1, max_length=300)


class ChangePolicy(BaseModel):
    """Update `change_policy`: pin a newer policy for decisions from now on."""

    model_config = ConfigDict(extra="forbid")

    policy: Policy
