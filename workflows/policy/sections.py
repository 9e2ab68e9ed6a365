"""The checks of one section of a policy each: onboarding tracks, adoption expectations,
maturity stages, health weights and thresholds, message templates.

Each takes the section as written (see `reading`) and returns every problem found as
`(path below the section, message)`; `checks` runs them at their places in a policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Formatter

from workflows.policy.reading import (
    Data,
    Found,
    duplicates,
    items,
    number,
    text,
    texts,
    unknown,
)

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


# ---- templates ----------------------------------------------------------------------------------


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
