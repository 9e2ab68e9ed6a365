"""Why-records: what every decision in Waypost carries so it can be stored and shown.

A CSM reading a journey's timeline months later sees what prompted a decision, under which
policy (name and version) it was made, and the facts it used, exactly as they were then.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from workflows.policy import Policy

Fact = str | int | float | bool | None


class Result(BaseModel):
    """A decision's result: frozen, and JSON-round-trippable for workflow state."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Why(Result):
    """The record behind a decision, ready to store and show."""

    rule: str = Field(description="The decision function, e.g. score_health.")
    trigger: str = Field(description="What prompted the decision.")
    policy: str
    policy_version: int
    facts: dict[str, Fact] = Field(description="The inputs it used, by name.")
    reason: str


def why_record(rule: str, trigger: str, policy: Policy, reason: str, facts: dict[str, Fact]) -> Why:
    return Why(
        rule=rule,
        trigger=trigger,
        policy=policy.name,
        policy_version=policy.version,
        facts=facts,
        reason=reason,
    )


def num(x: float) -> str:
    """A number as people write it: 3, 2.5, 0.33."""
    return f"{round(x, 2):g}"


def plural(n: float, word: str) -> str:
    """`1 active day`, `3 active days`."""
    return f"{num(n)} {word}{'s' * (n != 1)}"
