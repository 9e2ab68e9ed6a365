"""Pure decisions from a policy: which track, whether adoption is on course, how healthy an
account is, its tenure stage, its next recurring milestones, and which plays a change starts.

No Temporal, no I/O and no clock: `now` is always a parameter, so a workflow calls these with
`workflow.now()` and replays get the same answers. `now` is *journey* time; a journey whose days
are scaled (`day_seconds`) maps its clock onto policy days before asking.

One module per decision (`track`, `adoption`, `health`, `maturity`, `renewal`, `plays`),
the events and facts they are told (`facts`), and the why-record (`why`); callers import from
here.

Every result carries a `Why`: what prompted the decision, the policy name and version, and the
facts it used, so it can be stored in the timeline and shown to a CSM as it was decided.
"""

from __future__ import annotations

from workflows.rules.adoption import (
    AdoptionReport,
    AdoptionStatus,
    PersonaAdoption,
    evaluate_adoption,
)
from workflows.rules.facts import (
    AdoptionRiskEvent,
    HealthChangedEvent,
    JourneyFacts,
    KeyContactChangedEvent,
    MilestoneOverdueEvent,
    PlayEvent,
    RenewalDueEvent,
    SupportEscalatedEvent,
)
from workflows.rules.health import (
    Contribution,
    HealthScore,
    score_health,
)
from workflows.rules.maturity import (
    RecurringDue,
    Tenure,
    next_recurring,
    tenure_stage,
)
from workflows.rules.plays import (
    ConditionCheck,
    FactsWatched,
    PlayDecision,
    PlayRun,
    check_condition,
    plays_to_start,
    watched_by,
)
from workflows.rules.renewal import (
    RenewalCheckpoint,
    renewal_checkpoints,
)
from workflows.rules.track import (
    TrackChoice,
    select_track,
)
from workflows.rules.why import (
    Why,
)

__all__ = [
    "AdoptionReport",
    "AdoptionRiskEvent",
    "AdoptionStatus",
    "ConditionCheck",
    "Contribution",
    "FactsWatched",
    "HealthChangedEvent",
    "HealthScore",
    "JourneyFacts",
    "KeyContactChangedEvent",
    "MilestoneOverdueEvent",
    "PersonaAdoption",
    "PlayDecision",
    "PlayEvent",
    "PlayRun",
    "RecurringDue",
    "RenewalCheckpoint",
    "RenewalDueEvent",
    "SupportEscalatedEvent",
    "Tenure",
    "TrackChoice",
    "Why",
    "check_condition",
    "evaluate_adoption",
    "next_recurring",
    "plays_to_start",
    "renewal_checkpoints",
    "score_health",
    "select_track",
    "tenure_stage",
    "watched_by",
]
