"""The mistakes a person makes in a policy that field types cannot catch.

The checks read plain data (the YAML as written, or a validated model dumped back to it) and
return *every* problem as `(path below the model, message)`. Reading plain data lets a check run
even when the section it looks at also has type errors: a typo in one milestone must not hide a
dependency cycle between two others. Where a value a check needs is itself broken (pydantic
reports that), the check skips it rather than guess.

Pure and import-safe inside the workflow sandbox, like the models that call it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from string import Formatter
from typing import Any

from workflows.models import PERSONAS

Loc = tuple[str | int, ...]
Found = list[tuple[Loc, str]]
Data = Mapping[str, Any]

# What a notifier can fill in; a template using anything else would fail at send time, years
# into a journey, so it fails at policy check time instead.
TEMPLATE_PLACEHOLDERS: tuple[str, ...] = (
    "account_id",
    "account_name",
    "segment",
    "tier",
    "csm",
    "renewal_date",
    "play",
    "cause",
    "task",
    "due_date",
    "role",
    "contact_name",
    "persona",
    "milestone",
    "health",
    "score",
    "stage",
)


# ---- reading plain data leniently -------------------------------------------------------------


def text(d: Data, field: str) -> str | None:
    value = d.get(field)
    return value if isinstance(value, str) else None


def number(d: Data, field: str) -> float | None:
    value = d.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def texts(d: Data, field: str, default: Sequence[str] = ()) -> list[str] | None:
    """The strings of a list field; the default when absent; None when it is not a list."""
    value = d.get(field, list(default))
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else None


def items(d: Data, field: str) -> list[tuple[int, Data]]:
    """The mapping items of a list field, with their index in the file."""
    value = d.get(field)
    if not isinstance(value, list):
        return []
    return [(i, v) for i, v in enumerate(value) if isinstance(v, Mapping)]


def mapping(d: Data, field: str) -> Data:
    value = d.get(field)
    return value if isinstance(value, Mapping) else {}


# ---- messages ---------------------------------------------------------------------------------


def unknown(noun: str, value: str, known: Sequence[str]) -> str:
    """`unknown role 'cs_mgr' (did you mean 'cs_manager'? known: csm, cs_manager)`."""
    known = unique(known)
    if not known:
        return f"unknown {noun} '{value}' (none defined)"
    close = difflib.get_close_matches(value, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown {noun} '{value}' ({hint}known: {', '.join(known)})"


def duplicates(loc: Loc, keyed: Iterable[tuple[int, str | None]], noun: str) -> Found:
    first: dict[str, int] = {}
    found: Found = []
    for i, key in keyed:
        if key is None:
            continue
        if key in first:
            found.append(((*loc, i), f"duplicate {noun} '{key}' (also item {first[key]})"))
        else:
            first[key] = i
    return found


def unique(keys: Iterable[str]) -> list[str]:
    """First-seen order, so messages are the same on every run (no set iteration order)."""
    return list(dict.fromkeys(keys))


# ---- onboarding -------------------------------------------------------------------------------


def track_problems(track: Data) -> Found:
    """A track's milestones must form a plan: known, acyclic dependencies, due in order."""
    milestones = items(track, "milestones")
    stages = items(track, "rollout_stages")
    keys = [k for _, m in milestones if (k := text(m, "key")) is not None]
    found = duplicates(("milestones",), [(i, text(m, "key")) for i, m in milestones], "milestone")
    found = [((*loc, "key"), msg) for loc, msg in found]
    for i, stage in stages:
        key = text(stage, "key")
        if key is not None and key in keys:
            found.append((("rollout_stages", i, "key"), f"'{key}' is already a milestone"))
    stage_keys = [(i, text(s, "key")) for i, s in stages]
    found += [((*loc, "key"), m) for loc, m in duplicates(("rollout_stages",), stage_keys, "stage")]
    due = {k: number(m, "due_days") for _, m in milestones if (k := text(m, "key")) is not None}
    for i, m in milestones:
        key, days = text(m, "key"), number(m, "due_days")
        for dep in texts(m, "after") or []:
            if dep == key:
                found.append((("milestones", i, "after"), f"'{dep}': cannot come after itself"))
            elif dep not in due:
                found.append((("milestones", i, "after"), unknown("milestone", dep, keys)))
            elif (before := due[dep]) is not None and days is not None and before > days:
                found.append(
                    (
                        ("milestones", i, "due_days"),
                        f"due after {days:g} days, before '{dep}' (due after {before:g} days), "
                        "which it comes after",
                    )
                )
    found += _cycles(milestones)
    previous: tuple[str, float] | None = None
    for i, stage in stages:
        days = number(stage, "due_days")
        if days is None:
            continue
        if previous is not None and days < previous[1]:
            found.append(
                (
                    ("rollout_stages", i, "due_days"),
                    f"due after {days:g} days, before the stage ahead of it "
                    f"('{previous[0]}', {previous[1]:g} days)",
                )
            )
        previous = (text(stage, "key") or str(i), days)
    return found


def _cycles(milestones: list[tuple[int, Data]]) -> Found:
    """Every distinct dependency cycle, reported once, at its first milestone in the file."""
    index: dict[str, int] = {}
    after: dict[str, list[str]] = {}
    for i, m in milestones:
        key = text(m, "key")
        if key is not None and key not in index:
            index[key] = i
            after[key] = texts(m, "after") or []
    state: dict[str, str] = {}  # "open" while on the DFS stack, then "done"
    stack: list[str] = []
    seen: list[tuple[str, ...]] = []
    found: Found = []

    def visit(key: str) -> None:
        state[key] = "open"
        stack.append(key)
        for dep in after[key]:
            if dep == key or dep not in index:
                continue  # reported as self-reference / unknown
            if state.get(dep) == "open":
                cycle = stack[stack.index(dep) :]
                start = min(cycle, key=lambda k: index[k])
                at = cycle.index(start)
                canonical = (*cycle[at:], *cycle[:at])
                if canonical not in seen:
                    seen.append(canonical)
                    path = " after ".join((*canonical, start))
                    found.append((("milestones", index[start], "after"), f"cycle: {path}"))
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[key] = "done"

    for key in index:
        if key not in state:
            visit(key)
    return found


def when_is_empty(track: Data) -> bool | None:
    """Whether a track's `when` matches every account; None when `when` is not a mapping."""
    when = track.get("when")
    if when is None:
        return True
    if not isinstance(when, Mapping):
        return None
    return all(when.get(f) is None for f in ("segment", "tier", "add_ons_any", "min_seats"))


def onboarding_problems(onboarding: Data) -> Found:
    tracks = items(onboarding, "tracks")
    found = duplicates(("tracks",), [(i, text(t, "key")) for i, t in tracks], "track")
    found = [((*loc, "key"), msg) for loc, msg in found]
    if not tracks:
        return found
    _, last = tracks[-1]
    if when_is_empty(last) is False:
        found.append(
            (
                ("tracks",),
                f"no fallback track: the last track ('{text(last, 'key')}') must have an empty "
                "`when` so that every account gets a track",
            )
        )
    for n, (i, track) in enumerate(tracks[:-1]):
        if when_is_empty(track):
            later = ", ".join(text(t, "key") or str(j) for j, t in tracks[n + 1 :])
            found.append(
                (
                    ("tracks", i, "when"),
                    f"empty, so it matches every account and the tracks after it ({later}) "
                    "can never be chosen; only the last track may be the fallback",
                )
            )
    return found


# ---- adoption, maturity, health ---------------------------------------------------------------


def event_driven_problems(expectation: Data, default_lookback: float) -> Found:
    within = number(expectation, "within_days_of_incident")
    lookback = number(expectation, "lookback_days")
    if "lookback_days" not in expectation:
        lookback = default_lookback
    if within is not None and lookback is not None and lookback < within:
        return [
            (
                ("lookback_days",),
                f"{lookback:g} is shorter than within_days_of_incident ({within:g}): incidents "
                "would be forgotten before anyone could respond",
            )
        ]
    return []


def maturity_problems(maturity: Data) -> Found:
    stages = items(maturity, "stages")
    found = duplicates(("stages",), [(i, text(s, "key")) for i, s in stages], "stage")
    recurring = [(i, text(r, "key")) for i, r in items(maturity, "recurring")]
    found += duplicates(("recurring",), recurring, "recurring milestone")
    found = [((*loc, "key"), msg) for loc, msg in found]
    previous: float | None = None
    for n, (i, stage) in enumerate(stages):
        last = n == len(stages) - 1
        until = stage.get("until_days")
        if until is None and not last:
            found.append((("stages", i, "until_days"), "required: only the last stage is open"))
        elif until is not None and last:
            found.append((("stages", i, "until_days"), "the last stage must be open-ended"))
        days = number(stage, "until_days")
        if days is not None and previous is not None and days <= previous:
            found.append(
                (
                    ("stages", i, "until_days"),
                    f"{days:g} must be after the previous stage's {previous:g}",
                )
            )
        previous = days if days is not None else previous
    return found


def health_problems(health: Data) -> Found:
    measures = items(health, "measures")
    found = duplicates(("measures",), [(i, text(m, "key")) for i, m in measures], "measure")
    found = [((*loc, "key"), msg) for loc, msg in found]
    weights = [number(m, "weight") for _, m in measures]
    if measures and None not in weights:
        total = sum(w for w in weights if w is not None)
        if abs(total - 1) > 1e-6:
            found.append((("measures",), f"weights sum to {total:g}; they must sum to 1"))
    return found


def thresholds_problems(green: float | None, yellow: float | None, band: float | None) -> Found:
    if green is None or yellow is None:
        return []
    if yellow >= green:
        return [(("yellow",), f"{yellow:g} must be below green ({green:g})")]
    if band is not None and band >= green - yellow:
        return [
            (
                ("hysteresis",),
                f"{band:g} must be smaller than the yellow band "
                f"(green - yellow = {green - yellow:g})",
            )
        ]
    return []


# ---- plays ------------------------------------------------------------------------------------


def template_problems(template: Data) -> Found:
    found: Found = []
    braced = [f"{{{p}}}" for p in TEMPLATE_PLACEHOLDERS]
    for field in ("subject", "body"):
        value = text(template, field)
        if value is None:
            continue
        try:
            names = [name for _, name, _, _ in Formatter().parse(value) if name is not None]
        except ValueError as e:
            found.append(((field,), f"malformed placeholder: {e}"))
            continue
        for name in names:
            if name not in TEMPLATE_PLACEHOLDERS:
                found.append(((field,), unknown("placeholder", f"{{{name}}}", braced)))
    return found


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
