"""The journey's pure parts: a new journey's state, the sentences a CSM reads, the facts and
causes its plays are given, and what an adoption check forgets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.unit.test_rules import account, shipped
from workflows.journey import prose
from workflows.journey.branches.adoption import KEEP_ACTIVITY_DAYS, forget_before
from workflows.journey.messages import JourneyInput
from workflows.journey.onboarding import new_state
from workflows.journey.plays import facts_of, play_cause
from workflows.journey.state import Incident, MeasureValue
from workflows.rules import (
    HealthChangedEvent,
    KeyContactChangedEvent,
    plays_to_start,
    score_health,
    select_track,
)

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _new(day_seconds: float = 86400.0) -> JourneyInput:
    return JourneyInput(account=account(), policy=shipped(), day_seconds=day_seconds)


def test_a_new_journey_takes_its_track_and_plans_its_milestones_from_now() -> None:
    start = _new()
    state = new_state(start, NOW)
    choice = select_track(start.account, start.policy)
    assert (state.track, state.track_reason) == (choice.track.key, choice.reason)
    assert state.started_at == state.epoch == NOW
    assert [m.key for m in state.milestones] == [
        m.key for m in choice.track.milestones + choice.track.rollout_stages
    ]
    first = state.milestones[0]
    assert first.due_at == NOW + timedelta(days=first.due_day)
    assert [r.key for r in state.recurring] == [r.key for r in start.policy.maturity.recurring]


def test_a_trigger_that_starts_nothing_says_so() -> None:
    assert prose.trigger("health changed", []) == "health changed → no play"
    assert prose.trigger("health changed", ["a", "b"]) == "health changed → a, b"


def test_an_overdue_milestone_names_what_it_waits_on() -> None:
    m = new_state(_new(), NOW).milestones[0]
    assert prose.milestone_overdue(m, []).endswith(f"owner {m.owner})")
    assert prose.milestone_overdue(m, ["kickoff", "sso"]).endswith(
        f"owner {m.owner}, waiting on kickoff, sso)"
    )


def test_the_health_story_starts_with_the_weakest_measure_and_its_note() -> None:
    measures = {
        "support": MeasureValue(value=20, at=NOW, note="3 escalations in 30 days"),
        "sentiment": MeasureValue(value=90, at=NOW),
    }
    score = score_health({k: v.value for k, v in measures.items()}, shipped(), "green")
    assert prose.health_story(score, measures) == (
        "support 20/100 (3 escalations in 30 days), sentiment 90/100"
    )
    assert prose.health_story(None, measures) == "not scored"


def test_a_health_play_names_the_change_and_its_day_other_plays_their_cause() -> None:
    policy = shipped()
    health = HealthChangedEvent(from_colour="green", to_colour="yellow")
    (started,) = [d for d in plays_to_start(health, [], policy, NOW) if d.start]
    assert play_cause(started, health, 12.7) == "green-yellow-day12"
    left = KeyContactChangedEvent(contact_id="c1", persona="champion", event_id="e1")
    decisions = plays_to_start(left, [], policy, NOW)
    assert decisions, "the shipped policy answers a champion leaving with a play"
    assert [play_cause(d, left, 12.7) for d in decisions] == [d.cause for d in decisions]


def test_plays_see_done_milestones_and_done_occurrences_of_recurring_items() -> None:
    state = new_state(_new(), NOW)
    state.milestones[0].status = "done"
    review = state.recurring[0]
    review.occurrence = 2
    assert facts_of(state).completed_milestones == [state.milestones[0].key]
    review.done_occurrences.append(2)
    assert facts_of(state).completed_milestones == [state.milestones[0].key, review.key]


def test_an_adoption_check_forgets_activity_too_old_to_matter() -> None:
    state = new_state(_new(), NOW)
    old, recent = NOW - timedelta(days=KEEP_ACTIVITY_DAYS + 1), NOW - timedelta(days=3)
    state.active_days = {"admin": [old.date(), recent.date()], "champion": [old.date()]}
    state.incidents = [
        Incident(incident_id="i-old", at=old, severity="low"),
        Incident(incident_id="i-new", at=recent, severity="low"),
    ]
    forget_before(state, NOW)
    assert state.active_days == {"admin": [recent.date()], "champion": []}
    assert [i.incident_id for i in state.incidents] == ["i-new"]
