"""The checks of one section of a policy each: onboarding tracks, adoption expectations,
maturity stages, health weights and thresholds, message templates.

Each takes the section's model and returns every problem found as `(path below the section,
message)`; `checks` runs them at their places in a policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from string import Formatter

from workflows.policy.models import (
    EventDrivenExpectation,
    Health,
    HealthThresholds,
    Maturity,
    Milestone,
    Onboarding,
    RolloutStage,
    Template,
    Track,
)
from workflows.policy.wording import Found, duplicates, finite, unknown

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


def track_problems(track: Track) -> Found:
    """A track's milestones must form a plan: known, acyclic dependencies, due in order."""
    keys = [m.key for m in track.milestones]
    found: Found = [
        (("milestones", i, "key"), message) for i, message in duplicates(keys, "milestone")
    ]
    for i, stage in enumerate(track.rollout_stages):
        if stage.key in keys:
            found.append((("rollout_stages", i, "key"), f"'{stage.key}' is already a milestone"))
    stage_keys = [s.key for s in track.rollout_stages]
    found += [(("rollout_stages", i, "key"), m) for i, m in duplicates(stage_keys, "stage")]
    found += _dependency_problems(track.milestones)
    found += _cycles(track.milestones)
    found += _stage_order_problems(track.rollout_stages)
    return found


def _dependency_problems(milestones: Sequence[Milestone]) -> Found:
    """A milestone comes after known others, and is not due before any of them."""
    keys = [m.key for m in milestones]
    due = {m.key: finite(m.due_days) for m in milestones}
    found: Found = []
    for i, m in enumerate(milestones):
        days = finite(m.due_days)
        for dep in m.after:
            if dep == m.key:
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
    return found


def _stage_order_problems(stages: Sequence[RolloutStage]) -> Found:
    """Rollout stages are due in the order they are listed."""
    found: Found = []
    previous: tuple[str, float] | None = None
    for i, stage in enumerate(stages):
        days = finite(stage.due_days)
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
        previous = (stage.key, days)
    return found


def _cycles(milestones: Sequence[Milestone]) -> Found:
    """Every distinct dependency cycle, reported once, at its first milestone in the file."""
    index: dict[str, int] = {}
    after: dict[str, list[str]] = {}
    for i, m in enumerate(milestones):
        if m.key not in index:
            index[m.key] = i
            after[m.key] = m.after
    state: dict[str, str] = {}  # "open" while on the DFS stack, then "done"
    stack: list[str] = []
    # Each cycle as it reads from its milestone first in the file, in the order found.
    cycles: dict[tuple[str, ...], None] = {}

    def visit(key: str) -> None:
        state[key] = "open"
        stack.append(key)
        for dep in after[key]:
            if dep == key or dep not in index:
                continue  # reported as self-reference / unknown
            if state.get(dep) == "open":
                cycle = stack[stack.index(dep) :]
                at = cycle.index(min(cycle, key=lambda k: index[k]))
                cycles.setdefault((*cycle[at:], *cycle[:at]))
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[key] = "done"

    for key in index:
        if key not in state:
            visit(key)
    return [
        (("milestones", index[c[0]], "after"), f"cycle: {' after '.join((*c, c[0]))}")
        for c in cycles
    ]


def onboarding_problems(onboarding: Onboarding) -> Found:
    tracks = onboarding.tracks
    keys = [t.key for t in tracks]
    found: Found = [(("tracks", i, "key"), m) for i, m in duplicates(keys, "track")]
    if not tracks:
        return found
    last = tracks[-1]
    if not last.when.is_empty():
        found.append(
            (
                ("tracks",),
                f"no fallback track: the last track ('{last.key}') must have an empty "
                "`when` so that every account gets a track",
            )
        )
    for i, track in enumerate(tracks[:-1]):
        if track.when.is_empty():
            later = ", ".join(keys[i + 1 :])
            found.append(
                (
                    ("tracks", i, "when"),
                    f"empty, so it matches every account and the tracks after it ({later}) "
                    "can never be chosen; only the last track may be the fallback",
                )
            )
    return found


# ---- adoption, maturity, health ---------------------------------------------------------------


def event_driven_problems(expectation: EventDrivenExpectation) -> Found:
    within = finite(expectation.within_days_of_incident)
    lookback = finite(expectation.lookback_days)
    if within is not None and lookback is not None and lookback < within:
        return [
            (
                ("lookback_days",),
                f"{lookback:g} is shorter than within_days_of_incident ({within:g}): incidents "
                "would be forgotten before anyone could respond",
            )
        ]
    return []


def maturity_problems(maturity: Maturity) -> Found:
    stages = maturity.stages
    found: Found = [
        (("stages", i, "key"), m) for i, m in duplicates([s.key for s in stages], "stage")
    ]
    recurring = [r.key for r in maturity.recurring]
    found += [(("recurring", i, "key"), m) for i, m in duplicates(recurring, "recurring milestone")]
    previous: float | None = None
    for i, stage in enumerate(stages):
        last = i == len(stages) - 1
        if stage.until_days is None and not last:
            found.append((("stages", i, "until_days"), "required: only the last stage is open"))
        elif stage.until_days is not None and last:
            found.append((("stages", i, "until_days"), "the last stage must be open-ended"))
        days = finite(stage.until_days)
        if days is not None and previous is not None and days <= previous:
            found.append(
                (
                    ("stages", i, "until_days"),
                    f"{days:g} must be after the previous stage's {previous:g}",
                )
            )
        previous = days if days is not None else previous
    return found


def health_problems(health: Health) -> Found:
    keys = [m.key for m in health.measures]
    found: Found = [(("measures", i, "key"), m) for i, m in duplicates(keys, "measure")]
    weights = [finite(m.weight) for m in health.measures]
    if health.measures and None not in weights:
        total = sum(w for w in weights if w is not None)
        if abs(total - 1) > 1e-6:
            found.append((("measures",), f"weights sum to {total:g}; they must sum to 1"))
    return found


def thresholds_problems(thresholds: HealthThresholds) -> Found:
    green, yellow = finite(thresholds.green), finite(thresholds.yellow)
    band = finite(thresholds.hysteresis)
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


def template_problems(template: Template) -> Found:
    found: Found = []
    braced = [f"{{{p}}}" for p in TEMPLATE_PLACEHOLDERS]
    for field, value in (("subject", template.subject), ("body", template.body)):
        try:
            names = [name for _, name, _, _ in Formatter().parse(value) if name is not None]
        except ValueError as e:
            found.append(((field,), f"malformed placeholder: {e}"))
            continue
        for name in names:
            if name not in TEMPLATE_PLACEHOLDERS:
                found.append(((field,), unknown("placeholder", f"{{{name}}}", braced)))
    return found
