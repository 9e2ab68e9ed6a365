"""The pure decisions in workflows/rules/, with properties where rules interact over time."""

from __future__ import annotations

import functools
import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.models import PERSONAS, Account, Persona
from workflows.policy import (
    HealthColour,
    MilestonesComplete,
    Policy,
    WaitUntilStep,
    When,
    load_policy,
    policy_from_data,
)
from workflows.rules import (
    AdoptionRiskEvent,
    HealthChangedEvent,
    HealthScore,
    JourneyFacts,
    KeyContactChangedEvent,
    MilestoneOverdueEvent,
    PlayRun,
    RenewalDueEvent,
    SupportEscalatedEvent,
    check_condition,
    evaluate_adoption,
    next_recurring,
    plays_to_start,
    renewal_checkpoints,
    score_health,
    select_track,
    tenure_stage,
    watched_by,
)

POLICIES = Path(__file__).resolve().parents[2] / "policies"
NOW = datetime(2025, 6, 16, 12, tzinfo=UTC)
RANK = {"red": 0, "yellow": 1, "green": 2}


@functools.cache
def shipped(name: str = "default") -> Policy:
    return load_policy(POLICIES / f"{name}.yaml")


def account(**overrides: Any) -> Account:
    fields: dict[str, Any] = {
        "account_id": "acme",
        "name": "Acme",
        "segment": "smb",
        "tier": "base",
        "seats": 10,
        "contract_start": date(2025, 1, 1),
        "contract_end": date(2026, 1, 1),
        "csm": "dana",
    }
    return Account(**(fields | overrides))


def policy_with(**changes: Any) -> Policy:
    """The default policy with top-level sections replaced."""
    data = shipped().model_dump(by_alias=True) | changes
    return policy_from_data(data)


# ---- select_track -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "track", "reason"),
    [
        ({"segment": "enterprise"}, "enterprise_rollout", "segment is enterprise"),
        ({"add_ons": ("api", "sso")}, "guided", "has add-ons sso, api"),
        ({"seats": 250}, "large_team", "250 seats (at least 200)"),
        ({"segment": "mid_market"}, "mid_market", "segment is mid_market"),
        ({}, "tech_touch", "fallback (matches every account)"),
    ],
)
def test_select_track_takes_the_first_match_and_says_why(
    overrides: dict[str, Any], track: str, reason: str
) -> None:
    choice = select_track(account(**overrides), shipped())
    assert choice.track.key == track
    assert choice.reason == f"track '{track}': {reason}"
    assert choice.why.policy == "default" and choice.why.policy_version == 1
    assert choice.why.facts["track"] == track
    assert choice.why.reason == choice.reason


def test_select_track_explains_the_tracks_it_passed_over() -> None:
    choice = select_track(account(segment="mid_market"), shipped())
    assert choice.passed_over == [
        "track 'enterprise_rollout': segment is mid_market (wants enterprise)",
        "track 'guided': has none of the add-ons sso, api, analytics",
        "track 'large_team': 10 seats (fewer than 200)",
    ]


def test_all_conditions_of_a_when_must_hold() -> None:
    policy = shipped("health-and-safety")
    has_add_on = account(add_ons=("contractor_management",), seats=10)
    assert select_track(has_add_on, policy).track.key == "standard"
    big_enough = has_add_on.model_copy(update={"seats": 50})
    assert select_track(big_enough, policy).reason == (
        "track 'contractor_heavy': has add-on contractor_management and 50 seats (at least 50)"
    )


accounts = st.builds(
    account,
    segment=st.sampled_from(["smb", "mid_market", "enterprise", "public_sector"]),
    tier=st.sampled_from(["base", "plus", "premium"]),
    add_ons=st.lists(st.sampled_from(["sso", "api", "analytics", "audit_module"])).map(tuple),
    seats=st.integers(1, 5000),
)


def holds(when: When, acct: Account) -> bool:
    """The `when` rule stated independently: every condition given holds; none given matches all."""
    return (
        (when.segment is None or acct.segment in when.segment)
        and (when.tier is None or acct.tier in when.tier)
        and (when.add_ons_any is None or bool(set(when.add_ons_any) & set(acct.add_ons)))
        and (when.min_seats is None or acct.seats >= when.min_seats)
    )


@settings(max_examples=60, deadline=None)
@given(acct=accounts, name=st.sampled_from(["default", "risk-management", "health-and-safety"]))
def test_every_account_gets_the_first_track_whose_rule_holds(acct: Account, name: str) -> None:
    policy = shipped(name)
    choice = select_track(acct, policy)
    tracks = policy.onboarding.tracks
    chosen = [t.key for t in tracks].index(choice.track.key)
    assert holds(tracks[chosen].when, acct)
    assert not any(holds(t.when, acct) for t in tracks[:chosen])
    assert len(choice.passed_over) == chosen  # every earlier track, with why it did not match


@settings(max_examples=30, deadline=None)
@given(acct=accounts)
def test_the_fallback_track_always_matches(acct: Account) -> None:
    only_fallback = policy_with(onboarding={"tracks": [shipped().onboarding.tracks[-1]]})
    choice = select_track(acct, only_fallback)
    assert choice.reason == "track 'tech_touch': fallback (matches every account)"


# ---- evaluate_adoption ------------------------------------------------------------------------


def days_before(*offsets: int) -> list[date]:
    return [NOW.date() - timedelta(days=n) for n in offsets]


def test_an_end_user_with_no_incidents_is_not_at_risk() -> None:
    report = evaluate_adoption({}, [], shipped("risk-management"), NOW)
    end_user = report.personas[PERSONAS.index("end_user")]
    assert end_user.status == "no_expectation"
    assert end_user.reason == "no incidents in the last 60 days, so no expectation"
    assert "end_user" not in report.at_risk


def test_end_users_are_judged_on_incidents_they_responded_to() -> None:
    policy = shipped("risk-management")
    incidents = [NOW - timedelta(days=10), NOW - timedelta(days=5), NOW - timedelta(hours=12)]
    answered_first_only: dict[Persona, list[date]] = {"end_user": days_before(9)}
    report = evaluate_adoption(answered_first_only, incidents, policy, NOW)
    end_user = report.personas[PERSONAS.index("end_user")]
    assert (end_user.answered, end_user.missed, end_user.pending) == (1, 1, 1)
    assert end_user.status == "at_risk" and end_user.attainment == 0.5
    assert end_user.reason == (
        "active within 2 days of 1 of 2 incidents (last 60 days); 1 still open"
    )
    answered_both: dict[Persona, list[date]] = {"end_user": days_before(9, 4)}
    assert evaluate_adoption(answered_both, incidents, policy, NOW).personas[2].status == "met"


def test_admins_are_expected_to_be_steady_regardless_of_incidents() -> None:
    policy = shipped("risk-management")
    admin = evaluate_adoption({"admin": days_before(0, 2, 4)}, [], policy, NOW).personas[0]
    assert (admin.status, admin.active_days, admin.required_days) == ("met", 3, 3)
    quiet = evaluate_adoption({"admin": days_before(0, 8, 9)}, [], policy, NOW).personas[0]
    assert quiet.status == "at_risk"
    assert quiet.reason == "1 active day in the last 7 (needs 3)"


def test_a_monthly_sponsor_is_judged_over_four_weeks_not_failed_weekly() -> None:
    policy = shipped()
    sponsor = evaluate_adoption({"executive_sponsor": days_before(20)}, [], policy, NOW)
    judged = sponsor.personas[PERSONAS.index("executive_sponsor")]
    assert (judged.status, judged.window_days, judged.required_days) == ("met", 28, 1)


def test_personas_without_contacts_or_full_windows_are_not_judged() -> None:
    policy = shipped()
    report = evaluate_adoption(
        {"admin": days_before(0, 1, 2)},
        [],
        policy,
        NOW,
        personas_present=["admin", "champion"],
        observed_since=NOW.date() - timedelta(days=10),
    )
    by = {p.persona: p for p in report.personas}
    assert by["end_user"].reason == "no end_user contact on the account"
    assert by["admin"].status == "met"
    assert by["executive_sponsor"].status == "no_expectation"
    assert by["champion"].status == "at_risk"
    assert report.at_risk == ["champion"]
    assert report.score == 50  # admin 1.0, champion 0.0
    assert report.why.facts["champion.status"] == "at_risk"


# ---- score_health -----------------------------------------------------------------------------

ALL = ("adoption", "support", "sentiment", "contact_stability")


def test_score_is_the_weighted_sum_with_every_contribution() -> None:
    measures = {"adoption": 80, "support": 60, "sentiment": 70, "contact_stability": 100}
    health = score_health(measures, shipped())
    assert health.score == 76 and health.colour == "green"
    assert [(c.measure, c.points) for c in health.contributions] == [
        ("adoption", 32),
        ("support", 15),
        ("sentiment", 14),
        ("contact_stability", 15),
    ]
    assert health.why.facts["adoption.weight"] == 0.4
    assert health.why.facts["support.points"] == 15
    assert health.reason.startswith("score 76 (green): adoption 80×0.4")


def test_missing_measures_are_left_out_and_unknown_ones_ignored() -> None:
    health = score_health({"adoption": 50, "support": 100, "nps": 3}, shipped())
    assert health.missing == ["sentiment", "contact_stability"]
    assert health.ignored == ["nps"]
    assert sum(c.share for c in health.contributions) == pytest.approx(1, abs=1e-3)
    assert health.score == pytest.approx(50 * 0.4 / 0.65 + 100 * 0.25 / 0.65, abs=0.05)
    with pytest.raises(ValueError, match="no health measure given"):
        score_health({"nps": 3}, shipped())


@pytest.mark.parametrize(
    ("value", "previous", "colour", "held"),
    [
        (70, None, "green", False),
        (69.9, None, "yellow", False),
        (39.9, None, "red", False),
        (66, "green", "green", True),  # within 5 of 70: stays green
        (64.9, "green", "yellow", False),
        (36, "green", "yellow", True),  # worsens, but only as far as it is clearly below
        (34, "yellow", "red", False),
        (70, "red", "green", False),  # improves at once
        (120, None, "green", False),  # clamped to 100
    ],
)
def test_colours_and_hysteresis(
    value: float, previous: HealthColour | None, colour: str, held: bool
) -> None:
    health = score_health(dict.fromkeys(ALL, value), shipped(), previous)
    assert (health.colour, health.held) == (colour, held)
    assert health.changed == (previous is not None and colour != previous)
    if held:
        assert f"stays {colour}: within 5 points" in health.reason


def test_previous_may_be_the_last_score() -> None:
    first = score_health(dict.fromkeys(ALL, 75), shipped())
    second = score_health(dict.fromkeys(ALL, 67), shipped(), first)
    assert (second.previous, second.colour, second.changed) == ("green", "green", False)
    assert HealthScore.model_validate_json(second.model_dump_json()) == second


@settings(max_examples=60, deadline=None)
@given(
    base=st.integers(0, 1000),
    noise=st.lists(st.integers(0, 50), min_size=2, max_size=30),
    start=st.sampled_from([None, "red", "yellow", "green"]),
)
def test_noise_within_the_hysteresis_band_never_flaps(
    base: int, noise: list[int], start: HealthColour | None
) -> None:
    """Scores that stay within a band as wide as the hysteresis (5 points) may change colour
    in one direction only: never green → yellow → green or the reverse."""
    policy = shipped()
    previous = start
    colours: list[str] = [start] if start else []
    for n in noise:
        value = min(1000, base + n) / 10
        previous = score_health(dict.fromkeys(ALL, value), policy, previous).colour
        colours.append(previous)
    steps = [RANK[b] - RANK[a] for a, b in itertools.pairwise(colours)]
    assert all(s >= 0 for s in steps) or all(s <= 0 for s in steps), colours


# ---- tenure and recurring milestones ----------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "stage"),
    [(-5, "new"), (0, "new"), (89.9, "new"), (90, "established"), (729, "established"),
     (730, "mature"), (4000, "mature")],
)  # fmt: skip
def test_tenure_stage_boundaries(days: float, stage: str) -> None:
    start = date(2020, 1, 1)
    now = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=days)
    tenure = tenure_stage(start, now, shipped())
    assert tenure.stage == stage
    assert tenure.why.facts["stage"] == stage


@settings(max_examples=40, deadline=None)
@given(a=st.floats(0, 3000), b=st.floats(0, 3000))
def test_tenure_never_goes_back_a_stage(a: float, b: float) -> None:
    start = date(2020, 1, 1)
    stages = [s.key for s in shipped().maturity.stages]
    t0 = datetime(2020, 1, 1, tzinfo=UTC)
    early, late = sorted([a, b])
    first = tenure_stage(start, t0 + timedelta(days=early), shipped()).stage
    second = tenure_stage(start, t0 + timedelta(days=late), shipped()).stage
    assert stages.index(first) <= stages.index(second)


def test_next_recurring_counts_what_came_before() -> None:
    start = date(2022, 1, 1)
    now = datetime(2025, 6, 1, tzinfo=UTC)
    due = {r.key: r for r in next_recurring(start, now, shipped())}
    assert due["stakeholder_review"].occurrence == 2  # 1095 days: 2024-12-31 was the first
    assert due["stakeholder_review"].due_at == datetime(2027, 12, 31, tzinfo=UTC)
    assert due["training_refresher"].previous == 3
    assert due["goal_review"].reason == "Goal review #7 due 2025-06-14 (every 180 days; 6 before)"


def test_an_occurrence_due_exactly_now_is_counted_as_before() -> None:
    start = date(2024, 1, 1)
    now = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=180)
    goal = next(r for r in next_recurring(start, now, shipped()) if r.key == "goal_review")
    assert (goal.previous, goal.due_in_days) == (1, 180)


@settings(max_examples=60, deadline=None)
@given(elapsed=st.floats(-10, 4000), every=st.floats(0.5, 400), first=st.none() | st.floats(0, 50))
def test_next_recurring_is_the_first_occurrence_after_now(
    elapsed: float, every: float, first: float | None
) -> None:
    recurring = [{"key": "check", "title": "Check", "every_days": every, "first_after_days": first}]
    policy = policy_with(maturity={"recurring": recurring})
    start = date(2020, 1, 1)
    origin = datetime(2020, 1, 1, tzinfo=UTC)
    now = origin + timedelta(days=elapsed)
    [due] = next_recurring(start, now, policy)
    offset = every if first is None else first
    occurrences = [origin + timedelta(days=offset + n * every) for n in range(due.occurrence)]
    assert occurrences[-1] == due.due_at > now
    assert all(at <= now for at in occurrences[:-1])
    assert due.previous == due.occurrence - 1


# ---- plays ------------------------------------------------------------------------------------


def starts(event: Any, runs: list[PlayRun], policy: Policy | None = None) -> list[str]:
    return [d.play for d in plays_to_start(event, runs, policy or shipped(), NOW) if d.start]


@pytest.mark.parametrize(
    ("event", "plays"),
    [
        (HealthChangedEvent(from_colour="green", to_colour="yellow"), ["health_recovery"]),
        (HealthChangedEvent(from_colour="yellow", to_colour="red"), ["red_alert"]),
        (HealthChangedEvent(from_colour="red", to_colour="yellow"), []),
        (KeyContactChangedEvent(contact_id="c-9", persona="admin"), ["new_stakeholder"]),
        (AdoptionRiskEvent(persona="champion"), ["adoption_rescue"]),
        (SupportEscalatedEvent(ticket_id="t-1"), ["escalation_review"]),
        (RenewalDueEvent(contract_end=date(2026, 1, 1), days_before=90), ["renewal_prep"]),
        (RenewalDueEvent(contract_end=date(2026, 1, 1), days_before=30), []),
        (MilestoneOverdueEvent(milestone="kickoff"), ["overdue_milestone"]),
    ],
)
def test_which_plays_an_event_triggers(event: Any, plays: list[str]) -> None:
    assert starts(event, []) == plays


def test_persona_filters_on_triggers() -> None:
    policy = shipped("risk-management")
    assert starts(AdoptionRiskEvent(persona="end_user"), [], policy) == [
        "incident_response_coaching"
    ]
    assert starts(AdoptionRiskEvent(persona="admin"), [], policy) == ["admin_usage_review"]


def test_a_play_never_runs_twice_at_once_for_the_same_cause() -> None:
    event = KeyContactChangedEvent(contact_id="c-9")
    running = PlayRun(play="new_stakeholder", cause="c-9", started_at=NOW - timedelta(days=1))
    [decision] = plays_to_start(event, [running], shipped(), NOW)
    assert not decision.start
    assert decision.reason.startswith("already running for c-9 since")
    assert starts(KeyContactChangedEvent(contact_id="c-10"), [running]) == ["new_stakeholder"]


def test_once_per_cause_never_reruns_for_a_finished_cause() -> None:
    done = PlayRun(
        play="renewal_prep",
        cause="2026-01-01",
        started_at=NOW - timedelta(days=400),
        ended_at=NOW - timedelta(days=300),
    )
    assert starts(RenewalDueEvent(contract_end=date(2026, 1, 1), days_before=90), [done]) == []
    assert starts(RenewalDueEvent(contract_end=date(2027, 1, 1), days_before=90), [done]) == [
        "renewal_prep"
    ]


def test_recurring_overdue_milestones_are_a_new_cause_each_time() -> None:
    policy = shipped("health-and-safety")
    first = MilestoneOverdueEvent(milestone="stakeholder_review", occurrence=1)
    ran = PlayRun(play="stakeholder_refresh", cause=first.cause, started_at=NOW, ended_at=NOW)
    assert starts(first, [ran], policy) == []
    second = MilestoneOverdueEvent(milestone="stakeholder_review", occurrence=2)
    assert starts(second, [ran], policy) == ["stakeholder_refresh"]


def test_cooldown_with_its_end_and_why_record() -> None:
    event = HealthChangedEvent(event_id="ev-7", from_colour="green", to_colour="yellow")
    earlier = PlayRun(
        play="health_recovery",
        cause="health",
        started_at=NOW - timedelta(days=10),
        ended_at=NOW - timedelta(days=2),
    )
    [decision] = plays_to_start(event, [earlier], shipped(), NOW)
    assert not decision.start
    assert decision.not_before == NOW + timedelta(days=20)
    assert "30-day cooldown ends" in decision.reason
    why = decision.why
    assert (why.rule, why.policy, why.policy_version) == ("plays_to_start", "default", 1)
    assert why.trigger == "health changed from green to yellow"
    assert why.facts["event.event_id"] == "ev-7" and why.facts["cooldown_days"] == 30
    assert why.facts["event.to_colour"] == "yellow"
    later = earlier.model_copy(update={"started_at": NOW - timedelta(days=30)})
    assert starts(event, [later]) == ["health_recovery"]


def test_cooldown_per_play_covers_every_cause() -> None:
    other = PlayRun(
        play="escalation_review",
        cause="t-1",
        started_at=NOW - timedelta(days=3),
        ended_at=NOW - timedelta(days=1),
    )
    assert starts(SupportEscalatedEvent(ticket_id="t-2"), [other]) == []
    assert starts(SupportEscalatedEvent(ticket_id="t-2"), [], None) == ["escalation_review"]


def test_renewal_checkpoints() -> None:
    [checkpoint] = renewal_checkpoints(date(2026, 1, 1), shipped())
    assert checkpoint.days_before == 90 and checkpoint.plays == ["renewal_prep"]
    assert checkpoint.at == datetime(2025, 10, 3, tzinfo=UTC)


@st.composite
def timelines(draw: st.DrawFn) -> list[tuple[float, str, float]]:
    """(days since the previous event, contact, how long a play started then runs)."""
    return draw(
        st.lists(
            st.tuples(st.floats(0, 20), st.sampled_from(["c-1", "c-2", "c-3"]), st.floats(0, 30)),
            max_size=25,
        )
    )


@settings(max_examples=60, deadline=None)
@given(
    timeline=timelines(),
    cooldown=st.floats(0.5, 40),
    per=st.sampled_from(["cause", "play"]),
)
def test_cooldown_never_lets_a_play_start_twice_within_the_window(
    timeline: list[tuple[float, str, float]], cooldown: float, per: str
) -> None:
    play = {
        "key": "welcome_contact",
        "title": "Welcome",
        "trigger": {"kind": "key_contact_changed"},
        "cooldown_days": cooldown,
        "cooldown_per": per,
        "steps": [
            {"kind": "task", "key": "call", "title": "Call", "assignee": "csm", "due_days": 1}
        ],
    }
    policy = policy_with(plays=[play])
    now = NOW
    runs: list[PlayRun] = []
    ends: list[datetime] = []
    for gap, contact, duration in timeline:
        now += timedelta(days=gap)
        runs = [
            r.model_copy(update={"ended_at": end}) if r.ended_at is None and end <= now else r
            for r, end in zip(runs, ends, strict=True)
        ]
        for decision in plays_to_start(
            KeyContactChangedEvent(contact_id=contact), runs, policy, now
        ):
            if decision.start:
                runs.append(PlayRun(play=decision.play, cause=decision.cause, started_at=now))
                ends.append(now + timedelta(days=duration))
    for i, a in enumerate(runs):
        for b in runs[i + 1 :]:
            if per == "play" or a.cause == b.cause:
                assert b.started_at - a.started_at >= timedelta(days=cooldown)
            if a.cause == b.cause:  # never twice at once for the same cause
                assert a.ended_at is not None and a.ended_at <= b.started_at


# ---- conditions -------------------------------------------------------------------------------


def test_conditions_for_wait_until_and_exit_when() -> None:
    recovery = shipped().play("health_recovery")
    assert recovery.exit_when is not None
    assert check_condition(recovery.exit_when, JourneyFacts(health="green")).met
    not_yet = check_condition(recovery.exit_when, JourneyFacts(health="yellow"))
    assert not not_yet.met and not_yet.reason == "health is yellow (not green)"
    rescue = shipped().play("adoption_rescue").exit_when
    assert rescue is not None
    at_risk: list[Persona] = ["end_user"]
    assert not check_condition(rescue, JourneyFacts(adoption_at_risk=at_risk)).met
    milestones = MilestonesComplete(kind="milestones_complete", milestones=["a", "b"])
    waiting = check_condition(milestones, JourneyFacts(completed_milestones=["a"]))
    assert (waiting.met, waiting.reason) == (False, "waiting for b")


def test_every_result_round_trips_through_json_for_workflow_state() -> None:
    policy = shipped()
    results: list[Any] = [
        select_track(account(segment="enterprise"), policy),
        evaluate_adoption({"admin": days_before(1)}, [NOW - timedelta(days=1)], policy, NOW),
        score_health(dict.fromkeys(ALL, 55), policy, "green"),
        tenure_stage(date(2024, 1, 1), NOW, policy),
        *next_recurring(date(2024, 1, 1), NOW, policy),
        *plays_to_start(KeyContactChangedEvent(contact_id="c-1"), [], policy, NOW),
        *renewal_checkpoints(date(2026, 1, 1), policy),
    ]
    for result in results:
        assert type(result).model_validate_json(result.model_dump_json()) == result


MILESTONE_KEYS = ["kickoff", "sso_setup", "first_report", "training_refresher"]
facts = st.builds(
    JourneyFacts,
    health=st.none() | st.sampled_from(["red", "yellow", "green"]),
    completed_milestones=st.lists(st.sampled_from(MILESTONE_KEYS), unique=True),
    adoption_at_risk=st.lists(st.sampled_from(PERSONAS), unique=True),
)


@given(
    name=st.sampled_from(["default", "risk-management", "health-and-safety"]),
    before=facts,
    after=facts,
)
def test_a_play_hears_every_fact_change_that_could_change_what_it_does(
    name: str, before: JourneyFacts, after: JourneyFacts
) -> None:
    for play in shipped(name).plays:
        watches = watched_by(play)
        conditions = [s.condition for s in play.steps if isinstance(s, WaitUntilStep)]
        conditions += [play.exit_when] if play.exit_when else []
        for c in conditions:
            # What the play decides from the projection is what it would decide from it all...
            assert check_condition(c, watches.project(after)) == check_condition(c, after)
            # ...so an unchanged projection (no signal sent) never hides a changed decision.
            if watches.project(before) == watches.project(after):
                assert check_condition(c, before).met == check_condition(c, after).met


def test_a_health_play_does_not_hear_of_milestones() -> None:
    recovery = shipped().play("health_recovery")
    watches = watched_by(recovery)
    assert watches.health and not watches.milestones and not watches.personas
    done = JourneyFacts(health="yellow", completed_milestones=["kickoff"])
    assert watches.project(done) == watches.project(JourneyFacts(health="yellow"))
    rescue = watched_by(shipped().play("adoption_rescue"))
    assert rescue.personas == ["admin", "champion", "end_user"] and not rescue.health
