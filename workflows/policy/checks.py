"""Whether a policy's fields agree with each other: every check that field types cannot make.

Dependencies between milestones, weights that sum to one, references from plays to roles,
templates, milestones and earlier steps. These run where a policy enters Waypost (loading a file,
the API, a journey's `change_policy` update), never when a worker decodes a payload: a policy
pinned into a journey's input was checked when it entered.

Pure and import-safe inside the workflow sandbox.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Protocol, TypeVar

from pydantic import BaseModel

from workflows.models import PERSONAS
from workflows.policy.errors import PolicyIssue
from workflows.policy.models import (
    EscalateStep,
    EventDrivenExpectation,
    HealthChangedTrigger,
    MilestoneOverdueTrigger,
    MilestonesComplete,
    NotifyStep,
    Play,
    Policy,
    Step,
    StepsDone,
    TaskStep,
    WaitUntilStep,
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
from workflows.policy.wording import Found, Loc, duplicates, shown_path, unique, unknown

M = TypeVar("M", bound=BaseModel)


class Reading(Protocol):
    """How much of a policy could be read. The loader reads a file whose fields are broken
    as far as it can (`lenient`), and the checks judge only what was read whole: a section that
    lost a field to its default, or lost items, would otherwise be judged on what is not there."""

    @property
    def unreadable(self) -> Collection[str]:
        """Names (keys) of the items that could not be read at all: a reference to one is
        not also reported as unknown."""
        ...

    def lost(self, model: BaseModel) -> Collection[str]:
        """The fields of `model` that could not be read, or lost items."""
        ...


class _Whole:
    unreadable: Collection[str] = frozenset()

    def lost(self, model: BaseModel) -> Collection[str]:
        return ()


def check_policy(policy: Policy) -> list[PolicyIssue]:
    """Every problem in a policy, as `path: what is wrong`; none when it can be used."""
    data = policy.model_dump(by_alias=True)
    return [PolicyIssue(shown_path(loc, data), message) for loc, message in problems(policy)]


def problems(policy: Policy, reading: Reading | None = None) -> Found:
    """Every problem, at its path from the top of the policy, section by section in the
    order of the file, the checks across sections last."""
    reading = reading or _Whole()
    out = _Sections(reading)
    for name, template in policy.templates.items():
        out.add(("templates", name), template_problems(template))
    onboarding = policy.onboarding
    for i, track in enumerate(onboarding.tracks):
        out.add_if_whole(("onboarding", "tracks", i), track_problems, track)
    tracks_read = [*onboarding.tracks, *(t.when for t in onboarding.tracks)]
    out.add_if_whole(("onboarding",), onboarding_problems, onboarding, *tracks_read)
    for persona, expectation in policy.adoption.personas.items():
        if isinstance(expectation, EventDrivenExpectation):
            out.add_if_whole(("adoption", "personas", persona), event_driven_problems, expectation)
    maturity, health = policy.maturity, policy.health
    out.add_if_whole(("maturity",), maturity_problems, maturity, *maturity.stages)
    out.add_if_whole(("health", "thresholds"), thresholds_problems, health.thresholds)
    out.add_if_whole(("health",), health_problems, health)
    for i, play in enumerate(policy.plays):
        out.add_if_whole(("plays", i), play_problems, play)
    return out.found + _references(policy, reading)


class _Sections:
    """Problems of the sections, at their places; a section is judged only if read whole."""

    def __init__(self, reading: Reading) -> None:
        self.reading = reading
        self.found: Found = []

    def add(self, loc: Loc, section_found: Found) -> None:
        self.found.extend(((*loc, *where), message) for where, message in section_found)

    def add_if_whole(
        self, loc: Loc, check: Callable[[M], Found], section: M, *within: BaseModel
    ) -> None:
        """`check(section)` at `loc`, unless `section` or any model `within` it lost fields."""
        models: list[BaseModel] = [section, *within]
        if not any(self.reading.lost(m) for m in models):
            self.add(loc, check(section))


# ---- plays ------------------------------------------------------------------------------------


def play_problems(play: Play) -> Found:
    """Steps may only refer to task steps of the same play, and only to ones that came before."""
    tasks = [s.key for s in play.steps if isinstance(s, TaskStep) and s.key]  # "" is reported
    found: Found = [
        (("steps", i, "key"), m) for i, m in duplicates([s.key for s in play.steps], "step")
    ]
    found += _step_order_problems(play.steps, tasks)
    if isinstance(play.exit_when, StepsDone):
        for key in play.exit_when.steps:
            if key not in tasks:
                found.append((("exit_when", "steps"), unknown("task step", key, tasks)))
    trigger = play.trigger
    if (
        isinstance(trigger, HealthChangedTrigger)
        and trigger.to is not None
        and trigger.from_ == trigger.to
    ):
        found.append((("trigger", "to"), f"from and to are both '{trigger.to}': not a change"))
    return found


def _step_order_problems(steps: Sequence[Step], tasks: Sequence[str]) -> Found:
    """A step that waits for task steps may only name ones that came before it."""
    found: Found = []
    so_far: list[str] = []

    def earlier(loc: Loc, key: str) -> None:
        if key in tasks and key not in so_far:
            found.append((loc, f"'{key}' is a later step; it must come before this one"))
        elif key not in tasks:
            found.append((loc, unknown("task step", key, tasks)))

    for i, step in enumerate(steps):
        if isinstance(step, EscalateStep):
            earlier(("steps", i, "if_not_done"), step.if_not_done)
        elif isinstance(step, WaitUntilStep) and isinstance(step.condition, StepsDone):
            for key in step.condition.steps:
                earlier(("steps", i, "condition", "steps"), key)
        elif isinstance(step, TaskStep):
            so_far.append(step.key)
    return found


# ---- across sections --------------------------------------------------------------------------


def _references(policy: Policy, reading: Reading) -> Found:
    """Names used in one section must exist in another."""
    onboarding: list[str] = []
    for track in policy.onboarding.tracks:
        onboarding += [m.key for m in track.milestones] + [s.key for s in track.rollout_stages]
    recurring = [r.key for r in policy.maturity.recurring]
    # No onboarding milestone read at all: the loader could not read the tracks (reported),
    # so references to milestones are not judged against nothing.
    milestones = unique([*onboarding, *recurring]) if onboarding else None
    lost = reading.lost(policy)
    roles = None if "roles" in lost else policy.roles
    found: Found = [(("roles", i), m) for i, m in duplicates(roles or [], "role")]
    for i, key in enumerate(recurring):
        if key in onboarding:
            found.append(
                (
                    ("maturity", "recurring", i, "key"),
                    f"'{key}' is also an onboarding milestone; completing it would be ambiguous",
                )
            )
    keys = [p.key for p in policy.plays]
    found += [(("plays", i, "key"), m) for i, m in duplicates(keys, "play")]
    templates = None if "templates" in lost else list(policy.templates)
    known = _Known(roles, templates, milestones, reading.unreadable)
    for i, play in enumerate(policy.plays):
        found += known.references(("plays", i), play)
    return found


class _Known:
    """What a play may refer to, and the messages for what it may not."""

    def __init__(
        self,
        roles: Sequence[str] | None,
        templates: Sequence[str] | None,
        milestones: Sequence[str] | None,
        unreadable: Collection[str],
    ) -> None:
        self.roles, self.templates, self.milestones = roles, templates, milestones
        self.unreadable = unreadable

    def references(self, loc: Loc, play: Play) -> Found:
        found = self._milestone_references(play)
        for s, step in enumerate(play.steps):
            found += self._step_references(("steps", s), step)
        return [((*loc, *at), message) for at, message in found]

    def _unknown(self, at: Loc, noun: str, name: str | None, known: Sequence[str] | None) -> Found:
        if known is None or name is None or name in self.unreadable or name in known:
            return []
        return [(at, unknown(noun, name, known))]

    def _milestone_references(self, play: Play) -> Found:
        found: Found = []
        if isinstance(play.trigger, MilestoneOverdueTrigger):
            for key in play.trigger.milestones or []:
                found += self._unknown(("trigger", "milestones"), "milestone", key, self.milestones)
        if isinstance(play.exit_when, MilestonesComplete):
            for key in play.exit_when.milestones:
                found += self._unknown(
                    ("exit_when", "milestones"), "milestone", key, self.milestones
                )
        return found

    def _step_references(self, at: Loc, step: Step) -> Found:
        found: Found = []
        if not isinstance(step, WaitUntilStep):
            found += self._unknown((*at, "template"), "template", step.template, self.templates)
        if isinstance(step, TaskStep):
            found += self._unknown((*at, "assignee"), "role", step.assignee, self.roles)
        elif isinstance(step, EscalateStep):
            found += self._unknown((*at, "to"), "role", step.to, self.roles)
        elif isinstance(step, WaitUntilStep) and isinstance(step.condition, MilestonesComplete):
            for key in step.condition.milestones:
                found += self._unknown(
                    (*at, "condition", "milestones"), "milestone", key, self.milestones
                )
        elif isinstance(step, NotifyStep):
            found += self._recipient((*at, "to"), step.to)
        return found

    def _recipient(self, at: Loc, to: str) -> Found:
        """A notify step sends to a role or a persona (judged only when the roles were read)."""
        roles = self.roles
        if roles is None or to in roles or to in PERSONAS or to in self.unreadable:
            return []
        return [
            (
                at,
                f"unknown recipient '{to}': neither a role ({', '.join(roles)}) "
                f"nor a persona ({', '.join(PERSONAS)})",
            )
        ]
