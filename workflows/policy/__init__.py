"""The policy: a customer-success team's journeys written as data (DESIGN §3).

A policy is pinned into each journey's workflow input, so every model here round-trips through
JSON unchanged, is frozen, and forbids unknown fields (a typo is an error, not a silent default).

Checks that span fields (dependencies, weights, references to roles, templates and milestones)
are in `policy_checks`; every problem they find becomes its own validation error at its own
path, so `waypost policy check` lists all of them at once.

Imported inside the workflow sandbox: no I/O, settings or clocks at import time. YAML is only
imported when a file is actually parsed (`parse_policy`, `load_policy`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails

from workflows.models import Persona
from workflows.policy import checks

Touch = Literal["tech", "low", "high"]
Owner = Literal["csm", "customer", "system"]
HealthColour = Literal["green", "yellow", "red"]
MeasureKey = Literal["adoption", "support", "sentiment", "contact_stability"]
MEASURES: tuple[MeasureKey, ...] = ("adoption", "support", "sentiment", "contact_stability")
DEFAULT_ROLES: tuple[str, ...] = ("csm", "cs_manager", "account_executive", "support_lead")
GREEN, YELLOW, HYSTERESIS = 70.0, 40.0, 5.0
LOOKBACK_DAYS = 30.0

# Keys end up in workflow ids, idempotency keys and dotted error paths: keep them plain.
KEY_PATTERN = r"^[a-z][a-z0-9_]{0,47}$"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
Key = Annotated[str, Field(pattern=KEY_PATTERN)]
# Durations are days; infinity and NaN would not survive JSON, so they are refused here.
Days = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveDays = Annotated[float, Field(gt=0, allow_inf_nan=False)]


# Validation context for payloads Waypost wrote from policies it had already checked: the
# cross-field checks are skipped, field validation is not (starter/converter.py).
PINNED = "waypost_pinned"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Checked(_Model):
    """A model whose fields must also agree with each other (`_problems`).

    The checks run on the input as written even when some fields fail their types, and each
    problem becomes its own validation error at its own path, so one pass reports everything.
    """

    @classmethod
    def _problems(cls, data: checks.Data) -> checks.Found:
        raise NotImplementedError

    @model_validator(mode="wrap")
    @classmethod
    def _check(
        cls, data: Any, handler: ModelWrapValidatorHandler[Self], info: ValidationInfo
    ) -> Self:
        if info.context and info.context.get(PINNED):
            return handler(data)  # checked when it was pinned (starter/converter.py)
        try:
            model = handler(data)
        except ValidationError as e:
            found = cls._problems(data) if isinstance(data, Mapping) else []
            if not found:
                raise
            raise _errors(cls.__name__, e.errors(), found, data) from None
        found = cls._problems(model.model_dump(by_alias=True))
        if found:
            raise _errors(cls.__name__, [], found, data)
        return model


def _errors(
    title: str, errors: list[ErrorDetails], found: checks.Found, data: Any
) -> ValidationError:
    # Raising a ValidationError from a wrap validator keeps each line error, and pydantic
    # prefixes their locations with the path of this model as the error travels up.
    lines: list[InitErrorDetails] = []
    for err in errors:
        line: InitErrorDetails = {"type": err["type"], "loc": err["loc"], "input": err["input"]}
        if "ctx" in err:
            line["ctx"] = err["ctx"]
        lines.append(line)
    for loc, message in found:
        error = ValueError(message)
        lines.append({"type": "value_error", "loc": loc, "input": data, "ctx": {"error": error}})
    return ValidationError.from_exception_data(title, lines)


# ---- onboarding -------------------------------------------------------------------------------


class When(_Model):
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


class Milestone(_Model):
    key: Key
    title: str = Field(min_length=1)
    due_days: Days = Field(description="Days after onboarding starts.")
    owner: Owner
    after: list[str] = Field(default=[], description="Milestones of this track that come first.")


class RolloutStage(_Model):
    """One wave of an enterprise rollout; more can be added while onboarding runs."""

    key: Key
    title: str = Field(min_length=1)
    due_days: Days = Field(description="Days after onboarding starts.")
    seats: int | None = Field(default=None, ge=1, description="Seats live once this stage is done.")


class Track(_Checked):
    key: Key
    title: str = Field(min_length=1)
    when: When = Field(default_factory=When)
    touch: Touch
    milestones: list[Milestone] = Field(min_length=1)
    rollout_stages: list[RolloutStage] = []

    @classmethod
    def _problems(cls, data: checks.Data) -> checks.Found:
        return checks.track_problems(data)

    def milestone_keys(self) -> list[str]:
        return [m.key for m in self.milestones]


class Onboarding(_Checked):
    tracks: list[Track] = Field(min_length=1, description="Ordered: the first match wins.")

    @classmethod
    def _problems(cls, data: checks.Data) -> checks.Found:
        return checks.onboarding_problems(data)


# ---- adoption ---------------------------------------------------------------------------------


class SteadyExpectation(_Model):
    """The persona uses the product regularly, whatever happens (the article's admins)."""

    kind: Literal["steady"]
    min_active_days_per_week: float = Field(gt=0, le=7)


class EventDrivenExpectation(_Checked):
    """The persona uses the product when an incident happens (the article's end users).

    No incidents means no expectation: quiet can be good news, not a risk.
    """

    kind: Literal["event_driven"]
    within_days_of_incident: Days
    lookback_days: PositiveDays = Field(
        default=LOOKBACK_DAYS, description="Incidents older than this no longer count."
    )

    @classmethod
    def _problems(cls, data: checks.Data) -> checks.Found:
        return checks.event_driven_problems(data, LOOKBACK_DAYS)


Expectation = Annotated[SteadyExpectation | EventDrivenExpectation, Field(discriminator="kind")]


class AdoptionPolicy(_Model):
    check_every_days: PositiveDays = 7
    personas: dict[Persona, Expectation] = Field(
        default={}, description="A persona left out has no usage expectation."
    )


# ---- maturity ---------------------------------------------------------------------------------


class TenureStage(_Model):
    key: Key
    title: str = Field(min_length=1)
    until_days: PositiveDays | None = Field(
        default=None, description="Tenure (days) at which the next stage begins; none on the last."
    )


class RecurringMilestone(_Model):
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


class Maturity(_Checked):
    stages: list[TenureStage] = Field(default_factory=_default_stages, min_length=1)
    recurring: list[RecurringMilestone] = []

    @classmethod
    def _problems(cls, data: checks.Data) -> checks.Found:
        return checks.maturity_problems(data)


# ---- health -----------------------------------------------------------------------------------


class HealthMeasure(_Model):
    key: MeasureKey
    weight: float = Field(gt=0, le=1)
    description: str = ""


class HealthThresholds(_Checked):
    """Scores are 0-100: green at or above `green`, yellow at or above `yellow`, else red.

    A colour is kept until the score moves `hysteresis` points past the threshold it crossed,
    so a score wobbling on a threshold does not flap between colours (and start plays each time).
    """

    green: float = Field(default=GREEN, ge=0, le=100)
    yellow: float = Field(default=YELLOW, ge=0, le=100)
    hysteresis: float = Field(default=HYSTERESIS, ge=0)

    @classmethod
    def _problems(cls, data: checks.Data) -> checks.Found:
        def given(field: str, default: float) -> float | None:
            return checks.number(data, field) if field in data else default

        return checks.thresholds_problems(
            given("green", GREEN), given("yellow", YELLOW), given("hysteresis", HYSTERESIS)
        )


def _default_measures() -> list[HealthMeasure]:
    weights = {"adoption": 0.4, "support": 0.25, "sentiment": 0.2, "contact_stability": 0.15}
    return [HealthMeasure(key=k, weight=w) for k, w in weights.items()]


class Health(_Checked):
    measures: list[HealthMeasure] = Field(default_factory=_default_measures, min_length=1)
    thresholds: HealthThresholds = Field(default_factory=HealthThresholds)

    @classmethod
    def _problems(cls, data: checks.Data) -> checks.Found:
        return checks.health_problems(data)


# ---- plays ------------------------------------------------------------------------------------


class Template(_Checked):
    """A message. Placeholders like {account_name} are filled in when it is sent."""

    subject: str = Field(min_length=1)
    body: str = Field(min_length=1)

    @classmethod
    def _problems(cls, data: checks.Data) -> checks.Found:
        return checks.template_problems(data)


class HealthIs(_Model):
    kind: Literal["health_is"]
    colours: list[HealthColour] = Field(min_length=1)


class MilestonesComplete(_Model):
    kind: Literal["milestones_complete"]
    milestones: list[str] = Field(min_length=1)


class StepsDone(_Model):
    kind: Literal["steps_done"]
    steps: list[str] = Field(min_length=1, description="Task steps of the same play.")


class AdoptionMet(_Model):
    kind: Literal["adoption_met"]
    personas: list[Persona] = Field(min_length=1)


Condition = Annotated[
    HealthIs | MilestonesComplete | StepsDone | AdoptionMet, Field(discriminator="kind")
]


class HealthChangedTrigger(_Model):
    """Health moved from one colour to another; a missing `from` or `to` means any colour."""

    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    kind: Literal["health_changed"]
    from_: HealthColour | None = Field(default=None, alias="from")
    to: HealthColour | None = None


class KeyContactChangedTrigger(_Model):
    kind: Literal["key_contact_changed"]
    personas: list[Persona] | None = Field(default=None, min_length=1)


class AdoptionRiskTrigger(_Model):
    kind: Literal["adoption_risk"]
    personas: list[Persona] | None = Field(default=None, min_length=1)


class SupportEscalatedTrigger(_Model):
    kind: Literal["support_escalated"]


class RenewalDueTrigger(_Model):
    kind: Literal["renewal_due"]
    days_before: PositiveDays


class MilestoneOverdueTrigger(_Model):
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


class TaskStep(_Model):
    kind: Literal["task"]
    key: Key
    title: str = Field(min_length=1)
    assignee: str = Field(description="A role from `roles`.")
    due_days: Days
    template: str | None = Field(default=None, description="Sent to the assignee.")


class NotifyStep(_Model):
    kind: Literal["notify"]
    key: Key
    to: str = Field(description="A role from `roles`, or a persona (the account's contacts).")
    template: str


class WaitUntilStep(_Model):
    kind: Literal["wait_until"]
    key: Key
    condition: Condition
    timeout_days: PositiveDays


class EscalateStep(_Model):
    """If task `if_not_done` is still open `sla_days` after it was created, tell `to`."""

    kind: Literal["escalate"]
    key: Key
    if_not_done: str = Field(description="An earlier task step of this play.")
    sla_days: PositiveDays
    to: str = Field(description="A role from `roles`.")
    template: str | None = None


Step = Annotated[TaskStep | NotifyStep | WaitUntilStep | EscalateStep, Field(discriminator="kind")]


class Play(_Checked):
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

    @classmethod
    def _problems(cls, data: checks.Data) -> checks.Found:
        return checks.play_problems(data)


# ---- the policy -------------------------------------------------------------------------------


class Policy(_Checked):
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

    @classmethod
    def _problems(cls, data: checks.Data) -> checks.Found:
        return checks.policy_problems(data, DEFAULT_ROLES)

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


# ---- loading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyIssue:
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PolicyError(Exception):
    """A policy that cannot be used, with every problem found (`errors`: `path: what is wrong`)."""

    def __init__(self, source: str, issues: list[PolicyIssue]) -> None:
        self.source = source
        self.issues = issues
        self.errors = [str(i) for i in issues]
        n = len(issues)
        lines = "\n".join(f"  {e}" for e in self.errors)
        super().__init__(f"{source}: invalid policy ({n} error{'s' * (n != 1)})\n{lines}")


def parse_policy(text: str, source: str = "<string>") -> Policy:
    """A policy from YAML text; raises PolicyError listing every problem, with line numbers."""
    # Imported here so that workflow code, which only needs the models, never imports YAML.
    from workflows.policy.loader import parse_yaml_policy

    return parse_yaml_policy(text, source)


def load_policy(path: str | Path) -> Policy:
    """A policy from a YAML file; an unreadable file is a PolicyError too."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise PolicyError(str(path), [PolicyIssue("file", f"cannot read {path}: {reason}")]) from e
    return parse_policy(text, str(path))


def policy_from_data(data: Any, source: str = "<data>") -> Policy:
    """A policy from already-parsed data (e.g. a JSON request body), with the same errors."""
    from workflows.policy.loader import validate_policy_data

    return validate_policy_data(data, source, nodes=None)
