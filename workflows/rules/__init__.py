"""Pure decisions from a policy: which track, whether adoption is on course, how healthy an
account is, its tenure stage, its next recurring milestones, and which plays a change starts.

No Temporal, no I/O and no clock: `now` is always a parameter, so a workflow calls these with
`workflow.now()` and replays get the same answers. `now` is *journey* time; a journey whose days
are scaled (`day_seconds`) maps its clock onto policy days before asking.

Every result carries a `Why`: what prompted the decision, the policy name and version, and the
facts it used, so it can be stored in the timeline and shown to a CSM as it was decided.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import Field

from workflows.models import PERSONAS, Account, Persona
from workflows.policy import (
    EventDrivenExpectation,
    HealthColour,
    MeasureKey,
    Policy,
    SteadyExpectation,
    Track,
    When,
)
from workflows.rules.plays import (
    AdoptionRiskEvent,
    ConditionCheck,
    FactsWatched,
    HealthChangedEvent,
    JourneyFacts,
    KeyContactChangedEvent,
    MilestoneOverdueEvent,
    PlayDecision,
    PlayEvent,
    PlayRun,
    RenewalCheckpoint,
    RenewalDueEvent,
    SupportEscalatedEvent,
    check_condition,
    plays_to_start,
    renewal_checkpoints,
    watched_by,
)
from workflows.rules.why import Fact, Result, Why, midnight, num, plural, why_record

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

DAY = timedelta(days=1)
_RANK: dict[HealthColour, int] = {"red": 0, "yellow": 1, "green": 2}


# ---- onboarding -------------------------------------------------------------------------------


class TrackChoice(Result):
    track: Track
    reason: str = Field(description="e.g. track 'enterprise_rollout': segment is enterprise")
    passed_over: list[str] = Field(description="Why each earlier track did not match.")
    why: Why


def _match(when: When, account: Account) -> tuple[list[str], list[str]]:
    """(conditions that hold, conditions that fail), in words."""
    holds: list[str] = []
    fails: list[str] = []
    if when.segment is not None:
        ok = account.segment in when.segment
        wanted = "" if ok else f" (wants {' or '.join(when.segment)})"
        (holds if ok else fails).append(f"segment is {account.segment}{wanted}")
    if when.tier is not None:
        ok = account.tier in when.tier
        wanted = "" if ok else f" (wants {' or '.join(when.tier)})"
        (holds if ok else fails).append(f"tier is {account.tier}{wanted}")
    if when.add_ons_any is not None:
        has = [a for a in when.add_ons_any if a in account.add_ons]
        if has:
            holds.append(f"has add-on{'s' * (len(has) > 1)} {', '.join(has)}")
        else:
            fails.append(f"has none of the add-ons {', '.join(when.add_ons_any)}")
    if when.min_seats is not None:
        ok = account.seats >= when.min_seats
        (holds if ok else fails).append(
            f"{account.seats} seats ({'at least' if ok else 'fewer than'} {when.min_seats})"
        )
    return holds, fails


def select_track(
    account: Account, policy: Policy, *, trigger: str = "journey started"
) -> TrackChoice:
    """The first track whose `when` holds for the account. The policy guarantees the last
    track matches every account, so there is always a choice."""
    passed_over: list[str] = []
    for track in policy.onboarding.tracks:
        holds, fails = _match(track.when, account)
        if fails:
            passed_over.append(f"track '{track.key}': {' and '.join(fails)}")
            continue
        why = " and ".join(holds) if holds else "fallback (matches every account)"
        reason = f"track '{track.key}': {why}"
        facts: dict[str, Fact] = {
            "account_id": account.account_id,
            "segment": account.segment,
            "tier": account.tier,
            "add_ons": ", ".join(account.add_ons),
            "seats": account.seats,
            "track": track.key,
            "touch": track.touch,
        }
        return TrackChoice(
            track=track,
            reason=reason,
            passed_over=passed_over,
            why=why_record("select_track", trigger, policy, reason, facts),
        )
    raise ValueError(f"policy {policy.label} has no fallback track")  # validation prevents it


# ---- adoption ---------------------------------------------------------------------------------

AdoptionStatus = Literal["met", "at_risk", "no_expectation"]


class PersonaAdoption(Result):
    persona: Persona
    status: AdoptionStatus
    expectation: Literal["steady", "event_driven"] | None = None
    window_days: float | None = Field(default=None, description="The period looked at.")
    required_days: float | None = Field(default=None, description="Steady: active days needed.")
    active_days: int | None = Field(default=None, description="Steady: active days seen.")
    incidents: int = 0
    answered: int = Field(default=0, description="Incidents followed by activity in time.")
    missed: int = Field(default=0, description="Incidents whose response window closed unused.")
    pending: int = Field(default=0, description="Incidents still inside their window.")
    attainment: float | None = Field(default=None, description="0-1; None when not judged.")
    reason: str


class AdoptionReport(Result):
    personas: list[PersonaAdoption]
    at_risk: list[Persona]
    score: float | None = Field(description="0-100 over judged personas: the health measure.")
    reason: str
    why: Why


def evaluate_adoption(
    active_days: Mapping[Persona, Sequence[date]],
    incidents: Sequence[datetime],
    policy: Policy,
    now: datetime,
    *,
    personas_present: Collection[Persona] | None = None,
    observed_since: date | None = None,
    trigger: str = "adoption check",
) -> AdoptionReport:
    """Each persona against its expectation (DESIGN §3 adoption).

    `active_days` holds, per persona, the days on which someone with that persona used the
    product. A persona missing from `personas_present` (no such contact) and a steady window
    not yet fully observed since `observed_since` are not judged rather than judged at risk.
    """
    results: list[PersonaAdoption] = []
    for persona in PERSONAS:
        expectation = policy.adoption.personas.get(persona)
        days = sorted(set(active_days.get(persona, ())))
        if expectation is None:
            results.append(_unjudged(persona, "the policy sets no expectation"))
        elif personas_present is not None and persona not in personas_present:
            results.append(_unjudged(persona, f"no {persona} contact on the account"))
        elif isinstance(expectation, SteadyExpectation):
            results.append(_steady(persona, expectation, days, now, observed_since))
        else:
            results.append(_event_driven(persona, expectation, days, incidents, now))
    judged = [r.attainment for r in results if r.attainment is not None]
    score = round(100 * sum(judged) / len(judged), 1) if judged else None
    at_risk = [r.persona for r in results if r.status == "at_risk"]
    reason = (
        f"at risk: {', '.join(at_risk)}"
        if at_risk
        else ("all expectations met" if judged else "no expectation to judge")
    )
    if score is not None:
        reason += f"; adoption score {num(score)}"
    facts: dict[str, Fact] = {"incidents": len(incidents), "score": score}
    for r in results:
        facts[f"{r.persona}.status"] = r.status
        if r.attainment is not None:
            facts[f"{r.persona}.attainment"] = round(r.attainment, 3)
    return AdoptionReport(
        personas=results,
        at_risk=at_risk,
        score=score,
        reason=reason,
        why=why_record("evaluate_adoption", trigger, policy, reason, facts),
    )


def _unjudged(persona: Persona, why: str) -> PersonaAdoption:
    return PersonaAdoption(persona=persona, status="no_expectation", reason=why)


def _steady(
    persona: Persona,
    expectation: SteadyExpectation,
    days: Sequence[date],
    now: datetime,
    observed_since: date | None,
) -> PersonaAdoption:
    # A rate below once a week (an executive sponsor's monthly look) is judged over enough
    # whole weeks to need at least one active day, not failed every week it is quiet.
    rate = expectation.min_active_days_per_week
    weeks = max(1, math.ceil(1 / rate - 1e-9))
    window = 7 * weeks
    first = now.date() - timedelta(days=window - 1)
    required = rate * weeks
    base = PersonaAdoption(
        persona=persona,
        status="no_expectation",
        expectation="steady",
        window_days=window,
        required_days=round(required, 2),
        reason="",
    )
    if observed_since is not None and observed_since > first:
        seen = (now.date() - observed_since).days + 1
        why = f"observed {max(seen, 0)} of the {window} days a steady expectation needs"
        return base.model_copy(update={"reason": why})
    active = sum(1 for d in days if first <= d <= now.date())
    attainment = min(1.0, active / required)
    met = active >= required - 1e-9
    words = f"{plural(active, 'active day')} in the last {window} (needs {num(required)})"
    return base.model_copy(
        update={
            "status": "met" if met else "at_risk",
            "active_days": active,
            "attainment": attainment,
            "reason": words,
        }
    )


def _event_driven(
    persona: Persona,
    expectation: EventDrivenExpectation,
    days: Sequence[date],
    incidents: Sequence[datetime],
    now: datetime,
) -> PersonaAdoption:
    within = timedelta(days=expectation.within_days_of_incident)
    since = now - timedelta(days=expectation.lookback_days)
    recent = sorted(t for t in incidents if since <= t <= now)
    answered = missed = pending = 0
    for t in recent:
        if any(t.date() <= d <= (t + within).date() for d in days):
            answered += 1
        elif t + within < now:
            missed += 1
        else:
            pending += 1
    w = num(expectation.within_days_of_incident)
    counts = dict(incidents=len(recent), answered=answered, missed=missed, pending=pending)
    base = PersonaAdoption(
        persona=persona,
        status="no_expectation",
        expectation="event_driven",
        window_days=expectation.lookback_days,
        **counts,
        reason="",
    )
    lookback = num(expectation.lookback_days)
    if not recent:
        why = f"no incidents in the last {lookback} days, so no expectation"
        return base.model_copy(update={"reason": why})
    if answered + missed == 0:
        why = f"{plural(pending, 'incident')} still within the {w}-day response window"
        return base.model_copy(update={"reason": why})
    judged = answered + missed
    why = f"active within {w} days of {answered} of {judged} incidents (last {lookback} days)"
    if pending:
        why += f"; {pending} still open"
    return base.model_copy(
        update={
            "status": "at_risk" if missed else "met",
            "attainment": answered / judged,
            "reason": why,
        }
    )


# ---- health -----------------------------------------------------------------------------------


class Contribution(Result):
    measure: MeasureKey
    value: float = Field(description="The measure, 0-100.")
    weight: float = Field(description="Its weight in the policy.")
    share: float = Field(description="Its weight among the measures present (sums to 1).")
    points: float = Field(description="value × share: what it adds to the score.")


class HealthScore(Result):
    score: float
    colour: HealthColour
    raw_colour: HealthColour = Field(description="The colour of the score without hysteresis.")
    previous: HealthColour | None
    changed: bool
    held: bool = Field(description="Hysteresis kept the previous colour.")
    contributions: list[Contribution]
    missing: list[MeasureKey] = Field(description="Policy measures not reported; left out.")
    ignored: list[str] = Field(description="Reported measures the policy does not weigh.")
    reason: str
    why: Why


def _colour_of(score: float, green: float, yellow: float) -> HealthColour:
    return "green" if score >= green else "yellow" if score >= yellow else "red"


def score_health(
    measures: Mapping[str, float],
    policy: Policy,
    previous: HealthScore | HealthColour | None = None,
    *,
    trigger: str = "health measured",
) -> HealthScore:
    """The weighted score (0-100), its colour, and each measure's contribution.

    Measures the policy weighs but that were not reported are left out and the other weights
    scaled up, so a missing survey does not read as a bad one. Hysteresis: a colour improves
    as soon as the score reaches the threshold, but only worsens once the score is more than
    `hysteresis` points below it, so noise around a threshold cannot flap the colour.
    Raises ValueError when none of the policy's measures is given (callers validate first).
    """
    present = [
        m
        for m in policy.health.measures
        if m.key in measures and not math.isnan(float(measures[m.key]))
    ]
    if not present:
        raise ValueError(f"no health measure given (the policy weighs {_keys(policy)})")
    total = sum(m.weight for m in present)
    contributions: list[Contribution] = []
    for m in present:
        value = min(100.0, max(0.0, float(measures[m.key])))
        share = m.weight / total
        contributions.append(
            Contribution(
                measure=m.key,
                value=value,
                weight=m.weight,
                share=round(share, 4),
                points=round(value * share, 2),
            )
        )
    score = round(sum(c.value * (c.weight / total) for c in contributions), 1)
    t = policy.health.thresholds
    raw = _colour_of(score, t.green, t.yellow)
    before = previous.colour if isinstance(previous, HealthScore) else previous
    colour = raw
    if before is not None and _RANK[raw] < _RANK[before]:
        # Worsen only as far as the score is clearly below a threshold, never past `before`.
        lenient = _colour_of(score + t.hysteresis, t.green, t.yellow)
        colour = lenient if _RANK[lenient] < _RANK[before] else before
    held = colour != raw
    parts = ", ".join(f"{c.measure} {num(c.value)}×{num(c.share)}" for c in contributions)
    reason = f"score {num(score)} ({colour}): {parts}"
    if held:
        reason += (
            f"; stays {colour}: within {num(t.hysteresis)} points of the threshold "
            f"(raw colour {raw})"
        )
    elif before is not None and colour != before:
        reason += f"; was {before}"
    missing = [m.key for m in policy.health.measures if m not in present]
    if missing:
        reason += f"; not measured: {', '.join(missing)}"
    known = {m.key for m in policy.health.measures}
    ignored = sorted(k for k in measures if k not in known)
    facts: dict[str, Fact] = {"score": score, "colour": colour, "previous": before}
    for c in contributions:
        facts[f"{c.measure}.value"] = c.value
        facts[f"{c.measure}.weight"] = c.weight
        facts[f"{c.measure}.points"] = c.points
    facts.update(green=t.green, yellow=t.yellow, hysteresis=t.hysteresis)
    return HealthScore(
        score=score,
        colour=colour,
        raw_colour=raw,
        previous=before,
        changed=before is not None and colour != before,
        held=held,
        contributions=contributions,
        missing=missing,
        ignored=ignored,
        reason=reason,
        why=why_record("score_health", trigger, policy, reason, facts),
    )


def _keys(policy: Policy) -> str:
    return ", ".join(m.key for m in policy.health.measures)


# ---- maturity ---------------------------------------------------------------------------------


class Tenure(Result):
    stage: str
    title: str
    tenure_days: float
    next_stage: str | None
    next_stage_at: datetime | None
    reason: str
    why: Why


def tenure_stage(
    start: date, now: datetime, policy: Policy, *, trigger: str = "tenure check"
) -> Tenure:
    """The maturity stage for a customer since `start` (e.g. the first contract's start)."""
    origin = midnight(start, now)
    tenure = max(0.0, (now - origin) / DAY)
    stages = policy.maturity.stages
    index = next(
        (i for i, s in enumerate(stages) if s.until_days is None or tenure < s.until_days),
        len(stages) - 1,
    )
    stage = stages[index]
    following = stages[index + 1] if index + 1 < len(stages) else None
    at = origin + timedelta(days=stage.until_days) if stage.until_days is not None else None
    bound = f"under {num(stage.until_days)}" if stage.until_days is not None else "open-ended"
    reason = f"{num(tenure)} days of tenure: stage '{stage.key}' ({bound})"
    facts: dict[str, Fact] = {
        "start": start.isoformat(),
        "tenure_days": round(tenure, 2),
        "stage": stage.key,
        "until_days": stage.until_days,
    }
    return Tenure(
        stage=stage.key,
        title=stage.title,
        tenure_days=round(tenure, 4),
        next_stage=following.key if following else None,
        next_stage_at=at,
        reason=reason,
        why=why_record("tenure_stage", trigger, policy, reason, facts),
    )


class RecurringDue(Result):
    key: str
    title: str
    owner: str
    every_days: float
    due_at: datetime = Field(description="The next occurrence strictly after now.")
    due_in_days: float
    occurrence: int = Field(description="1 for the first occurrence, 2 for the second, ...")
    previous: int = Field(description="How many have come before (occurrence - 1).")
    reason: str
    why: Why


def next_recurring(
    start: date, now: datetime, policy: Policy, *, trigger: str = "recurring milestones planned"
) -> list[RecurringDue]:
    """For each recurring milestone, the next one due after `now` and how many came before.

    Occurrences fall at `first_after_days` (default `every_days`) after `start` and every
    `every_days` after that.
    """
    origin = midnight(start, now)
    result: list[RecurringDue] = []
    for r in policy.maturity.recurring:
        first = r.every_days if r.first_after_days is None else r.first_after_days
        elapsed = (now - origin) / DAY
        before = 0 if elapsed < first else math.floor((elapsed - first) / r.every_days) + 1

        def due(n: int, first: float = first, every: float = r.every_days) -> datetime:
            return origin + timedelta(days=first + n * every)

        # Float division can land one occurrence off at an exact boundary; settle it exactly.
        while before > 0 and due(before - 1) > now:
            before -= 1
        while due(before) <= now:
            before += 1
        at = due(before)
        reason = (
            f"{r.title} #{before + 1} due {at.date().isoformat()} "
            f"(every {num(r.every_days)} days; {before} before)"
        )
        facts: dict[str, Fact] = {
            "start": start.isoformat(),
            "every_days": r.every_days,
            "first_after_days": first,
            "occurrence": before + 1,
        }
        result.append(
            RecurringDue(
                key=r.key,
                title=r.title,
                owner=r.owner,
                every_days=r.every_days,
                due_at=at,
                due_in_days=round((at - now) / DAY, 4),
                occurrence=before + 1,
                previous=before,
                reason=reason,
                why=why_record("next_recurring", trigger, policy, reason, facts),
            )
        )
    return result
