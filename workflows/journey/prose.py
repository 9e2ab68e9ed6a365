"""The sentences a journey writes for people: timeline summaries, timer summaries and the
Temporal UI's current details. Pure: a CSM reads these, so they live in one place.

They are also recorded in histories (timer and activity summaries), so a change to one shows
as a difference in new runs only; replay does not compare them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from workflows.journey.state import JourneyState, MeasureValue, MilestoneState, RecurringState
from workflows.policy import Policy
from workflows.rules import HealthScore, Tenure

# Activity summaries are cut here: the Temporal UI shows one line.
SUMMARY_LIMIT = 200


def _by(by: str | None) -> str:
    return f" by {by}" if by else ""


def journey_started(track: str, reason: str) -> str:
    return f"Journey started on track '{track}' ({reason})"


def milestone_due(m: MilestoneState) -> str:
    return f"{m.title} due (day {m.due_day:g})"


def milestone_overdue(m: MilestoneState, waiting_on: Sequence[str]) -> str:
    blocked = f", waiting on {', '.join(waiting_on)}" if waiting_on else ""
    return f"{m.title} overdue (due day {m.due_day:g}, owner {m.owner}{blocked})"


def milestone_done(m: MilestoneState, done_day: float, by: str | None) -> str:
    late = f", {done_day - m.due_day:g} days late" if m.late else ""
    return f"{m.title} done on day {done_day:g}{late}" + _by(by)


def recurring_done(r: RecurringState, day: float, by: str | None) -> str:
    return f"{r.title} #{r.occurrence} done on day {day:g}" + _by(by)


def rollout_stage_added(title: str, due_days: float, before: float, after: float) -> str:
    return (
        f"Rollout stage '{title}' added, due day {due_days:g}; "
        f"onboarding now ends day {after:g} (was {before:g})"
    )


ADOPTION_CHECK = "Adoption check"


def maturity_wait(due_titles: Sequence[str], next_stage: str | None) -> str:
    """The timer summary of the maturity branch: what falls due, or the next tenure stage."""
    if due_titles:
        return ", ".join(f"{title} due" for title in due_titles)
    return f"Becomes {next_stage}"


def recurring_due(r: RecurringState, occurrence: int) -> str:
    return f"{r.title} #{occurrence} due (every {r.every_days:g} days, owner {r.owner})"


def tenure_reached(reached: Tenure) -> str:
    return f"Tenure stage: {reached.title} ({reached.reason})"


def renewal_due(days_before: float) -> str:
    return f"Renewal due in {days_before:g} days"


def contract_renewed(contract_end: date, was: date | None) -> str:
    return f"Contract renewed: ends {contract_end} (was {was})"


def health_story(health: HealthScore | None, measures: Mapping[str, MeasureValue]) -> str:
    """One line a CSM understands: each measure's value and what stands behind it."""
    if health is None:
        return "not scored"
    parts = []
    for c in sorted(health.contributions, key=lambda c: c.value):
        note = measures.get(c.measure)
        parts.append(
            f"{c.measure} {c.value:g}/100" + (f" ({note.note})" if note and note.note else "")
        )
    return ", ".join(parts)


def health_changed(score: HealthScore, story: str) -> str:
    return f"Health {score.previous}→{score.colour}: {story}"


def measured(measure: str, value: float) -> str:
    return f"{measure} measured {value:g}"


ADOPTION_RESCORED = "adoption check"


def key_contact_changed(contact_id: str, persona: str, change: str) -> str:
    return f"Key contact {contact_id} ({persona}) {change.replace('_', ' ')}"


def support_escalated(ticket_id: str, severity: str) -> str:
    return f"Support ticket {ticket_id} escalated ({severity})"


def journey_ended(outcome: str, reason: str) -> str:
    return f"Journey {outcome}: {reason}"


def policy_name(policy: Policy) -> str:
    return f"{policy.name} v{policy.version}"


def policy_changed(policy: Policy, was: str) -> str:
    return (
        f"Policy changed to {policy_name(policy)} (was {was}); the onboarding track stays as chosen"
    )


def event_stale(kind: str, event_id: str, stream: str | None) -> str:
    return (
        f"Ignored stale {kind.replace('_', ' ')} {event_id}: "
        f"older than the last applied for {stream}"
    )


def trigger(summary: str, plays: Sequence[str]) -> str:
    return f"{summary} → {', '.join(plays) or 'no play'}"


def play_started(title: str) -> str:
    return f"Play: {title}"


def timeline_activity(summary: str) -> str:
    return f"Timeline: {summary}"[:SUMMARY_LIMIT]


def waiting_for(state: JourneyState) -> str:
    """The Temporal UI's 'current details': what this journey is waiting for."""
    pending = [m for m in state.milestones if m.status == "pending"]
    if pending:
        nxt = min(pending, key=lambda m: m.due_day)
        return (
            f"Onboarding ({state.track}): waiting for {nxt.title} "
            f"(due day {nxt.due_day:g}); {len(pending)} milestone(s) open"
        )
    return f"Onboarding finished; {state.stage}, health {state.health_colour}"
