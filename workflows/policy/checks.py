"""Whether a policy's fields agree with each other: every check that field types cannot make.

Dependencies between milestones, weights that sum to one, references from plays to roles,
templates, milestones and earlier steps. These run where a policy enters Waypost (loading a file,
the API, a journey's `change_policy` update), never when a worker decodes a payload: a policy
pinned into a journey's input was checked when it entered.

Every check reads the policy as written (`reading`), so the loader can run them on a file whose
fields are also broken and report all of it at once; `check_policy` runs them on a model.
Pure and import-safe inside the workflow sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from workflows.models import PERSONAS
from workflows.policy.errors import PolicyIssue
from workflows.policy.fields import DEFAULT_ROLES
from workflows.policy.models import GREEN, HYSTERESIS, LOOKBACK_DAYS, YELLOW, Policy
from workflows.policy.reading import (
    Data,
    Found,
    Loc,
    duplicates,
    items,
    mapping,
    number,
    shown_path,
    text,
    texts,
    unique,
    unknown,
)
from workflows.policy.sections import (
    event_driven_problems,
    health_problems,
    maturity_problems,
    onboarding_problems,
    template_problems,
    thresholds_problems,
    track_problems,
)


def check_policy(policy: Policy) -> list[PolicyIssue]:
    """Every problem in a policy whose fields are valid, as `path: what is wrong`; none when
    it can be used."""
    data = policy.model_dump(by_alias=True)
    return [PolicyIssue(shown_path(loc, data), message) for loc, message in problems(data)]


def problems(policy: Data) -> Found:
    """Every problem, at its path from the top of the policy, section by section in the
    order of the file's sections, the checks across sections last."""
    found: Found = []

    def at(loc: Loc, section_found: Found) -> None:
        found.extend(((*loc, *where), message) for where, message in section_found)

    templates = policy.get("templates")
    if isinstance(templates, Mapping):
        for name, template in templates.items():
            if isinstance(template, Mapping):
                at(("templates", name), template_problems(template))
    onboarding = policy.get("onboarding")
    if isinstance(onboarding, Mapping):
        for i, track in items(onboarding, "tracks"):
            at(("onboarding", "tracks", i), track_problems(track))
        at(("onboarding",), onboarding_problems(onboarding))
    personas = mapping(mapping(policy, "adoption"), "personas")
    for persona, expectation in personas.items():
        if isinstance(expectation, Mapping) and expectation.get("kind") == "event_driven":
            where = ("adoption", "personas", persona)
            at(where, event_driven_problems(expectation, LOOKBACK_DAYS))
    maturity = policy.get("maturity")
    if isinstance(maturity, Mapping):
        at(("maturity",), maturity_problems(maturity))
    health = policy.get("health")
    if isinstance(health, Mapping):
        thresholds = health.get("thresholds")
        if isinstance(thresholds, Mapping):
            at(("health", "thresholds"), _thresholds(thresholds))
        at(("health",), health_problems(health))
    for i, play in items(policy, "plays"):
        at(("plays", i), play_problems(play))
    return found + policy_problems(policy, DEFAULT_ROLES)


def _thresholds(thresholds: Data) -> Found:
    def given(field: str, default: float) -> float | None:
        return number(thresholds, field) if field in thresholds else default

    return thresholds_problems(
        given("green", GREEN), given("yellow", YELLOW), given("hysteresis", HYSTERESIS)
    )


# ---- plays --------------------------------------------------------------------------------------


def play_problems(play: Data) -> Found:
    """Steps may only refer to task steps of the same play, and only to ones that came before."""
    steps = items(play, "steps")
    found = duplicates(("steps",), [(i, text(s, "key")) for i, s in steps], "step")
    found = [((*loc, "key"), msg) for loc, msg in found]
    tasks = [k for _, s in steps if s.get("kind") == "task" and (k := text(s, "key"))]
    so_far: list[str] = []

    def earlier(loc: Loc, key: str) -> None:
        if key in tasks and key not in so_far:
            found.append((loc, f"'{key}' is a later step; it must come before this one"))
        elif key not in tasks:
            found.append((loc, unknown("task step", key, tasks)))

    for i, step in steps:
        kind = step.get("kind")
        if kind == "escalate" and (key := text(step, "if_not_done")) is not None:
            earlier(("steps", i, "if_not_done"), key)
        condition = mapping(step, "condition")
        if kind == "wait_until" and condition.get("kind") == "steps_done":
            for key in texts(condition, "steps") or []:
                earlier(("steps", i, "condition", "steps"), key)
        if kind == "task" and (key := text(step, "key")) is not None:
            so_far.append(key)
    exit_when = mapping(play, "exit_when")
    if exit_when.get("kind") == "steps_done":
        for key in texts(exit_when, "steps") or []:
            if key not in tasks:
                found.append((("exit_when", "steps"), unknown("task step", key, tasks)))
    trigger = mapping(play, "trigger")
    to = text(trigger, "to")
    if trigger.get("kind") == "health_changed" and to is not None and text(trigger, "from") == to:
        found.append((("trigger", "to"), f"from and to are both '{to}': not a change"))
    return found


# ---- across sections --------------------------------------------------------------------------


def policy_problems(policy: Data, default_roles: Sequence[str]) -> Found:
    """Names used in one section must exist in another. A section that is not even the right
    shape is not checked against, rather than every reference into it reported as unknown."""
    roles = texts(policy, "roles", default_roles)
    raw_templates = policy.get("templates", {})
    templates = [str(k) for k in raw_templates] if isinstance(raw_templates, Mapping) else None
    onboarding = [
        k
        for _, track in items(mapping(policy, "onboarding"), "tracks")
        for field in ("milestones", "rollout_stages")
        for _, m in items(track, field)
        if (k := text(m, "key")) is not None
    ]
    recurring = [
        (i, k) for i, r in items(mapping(policy, "maturity"), "recurring") if (k := text(r, "key"))
    ]
    milestones = unique([*onboarding, *(k for _, k in recurring)]) if onboarding else None
    found: Found = duplicates(("roles",), enumerate(roles or []), "role")
    for i, key in recurring:
        if key in onboarding:
            found.append(
                (
                    ("maturity", "recurring", i, "key"),
                    f"'{key}' is also an onboarding milestone; completing it would be ambiguous",
                )
            )
    plays = items(policy, "plays")
    found += [
        ((*loc, "key"), msg)
        for loc, msg in duplicates(("plays",), [(i, text(p, "key")) for i, p in plays], "play")
    ]
    for i, play in plays:
        found += _play_references(("plays", i), play, roles, templates, milestones)
    return found


def _play_references(
    loc: Loc,
    play: Data,
    roles: Sequence[str] | None,
    templates: Sequence[str] | None,
    milestones: Sequence[str] | None,
) -> Found:
    found: Found = []

    def role(at: Loc, name: str | None) -> None:
        if roles is not None and name is not None and name not in roles:
            found.append(((*loc, *at), unknown("role", name, roles)))

    def template(at: Loc, name: str | None) -> None:
        if templates is not None and name is not None and name not in templates:
            found.append(((*loc, *at), unknown("template", name, templates)))

    def milestone(at: Loc, part: Data, kind: str) -> None:
        if part.get("kind") == kind and milestones is not None:
            for key in texts(part, "milestones") or []:
                if key not in milestones:
                    found.append(((*loc, *at, "milestones"), unknown("milestone", key, milestones)))

    milestone(("trigger",), mapping(play, "trigger"), "milestone_overdue")
    milestone(("exit_when",), mapping(play, "exit_when"), "milestones_complete")
    for s, step in items(play, "steps"):
        kind, at = step.get("kind"), ("steps", s)
        template((*at, "template"), text(step, "template"))
        if kind == "task":
            role((*at, "assignee"), text(step, "assignee"))
        elif kind == "escalate":
            role((*at, "to"), text(step, "to"))
        elif kind == "wait_until":
            milestone((*at, "condition"), mapping(step, "condition"), "milestones_complete")
        elif kind == "notify" and roles is not None:
            to = text(step, "to")
            if to is not None and to not in roles and to not in PERSONAS:
                found.append(
                    (
                        (*loc, *at, "to"),
                        f"unknown recipient '{to}': neither a role ({', '.join(roles)}) "
                        f"nor a persona ({', '.join(PERSONAS)})",
                    )
                )
    return found
