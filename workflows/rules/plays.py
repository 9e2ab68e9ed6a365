"""Pure decisions about plays: which plays a change starts (cooldowns, re-entry), whether a
play's `wait_until` / `exit_when` condition holds, and which journey facts a play watches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import Field

from workflows.models import Persona
from workflows.policy import (
    AdoptionMet,
    AdoptionRiskTrigger,
    Condition,
    HealthChangedTrigger,
    HealthIs,
    KeyContactChangedTrigger,
    MilestoneOverdueTrigger,
    MilestonesComplete,
    Play,
    Policy,
    RenewalDueTrigger,
    Trigger,
    WaitUntilStep,
)
from workflows.rules.facts import (
    AdoptionRiskEvent,
    HealthChangedEvent,
    JourneyFacts,
    KeyContactChangedEvent,
    MilestoneOverdueEvent,
    PlayEvent,
    RenewalDueEvent,
)
from workflows.rules.why import Fact, Result, Why, num, why_record


class PlayRun(Result):
    """A play started for a cause; what cooldown and re-entry are judged against."""

    play: str
    cause: str
    started_at: datetime
    ended_at: datetime | None = None


class PlayDecision(Result):
    play: str
    title: str
    cause: str
    start: bool
    reason: str
    not_before: datetime | None = Field(default=None, description="When a cooldown ends.")
    why: Why


def _triggered_by(trigger: Trigger, event: PlayEvent) -> bool:
    if trigger.kind != event.kind:
        return False
    if isinstance(trigger, HealthChangedTrigger) and isinstance(event, HealthChangedEvent):
        return (
            event.from_colour != event.to_colour
            and trigger.from_ in (None, event.from_colour)
            and trigger.to in (None, event.to_colour)
        )
    if isinstance(trigger, KeyContactChangedTrigger) and isinstance(event, KeyContactChangedEvent):
        return trigger.personas is None or event.persona in trigger.personas
    if isinstance(trigger, AdoptionRiskTrigger) and isinstance(event, AdoptionRiskEvent):
        return trigger.personas is None or event.persona in trigger.personas
    if isinstance(trigger, RenewalDueTrigger) and isinstance(event, RenewalDueEvent):
        return trigger.days_before == event.days_before
    if isinstance(trigger, MilestoneOverdueTrigger) and isinstance(event, MilestoneOverdueEvent):
        return trigger.milestones is None or event.milestone in trigger.milestones
    return True  # support_escalated has no conditions


def plays_to_start(
    event: PlayEvent, runs: Sequence[PlayRun], policy: Policy, now: datetime
) -> list[PlayDecision]:
    """A decision for every play the event triggers, in policy order: start, or skip and why.

    A play never runs twice at once for the same cause; `reentry: once_per_cause` never runs it
    again for a cause it has run for; otherwise it waits out `cooldown_days` since its last
    start (for the same cause, or for any cause with `cooldown_per: play`).
    """
    decisions: list[PlayDecision] = []
    cause = event.cause
    for play in policy.plays:
        if not _triggered_by(play.trigger, event):
            continue
        start, reason, not_before, facts = _gate(play, cause, runs, now)
        facts.update(play=play.key, cause=cause)
        facts.update(
            (f"event.{k}", v) for k, v in event.model_dump(mode="json").items() if v is not None
        )
        decisions.append(
            PlayDecision(
                play=play.key,
                title=play.title,
                cause=cause,
                start=start,
                reason=reason,
                not_before=not_before,
                why=why_record("plays_to_start", event.describe(), policy, reason, facts),
            )
        )
    return decisions


def _gate(
    play: Play, cause: str, runs: Sequence[PlayRun], now: datetime
) -> tuple[bool, str, datetime | None, dict[str, Fact]]:
    mine = [r for r in runs if r.play == play.key]
    same_cause = [r for r in mine if r.cause == cause]
    facts: dict[str, Fact] = {
        "cooldown_days": play.cooldown_days,
        "cooldown_per": play.cooldown_per,
        "reentry": play.reentry,
        "earlier_runs_for_cause": len(same_cause),
    }
    running = [r for r in same_cause if r.ended_at is None]
    if running:
        since = min(r.started_at for r in running)
        facts["running_since"] = since.isoformat()
        return False, f"already running for {cause} since {since.isoformat()}", None, facts
    if play.reentry == "once_per_cause" and same_cause:
        last = max(r.started_at for r in same_cause)
        facts["last_started_at"] = last.isoformat()
        return False, f"runs once per cause; ran for {cause} on {last.isoformat()}", None, facts
    window = same_cause if play.cooldown_per == "cause" else mine
    if window and play.cooldown_days > 0:
        last = max(r.started_at for r in window)
        until = last + timedelta(days=play.cooldown_days)
        facts["last_started_at"] = last.isoformat()
        if now < until:
            scope = f"for {cause}" if play.cooldown_per == "cause" else "for any cause"
            reason = (
                f"cooling down {scope}: last started {last.isoformat()}, "
                f"{num(play.cooldown_days)}-day cooldown ends {until.isoformat()}"
            )
            return False, reason, until, facts
    return True, f"start {play.key} for {cause}", None, facts


# ---- conditions -------------------------------------------------------------------------------


class ConditionCheck(Result):
    met: bool
    reason: str


def check_condition(condition: Condition, facts: JourneyFacts) -> ConditionCheck:
    """Whether a play's `wait_until` or `exit_when` condition holds now, and why (not)."""
    if isinstance(condition, HealthIs):
        met = facts.health in condition.colours
        wanted = " or ".join(condition.colours)
        reason = f"health is {facts.health or 'unknown'} ({'' if met else 'not '}{wanted})"
        return ConditionCheck(met=met, reason=reason)
    if isinstance(condition, MilestonesComplete):
        left = [m for m in condition.milestones if m not in facts.completed_milestones]
        return ConditionCheck(
            met=not left,
            reason="milestones complete" if not left else f"waiting for {', '.join(left)}",
        )
    if isinstance(condition, AdoptionMet):
        risk = [p for p in condition.personas if p in facts.adoption_at_risk]
        return ConditionCheck(
            met=not risk,
            reason="adoption on course" if not risk else f"still at risk: {', '.join(risk)}",
        )
    left = [s for s in condition.steps if s not in facts.done_steps]
    return ConditionCheck(
        met=not left, reason="steps done" if not left else f"waiting for {', '.join(left)}"
    )


class FactsWatched(Result):
    """Which journey facts a play's conditions read (`watched_by`)."""

    health: bool = False
    milestones: list[str] = Field(default_factory=list)
    personas: list[Persona] = Field(default_factory=list)

    def project(self, facts: JourneyFacts) -> JourneyFacts:
        """`facts` as the play sees them: the rest can never change what it does, so a change
        there is not worth a signal (each one a billed Temporal action)."""
        return JourneyFacts(
            health=facts.health if self.health else None,
            completed_milestones=[m for m in facts.completed_milestones if m in self.milestones],
            adoption_at_risk=[p for p in facts.adoption_at_risk if p in self.personas],
        )


def watched_by(play: Play) -> FactsWatched:
    """The journey facts `play`'s `wait_until` steps and `exit_when` condition read."""
    conditions: list[Condition] = [s.condition for s in play.steps if isinstance(s, WaitUntilStep)]
    if play.exit_when is not None:
        conditions.append(play.exit_when)
    return FactsWatched(
        health=any(isinstance(c, HealthIs) for c in conditions),
        milestones=sorted(
            {m for c in conditions if isinstance(c, MilestonesComplete) for m in c.milestones}
        ),
        personas=sorted({p for c in conditions if isinstance(c, AdoptionMet) for p in c.personas}),
    )
