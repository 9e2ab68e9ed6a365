"""The policy: a customer-success team's journeys written as data.

A policy names its onboarding tracks, the usage it expects of each persona, the stages of a
customer's tenure, how health is scored, and the plays that respond to changes (their
triggers, steps, conditions and message templates).

Each journey pins the policy it started with into its workflow input, so these models are what
a worker decodes: field validation only. Whether the fields agree with each other (references,
cycles, weights) is checked where a policy enters Waypost (`checks.check_policy`), once.

Imported inside the workflow sandbox: no I/O, settings or clocks at import time.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows.models import Persona
from workflows.policy.fields import (
    DEFAULT_ROLES,
    NAME_PATTERN,
    Days,
    HealthColour,
    Key,
    MeasureKey,
    Owner,
    PositiveDays,
    Touch,
)

GREEN, YELLOW, HYSTERESIS = 70.0, 40.0, 5.0
LOOKBACK_DAYS = 30.0


class Model(BaseModel):
    """Pinned into workflow inputs: round-trips through JSON unchanged, frozen, and refuses
    unknown fields (a typo is an error, not a silent default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# ---- onboarding -------------------------------------------------------------------------------


class When(Model):
    """Which accounts a track is for. Every condition given must hold; none given matches all."""

    segment: list[str] | None = Field(default=None, min_length=1, description="Allowed segments.")
    tier: list[str] | None = Field(default=None, min_length=1, description="Allowed tiers.")
    add_ons_any: list[str] | None = Field(
        default=None, min_length=1, description="The account has at least one of these add-ons."
    )
    min_seats: int | None = Field(default=None, ge=1)

    def is_empty(self) -> bool:
        given = (self.segment, self.tier, self.add_ons_any, self.min_seats)
        return all(condition is None for condition in given)


class Milestone(Model):
    key: Key
    title: str = Field(min_length=1)
    due_days: Days = Field(description="Days after onboarding starts.")
    owner: Owner
    after: list[str] = Field(default=[], description="Milestones of this track that come first.")


class RolloutStage(Model):
    """One wave of an enterprise rollout; more can be added while onboarding runs."""

    key: Key
    title: str = Field(min_length=1)
    due_days: Days = Field(description="Days after onboarding starts.")
    seats: int | None = Field(default=None, ge=1, description="Seats live once this stage is done.")


class Track(Model):
    key: Key
    title: str = Field(min_length=1)
    when: When = Field(default_factory=When)
    touch: Touch
    milestones: list[Milestone] = Field(min_length=1)
    rollout_stages: list[RolloutStage] = []

    def milestone_keys(self) -> list[str]:
        return [m.key for m in self.milestones]


class Onboarding(Model):
    tracks: list[Track] = Field(min_length=1, description="Ordered: the first match wins.")


# ---- adoption ---------------------------------------------------------------------------------


class SteadyExpectation(Model):
    """The persona uses the product regularly, whatever happens (e.g. the admins of a
    risk-management product, who look every week)."""

    kind: Literal["steady"]
    min_active_days_per_week: float = Field(gt=0, le=7)


class EventDrivenExpectation(Model):
    """The persona uses the product when an incident happens (e.g. the end users
    of a risk-management product, who open it to respond).

    No incidents means no expectation: quiet can be good news, not a risk.
    """

    kind: Literal["event_driven"]
    within_days_of_incident: Days
    lookback_days: PositiveDays = Field(
        default=LOOKBACK_DAYS, description="Incidents older than this no longer count."
    )


Expectation = Annotated[SteadyExpectation | EventDrivenExpectation, Field(discriminator="kind")]


class AdoptionPolicy(Model):
    check_every_days: PositiveDays = 7
    personas: dict[Persona, Expectation] = Field(
        default={}, description="A persona left out has no usage expectation."
    )


# ---- maturity ---------------------------------------------------------------------------------


class TenureStage(Model):
    key: Key
    title: str = Field(min_length=1)
    until_days: PositiveDays | None = Field(
        default=None, description="Tenure (days) at which the next stage begins; none on the last."
    )


class RecurringMilestone(Model):
    key: Key
    title: str = Field(min_length=1)
    every_days: PositiveDays
    first_after_days: Days | None = Field(
        default=None, description="Tenure at the first occurrence; defaults to every_days."
    )
    owner: Owner = "csm"


def _default_stages() -> list[TenureStage]:
    return [
        TenureStage(key="new", title="New", until_days=90),
        TenureStage(key="established", title="Established", until_days=730),
        TenureStage(key="mature", title="Mature"),
    ]


class Maturity(Model):
    stages: list[TenureStage] = Field(default_factory=_default_stages, min_length=1)
    recurring: list[RecurringMilestone] = []


# ---- health -----------------------------------------------------------------------------------


class HealthMeasure(Model):
    key: MeasureKey
    weight: float = Field(gt=0, le=1)
    description: str = ""


class HealthThresholds(Model):
    """Scores are 0-100: green at or above `green`, yellow at or above `yellow`, else red.

    A colour is kept until the score moves `hysteresis` points past the threshold it crossed,
    so a score wobbling on a threshold does not flap between colours (and start plays each time).
    """

    green: float = Field(default=GREEN, ge=0, le=100)
    yellow: float = Field(default=YELLOW, ge=0, le=100)
    hysteresis: float = Field(default=HYSTERESIS, ge=0)


def _default_measures() -> list[HealthMeasure]:
    weights = {"adoption": 0.4, "support": 0.25, "sentiment": 0.2, "contact_stability": 0.15}
    return [HealthMeasure(key=k, weight=w) for k, w in weights.items()]


class Health(Model):
    measures: list[HealthMeasure] = Field(default_factory=_default_measures, min_length=1)
    thresholds: HealthThresholds = Field(default_factory=HealthThresholds)


# ---- plays ------------------------------------------------------------------------------------


class Template(Model):
    """A message. Placeholders like {account_name} are filled in when it is sent."""

    subject: str = Field(min_length=1)
    body: str = Field(min_length=1)


class HealthIs(Model):
    kind: Literal["health_is"]
    colours: list[HealthColour] = Field(min_length=1)


class MilestonesComplete(Model):
    kind: Literal["milestones_complete"]
    milestones: list[str] = Field(min_length=1)


class StepsDone(Model):
    kind: Literal["steps_done"]
    steps: list[str] = Field(min_length=1, description="Task steps of the same play.")


class AdoptionMet(Model):
    kind: Literal["adoption_met"]
    personas: list[Persona] = Field(min_length=1)


Condition = Annotated[
    HealthIs | MilestonesComplete | StepsDone | AdoptionMet, Field(discriminator="kind")
]


class HealthChangedTrigger(Model):
    """Health moved from one colour to another; a missing `from` or `to` means any colour."""

    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    kind: Literal["health_changed"]
    from_: HealthColour | None = Field(default=None, alias="from")
    to: HealthColour | None = None


class KeyContactChangedTrigger(Model):
    kind: Literal["key_contact_changed"]
    personas: list[Persona] | None = Field(default=None, min_length=1)


class AdoptionRiskTrigger(Model):
    kind: Literal["adoption_risk"]
    personas: list[Persona] | None = Field(default=None, min_length=1)


class SupportEscalatedTrigger(Model):
    kind: Literal["support_escalated"]


class RenewalDueTrigger(Model):
    kind: Literal["renewal_due"]
    days_before: PositiveDays


class MilestoneOverdueTrigger(Model):
    kind: Literal["milestone_overdue"]
    milestones: list[str] | None = Field(default=None, min_length=1)


Trigger = Annotated[
    HealthChangedTrigger
    | KeyContactChangedTrigger
    | AdoptionRiskTrigger
    | SupportEscalatedTrigger
    | RenewalDueTrigger
    | MilestoneOverdueTrigger,
    Field(discriminator="kind"),
]


class TaskStep(Model):
    kind: Literal["task"]
    key: Key
    title: str = Field(min_length=1)
    assignee: str = Field(description="A role from `roles`.")
    due_days: Days
    template: str | None = Field(default=None, description="Sent to the assignee.")


class NotifyStep(Model):
    kind: Literal["notify"]
    key: Key
    to: str = Field(description="A role from `roles`, or a persona (the account's contacts).")
    template: str


class WaitUntilStep(Model):
    kind: Literal["wait_until"]
    key: Key
    condition: Condition
    timeout_days: PositiveDays


class EscalateStep(Model):
    """If task `if_not_done` is still open `sla_days` after it was created, tell `to`."""

    kind: Literal["escalate"]
    key: Key
    if_not_done: str = Field(description="An earlier task step of this play.")
    sla_days: PositiveDays
    to: str = Field(description="A role from `roles`.")
    template: str | None = None


Step = Annotated[TaskStep | NotifyStep | WaitUntilStep | EscalateStep, Field(discriminator="kind")]


class Play(Model):
    key: Key
    title: str = Field(min_length=1)
    trigger: Trigger
    steps: list[Step] = Field(min_length=1)
    cooldown_days: Days = Field(default=0, description="Quiet time after a start.")
    cooldown_per: Literal["cause", "play"] = Field(
        default="cause",
        description="Cooldown per cause (e.g. per contact) or for the play as a whole.",
    )
    reentry: Literal["after_cooldown", "once_per_cause"] = Field(
        default="after_cooldown",
        description="once_per_cause: never again for a cause it has already run for.",
    )
    exit_when: Condition | None = Field(default=None, description="Ends the play early.")


# ---- the policy -------------------------------------------------------------------------------


class Policy(Model):
    """A team's journeys: onboarding, adoption, maturity, health and plays."""

    name: str = Field(pattern=NAME_PATTERN)
    version: int = Field(ge=1)
    description: str = ""
    roles: list[Key] = Field(default_factory=lambda: list(DEFAULT_ROLES))
    templates: dict[Key, Template] = {}
    onboarding: Onboarding
    adoption: AdoptionPolicy = Field(default_factory=AdoptionPolicy)
    maturity: Maturity = Field(default_factory=Maturity)
    health: Health = Field(default_factory=Health)
    plays: list[Play] = []

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    def track(self, key: str) -> Track:
        for track in self.onboarding.tracks:
            if track.key == key:
                return track
        raise KeyError(f"policy {self.label} has no track '{key}'")

    def play(self, key: str) -> Play:
        for play in self.plays:
            if play.key == key:
                return play
        raise KeyError(f"policy {self.label} has no play '{key}'")
