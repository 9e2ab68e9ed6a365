"""Whether each persona uses the product as the policy expects: steadily (active days a
week) or in response to incidents (active within days of each one)."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import Field

from workflows.models import PERSONAS, Persona
from workflows.policy import (
    EventDrivenExpectation,
    Policy,
    SteadyExpectation,
)
from workflows.rules.why import Fact, Result, Why, num, plural, why_record

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
    """Each persona against its expectation (steady or event-driven).

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
