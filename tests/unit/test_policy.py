"""The policy model and loader: shipped policies load and round-trip, and every mistake a person
makes is named at its path, all at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from runtime.converter import waypost_data_converter
from workflows.journey.messages import ChangePolicy, JourneyInput
from workflows.policy import (
    DEFAULT_ROLES,
    HealthChangedTrigger,
    Policy,
    PolicyError,
    check_policy,
    load_policy,
    parse_policy,
    policy_from_data,
)

POLICIES = Path(__file__).resolve().parents[2] / "policies"
SHIPPED = ["default.yaml", "risk-management.yaml", "health-and-safety.yaml"]


def minimal() -> dict[str, Any]:
    """The shortest valid policy; tests break one thing in it at a time."""
    return {
        "name": "tiny",
        "version": 1,
        "onboarding": {
            "tracks": [
                {
                    "key": "fallback",
                    "title": "Everyone",
                    "touch": "tech",
                    "milestones": [
                        {"key": "kickoff", "title": "Kickoff", "due_days": 3, "owner": "csm"},
                        {
                            "key": "first_value",
                            "title": "First value",
                            "due_days": 14,
                            "owner": "customer",
                            "after": ["kickoff"],
                        },
                    ],
                }
            ]
        },
        "plays": [
            {
                "key": "rescue",
                "title": "Rescue",
                "trigger": {"kind": "adoption_risk"},
                "steps": [
                    {
                        "kind": "task",
                        "key": "call",
                        "title": "Call",
                        "assignee": "csm",
                        "due_days": 2,
                    }
                ],
            }
        ],
    }


def errors_of(data: Any) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(yaml.safe_dump(data, sort_keys=False))
    return caught.value.errors


def track(data: dict[str, Any], i: int = 0) -> dict[str, Any]:
    tracks: list[dict[str, Any]] = data["onboarding"]["tracks"]
    return tracks[i]


# ---- shipped policies -------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_policies_load_and_round_trip_through_json(name: str) -> None:
    policy = load_policy(POLICIES / name)
    assert Policy.model_validate_json(policy.model_dump_json()) == policy
    # The way a pinned policy really travels: in a workflow input through Temporal's converter.
    converter = waypost_data_converter.payload_converter
    assert converter.from_payloads(converter.to_payloads([policy]), [Policy]) == [policy]


def test_a_pinned_policy_is_not_rechecked_but_a_new_one_is() -> None:
    """Journey and play inputs carry a policy checked when it was pinned: decoding them skips
    the cross-reference checks (a fifth of a worker's CPU at start). A change_policy does not:
    its update validator runs check_policy on it."""
    data = load_policy(POLICIES / "default.yaml").model_dump(mode="json")
    data["plays"][0]["steps"][1]["assignee"] = "nobody"  # a role the policy does not define
    account = {
        "account_id": "acme",
        "name": "Acme",
        "segment": "smb",
        "tier": "base",
        "seats": 10,
        "csm": "dana",
        "contract_start": "2026-01-01",
        "contract_end": "2027-01-01",
    }
    converter = waypost_data_converter.payload_converter

    def payload(value: dict[str, Any]) -> Any:
        return converter.to_payloads([value])

    pinned = payload({"account": account, "policy": data, "day_seconds": 1})
    [journey] = converter.from_payloads(pinned, [JourneyInput])
    assert journey.policy.plays[0].steps[1].assignee == "nobody"
    [change] = converter.from_payloads(payload({"policy": data}), [ChangePolicy])
    play, step = data["plays"][0]["key"], data["plays"][0]["steps"][1]["key"]
    [issue] = check_policy(change.policy)
    assert issue.path == f"plays.{play}.steps.{step}.assignee"
    assert issue.message.startswith("unknown role 'nobody'")
    # Field validation still runs on a pinned input.
    data["version"] = 0
    with pytest.raises(ValidationError, match=r"policy\.version"):
        converter.from_payloads(payload({"account": account, "policy": data}), [JourneyInput])


def test_the_article_examples_say_what_the_article_says() -> None:
    risk = load_policy(POLICIES / "risk-management.yaml")
    end_user, admin = risk.adoption.personas["end_user"], risk.adoption.personas["admin"]
    assert end_user.kind == "event_driven" and end_user.within_days_of_incident == 2
    assert admin.kind == "steady" and admin.min_active_days_per_week == 3

    safety = load_policy(POLICIES / "health-and-safety.yaml")
    every = {r.key: r.every_days for r in safety.maturity.recurring}
    assert every == {"goal_review": 180, "training_refresher": 365, "stakeholder_review": 1095}


def test_default_policy_covers_the_segments_tiers_and_plays_of_the_contract() -> None:
    policy = load_policy(POLICIES / "default.yaml")
    assert policy.onboarding.tracks[-1].when.is_empty()
    triggers = {p.key: p.trigger.kind for p in policy.plays}
    assert triggers["new_stakeholder"] == "key_contact_changed"
    assert triggers["renewal_prep"] == "renewal_due"
    recovery = policy.play("health_recovery")
    assert isinstance(recovery.trigger, HealthChangedTrigger)
    assert (recovery.trigger.from_, recovery.trigger.to) == ("green", "yellow")
    assert policy.health.thresholds.hysteresis > 0


def test_a_minimal_policy_gets_sensible_defaults() -> None:
    policy = policy_from_data(minimal())
    assert policy.roles == list(DEFAULT_ROLES)
    assert [s.key for s in policy.maturity.stages] == ["new", "established", "mature"]
    assert sum(m.weight for m in policy.health.measures) == pytest.approx(1)
    assert policy.adoption.personas == {}
    assert Policy.model_validate_json(policy.model_dump_json()) == policy


def test_health_changed_from_is_written_as_from_and_read_either_way() -> None:
    data = minimal()
    data["plays"][0]["trigger"] = {"kind": "health_changed", "from": "green", "to": "yellow"}
    policy = policy_from_data(data)
    dumped = json.loads(policy.model_dump_json())
    assert dumped["plays"][0]["trigger"]["from"] == "green"
    assert HealthChangedTrigger.model_validate({"kind": "health_changed", "from_": "red"}).from_


# ---- the intentionally broken example ---------------------------------------------------------

BROKEN = [
    "name: 'Broken Policy' is not a valid name: use lowercase letters, digits, - and _",
    "version: must be >= 1 (got 0)",
    "roles.2: duplicate role 'csm' (also item 0)",
    "templates.nudge.subject: unknown placeholder '{acount_name}' (did you mean '{account_name}'?",
    "templates.nudge.body: malformed placeholder: expected '}' before end of string",
    "onboarding.tracks: no fallback track: the last track ('smb') must have an empty `when`",
    "onboarding.tracks.enterprise.milestones.kickoff.due_days: must be >= 0 (got -3)",
    "onboarding.tracks.enterprise.milestones.admin_setup.after: unknown milestone 'kickof' "
    "(did you mean 'kickoff'? known: kickoff, admin_setup, integration_live, first_value)",
    "onboarding.tracks.enterprise.milestones.integration_live.after: cycle: integration_live "
    "after first_value after integration_live",
    "onboarding.tracks.smb.touch: must be one of tech, low, high (got 'medium')",
    "onboarding.tracks.smb.milestones.kickoff.colour: unknown field 'colour' "
    "(allowed: key, title, due_days, owner, after)",
    "adoption.personas.admin.min_active_days_per_week: must be <= 7 (got 9)",
    "adoption.personas.end_users: unknown persona 'end_users' "
    "(known: admin, champion, end_user, executive_sponsor)",
    "maturity.stages.established.until_days: 90 must be after the previous stage's 730",
    "maturity.recurring.goal_review.every_days: must be > 0 (got 0)",
    "health.measures: weights sum to 0.9; they must sum to 1",
    "health.thresholds.yellow: 70 must be below green (40)",
    "plays.new_stakeholder.steps.connect.template: unknown template 'welcome' (known: nudge)",
    "plays.new_stakeholder.steps.connect.assignee: unknown role 'cs_mgr' "
    "(did you mean 'cs_manager'? known: csm, cs_manager)",
    "plays.new_stakeholder.steps.escalate.if_not_done: unknown task step 'confirm_buy_in' "
    "(known: connect)",
    "plays.new_stakeholder.steps.escalate.to: unknown role 'vp_sales' (known: csm, cs_manager)",
    "plays.health_recovery.trigger: unknown kind 'health_change' (known: health_changed, "
    "key_contact_changed, adoption_risk, support_escalated, renewal_due, milestone_overdue)",
    "plays.overdue_milestone.trigger.milestones: unknown milestone 'go_live'",
    "plays.overdue_milestone.cooldown_days: must be >= 0 (got -1)",
]


def test_broken_example_names_every_error_at_once_in_file_order() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(POLICIES / "examples" / "broken.yaml")
    errors = caught.value.errors
    assert len(errors) == len(BROKEN), "\n".join(errors)
    for got, expected in zip(errors, BROKEN, strict=True):
        assert got.startswith(expected), f"{got!r} does not start with {expected!r}"
    lines = [i.line for i in caught.value.issues]
    assert None not in lines and lines == sorted(lines)  # type: ignore[type-var]


# ---- one mistake at a time --------------------------------------------------------------------


def test_no_fallback_track() -> None:
    data = minimal()
    track(data)["when"] = {"segment": ["smb"]}
    assert errors_of(data) == [
        "onboarding.tracks: no fallback track: the last track ('fallback') must have an empty "
        "`when` so that every account gets a track"
    ]


def test_a_catch_all_track_before_the_last_makes_the_rest_unreachable() -> None:
    data = minimal()
    data["onboarding"]["tracks"].insert(0, {**track(data), "key": "early"})
    [error] = errors_of(data)
    assert error.startswith("onboarding.tracks.early.when: empty, so it matches every account")
    assert "(fallback)" in error


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (["kickof"], "unknown milestone 'kickof' (did you mean 'kickoff'? known: kickoff, "),
        (["first_value"], "'first_value': cannot come after itself"),
    ],
)
def test_milestone_after_must_name_another_milestone(after: list[str], expected: str) -> None:
    data = minimal()
    track(data)["milestones"][1]["after"] = after
    [error] = errors_of(data)
    assert error.startswith(f"onboarding.tracks.fallback.milestones.first_value.after: {expected}")


def test_dependency_cycles_are_named_once_each() -> None:
    data = minimal()
    milestones = track(data)["milestones"]
    milestones[0]["after"] = ["third"]
    milestones.append(
        {"key": "third", "title": "T", "due_days": 14, "owner": "csm", "after": ["first_value"]}
    )
    milestones[1]["due_days"] = 14
    milestones[0]["due_days"] = 14
    assert errors_of(data) == [
        "onboarding.tracks.fallback.milestones.kickoff.after: "
        "cycle: kickoff after third after first_value after kickoff"
    ]


def test_a_milestone_due_before_what_it_comes_after() -> None:
    data = minimal()
    track(data)["milestones"][1]["due_days"] = 2
    assert errors_of(data) == [
        "onboarding.tracks.fallback.milestones.first_value.due_days: due after 2 days, before "
        "'kickoff' (due after 3 days), which it comes after"
    ]


def test_a_type_error_does_not_hide_a_cycle_in_the_same_track() -> None:
    data = minimal()
    milestones = track(data)["milestones"]
    milestones[0].update(after=["first_value"], due_days=14, title="")
    errors = errors_of(data)
    assert "onboarding.tracks.fallback.milestones.kickoff.title: must not be empty" in errors
    assert any("cycle: kickoff after first_value after kickoff" in e for e in errors)


def test_rollout_stages_run_forward_and_do_not_reuse_milestone_keys() -> None:
    data = minimal()
    track(data)["rollout_stages"] = [
        {"key": "wave_2", "title": "Two", "due_days": 60},
        {"key": "wave_1", "title": "One", "due_days": 30},
        {"key": "kickoff", "title": "Oops", "due_days": 90},
    ]
    assert errors_of(data) == [
        "onboarding.tracks.fallback.rollout_stages.wave_1.due_days: due after 30 days, before "
        "the stage ahead of it ('wave_2', 60 days)",
        "onboarding.tracks.fallback.rollout_stages.kickoff.key: 'kickoff' is already a milestone",
    ]


def test_weights_must_sum_to_one_and_thresholds_be_in_order() -> None:
    data = minimal()
    data["health"] = {
        "measures": [{"key": "adoption", "weight": 0.5}, {"key": "support", "weight": 0.2}],
        "thresholds": {"green": 60, "yellow": 40, "hysteresis": 25},
    }
    assert errors_of(data) == [
        "health.measures: weights sum to 0.7; they must sum to 1",
        "health.thresholds.hysteresis: 25 must be smaller than the yellow band "
        "(green - yellow = 20)",
    ]


@pytest.mark.parametrize(
    ("where", "field"),
    [
        (("onboarding", "tracks", 0, "milestones", 0), "due_days"),
        (("plays", 0), "cooldown_days"),
        (("plays", 0, "steps", 0), "due_days"),
    ],
)
def test_negative_durations(where: tuple[str | int, ...], field: str) -> None:
    data = minimal()
    node: Any = data
    for part in where:
        node = node[part]
    node[field] = -1
    [error] = errors_of(data)
    assert error.endswith(f".{field}: must be >= 0 (got -1)")


def test_infinite_durations_would_not_survive_json_so_they_are_refused() -> None:
    data = minimal()
    track(data)["milestones"][0]["due_days"] = float("inf")
    [error] = errors_of(data)
    assert (
        error == "onboarding.tracks.fallback.milestones.kickoff.due_days: must be a finite number"
    )


def test_play_steps_must_name_known_roles_templates_and_recipients() -> None:
    data = minimal()
    data["templates"] = {"hello": {"subject": "Hi {contact_name}", "body": "For {account_name}"}}
    data["plays"][0]["steps"] = [
        {"kind": "task", "key": "call", "title": "Call", "assignee": "sales", "due_days": 2},
        {"kind": "notify", "key": "tell", "to": "champion", "template": "hello"},
        {"kind": "notify", "key": "tell_boss", "to": "boss", "template": "helo"},
        {"kind": "escalate", "key": "up", "if_not_done": "call", "sla_days": 3, "to": "cs_manager"},
    ]
    assert errors_of(data) == [
        "plays.rescue.steps.call.assignee: unknown role 'sales' "
        "(known: csm, cs_manager, account_executive, support_lead)",
        "plays.rescue.steps.tell_boss.to: unknown recipient 'boss': neither a role "
        "(csm, cs_manager, account_executive, support_lead) "
        "nor a persona (admin, champion, end_user, executive_sponsor)",
        "plays.rescue.steps.tell_boss.template: unknown template 'helo' "
        "(did you mean 'hello'? known: hello)",
    ]


def test_steps_refer_only_to_earlier_task_steps_of_their_play() -> None:
    data = minimal()
    data["plays"][0]["steps"] = [
        {"kind": "escalate", "key": "up", "if_not_done": "call", "sla_days": 3, "to": "csm"},
        {"kind": "task", "key": "call", "title": "Call", "assignee": "csm", "due_days": 2},
        {
            "kind": "wait_until",
            "key": "wait",
            "condition": {"kind": "steps_done", "steps": ["call", "mail"]},
            "timeout_days": 5,
        },
    ]
    assert errors_of(data) == [
        "plays.rescue.steps.up.if_not_done: 'call' is a later step; it must come before this one",
        "plays.rescue.steps.wait.condition.steps: unknown task step 'mail' (known: call)",
    ]


def test_unknown_persona_and_unknown_field_are_named() -> None:
    data = minimal()
    data["adoption"] = {
        "personas": {"end_users": {"kind": "steady", "min_active_days_per_week": 1}}
    }
    track(data)["milestones"][0]["titel"] = "typo"
    assert errors_of(data) == [
        "onboarding.tracks.fallback.milestones.kickoff.titel: unknown field 'titel' "
        "(did you mean 'title'? allowed: key, title, due_days, owner, after)",
        "adoption.personas.end_users: unknown persona 'end_users' "
        "(known: admin, champion, end_user, executive_sponsor)",
    ]


def test_a_trigger_needs_a_known_kind() -> None:
    data = minimal()
    data["plays"][0]["trigger"] = {"days_before": 30}
    assert errors_of(data) == [
        "plays.rescue.trigger: needs a 'kind' (one of: adoption_risk, health_changed, "
        "key_contact_changed, milestone_overdue, renewal_due, support_escalated)"
    ]


def test_references_to_milestones_and_clashing_recurring_keys() -> None:
    data = minimal()
    data["plays"][0]["trigger"] = {"kind": "milestone_overdue", "milestones": ["kick_off"]}
    data["maturity"] = {"recurring": [{"key": "kickoff", "title": "Again", "every_days": 365}]}
    assert errors_of(data) == [  # in file order: plays come first in this file
        "plays.rescue.trigger.milestones: unknown milestone 'kick_off' "
        "(did you mean 'kickoff'? known: kickoff, first_value)",
        "maturity.recurring.kickoff.key: 'kickoff' is also an onboarding milestone; completing "
        "it would be ambiguous",
    ]


def test_a_broken_item_is_named_once_not_judged_again_by_what_is_left() -> None:
    """The checks run on what could be read, but do not judge a section without the item that
    could not be read: the weights left do not sum to one, a step refers to the broken one."""
    data = minimal()
    data["health"] = {
        "measures": [{"key": "adoption", "weight": 0.6}, {"key": "support", "weight": "heavy"}]
    }
    steps = data["plays"][0]["steps"]
    steps[0]["due_days"] = "soon"
    steps.append(
        {"kind": "escalate", "key": "up", "if_not_done": "call", "sla_days": 3, "to": "csm"}
    )
    assert errors_of(data) == [  # in file order: plays come first in this file
        "plays.rescue.steps.call.due_days: must be a number (got 'soon')",
        "health.measures.support.weight: must be a number (got 'heavy')",
    ]


def test_duplicate_keys_are_shown_by_index() -> None:
    data = minimal()
    data["plays"].append(data["plays"][0])
    assert errors_of(data) == ["plays.1.key: duplicate play 'rescue' (also item 0)"]


def test_a_health_change_must_change_something() -> None:
    data = minimal()
    data["plays"][0]["trigger"] = {"kind": "health_changed", "from": "green", "to": "green"}
    assert errors_of(data) == [
        "plays.rescue.trigger.to: from and to are both 'green': not a change"
    ]


def test_incidents_must_be_remembered_longer_than_the_response_window() -> None:
    data = minimal()
    expectation = {"kind": "event_driven", "within_days_of_incident": 10, "lookback_days": 5}
    data["adoption"] = {"personas": {"end_user": expectation}}
    assert errors_of(data) == [
        "adoption.personas.end_user.lookback_days: 5 is shorter than within_days_of_incident "
        "(10): incidents would be forgotten before anyone could respond"
    ]


def test_tenure_stages_are_ordered_and_only_the_last_is_open() -> None:
    data = minimal()
    data["maturity"] = {
        "stages": [
            {"key": "new", "title": "New"},
            {"key": "old", "title": "Old", "until_days": 100},
        ]
    }
    assert errors_of(data) == [
        "maturity.stages.new.until_days: required: only the last stage is open",
        "maturity.stages.old.until_days: the last stage must be open-ended",
    ]


# ---- YAML and files ---------------------------------------------------------------------------


def test_yaml_syntax_errors_have_line_numbers() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("name: x\nversion: 1\nonboarding:\n  tracks: [\n", "p.yaml")
    [issue] = caught.value.issues
    assert issue.path.startswith("line 5, column 1") and issue.line == 5


def test_duplicate_yaml_keys_are_refused_not_silently_overwritten() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("name: a\nversion: 1\nname: b\n")
    assert caught.value.errors == ["line 3, column 1: duplicate key 'name' (first on line 1)"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "policy: empty: a policy needs at least name, version and onboarding"),
        ("- a\n- b\n", "policy: must be a mapping of sections (name, version, onboarding, ...)"),
    ],
)
def test_empty_or_non_mapping_files(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    assert caught.value.errors[0].startswith(expected)


def test_a_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path / "nope.yaml")
    assert caught.value.errors[0].startswith("file: cannot read")


def test_errors_point_at_their_lines() -> None:
    text = "name: x\nversion: 1\nonboarding:\n  tracks:\n    - key: a\n      titl: A\n"
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    lines = {i.path: i.line for i in caught.value.issues}
    assert lines["onboarding.tracks.a.titl"] == 6
    assert lines["onboarding.tracks.a.title"] == 5  # missing: the item's own line


def test_checking_a_model_gives_one_issue_per_problem_at_its_path() -> None:
    """What the change_policy validator sees: one issue per problem, at the same paths."""
    data = minimal()
    data["health"] = {"measures": [{"key": "adoption", "weight": 0.5}]}
    data["plays"][0]["steps"][0]["assignee"] = "nobody"
    policy = Policy.model_validate(data)  # the fields are all valid; the models check no more
    paths = [i.path for i in check_policy(policy)]
    assert paths == ["health.measures", "plays.rescue.steps.call.assignee"]


# ---- property: any acyclic plan is valid, any back edge is a named cycle ----------------------


@st.composite
def plans(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(min_value=1, max_value=8))
    milestones: list[dict[str, Any]] = []
    for i in range(n):
        after = draw(st.lists(st.integers(0, i - 1), unique=True)) if i else []
        milestones.append(
            {
                "key": f"m{i}",
                "title": f"M{i}",
                "due_days": float(i * 5),
                "owner": "csm",
                "after": [f"m{j}" for j in after],
            }
        )
    return milestones


def _reaches(milestones: list[dict[str, Any]], start: str, goal: str) -> bool:
    after = {m["key"]: m["after"] for m in milestones}
    todo, seen = [start], set()
    while todo:
        key = todo.pop()
        if key == goal:
            return True
        if key not in seen:
            seen.add(key)
            todo.extend(after[key])
    return False


@settings(max_examples=40, deadline=None)
@given(milestones=plans(), data=st.data())
def test_acyclic_plans_pass_and_an_edge_closing_a_loop_is_a_cycle(
    milestones: list[dict[str, Any]], data: st.DataObject
) -> None:
    policy = minimal()
    track(policy)["milestones"] = milestones
    policy_from_data(policy)
    if len(milestones) < 2:
        return
    i = data.draw(st.integers(0, len(milestones) - 2))
    j = data.draw(st.integers(i + 1, len(milestones) - 1))
    loops = _reaches(milestones, f"m{j}", f"m{i}")
    milestones[i]["after"] = [*milestones[i]["after"], f"m{j}"]
    for m in milestones:
        m["due_days"] = 5.0  # so that a cycle is the only thing that can be wrong
    if not loops:
        policy_from_data(policy)
        return
    with pytest.raises(PolicyError) as caught:
        policy_from_data(policy)
    assert caught.value.errors
    assert all(": cycle: " in e for e in caught.value.errors)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in children:
        found += _paths(child, (*prefix, key))
    return found


@settings(max_examples=80, deadline=None)
@given(data=st.data(), value=json_values)
def test_any_damage_is_a_policy_error_never_a_crash(data: st.DataObject, value: Any) -> None:
    """An API receiving a policy must answer with errors, never fail inside a check."""
    policy = minimal()
    path = data.draw(st.sampled_from(_paths(policy)))
    node: Any = policy
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    try:
        policy_from_data(policy)
    except PolicyError as e:
        assert e.errors and all(": " in error for error in e.errors)
