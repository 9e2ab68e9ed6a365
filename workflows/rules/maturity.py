"""A customer's tenure: which maturity stage it is in, and when each recurring milestone
(a yearly review, a refresher) is next due."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from pydantic import Field

from workflows.clock import DAY, midnight
from workflows.policy import (
    Policy,
)
from workflows.rules.why import Fact, Result, Why, num, why_record


class Tenure(Result):
    stage: str
    title: str
    tenure_days: float
    next_stage: str | None
    next_stage_at: datetime | None
    reason: str
    why: Why


def tenure_stage(
    start: date, now: datetime, policy: Policy, *, trigger: str = "tenure check"
) -> Tenure:
    """The maturity stage for a customer since `start` (e.g. the first contract's start)."""
    origin = midnight(start, now)
    tenure = max(0.0, (now - origin) / DAY)
    stages = policy.maturity.stages
    index = next(
        (i for i, s in enumerate(stages) if s.until_days is None or tenure < s.until_days),
        len(stages) - 1,
    )
    stage = stages[index]
    following = stages[index + 1] if index + 1 < len(stages) else None
    at = origin + timedelta(days=stage.until_days) if stage.until_days is not None else None
    bound = f"under {num(stage.until_days)}" if stage.until_days is not None else "open-ended"
    reason = f"{num(tenure)} days of tenure: stage '{stage.key}' ({bound})"
    facts: dict[str, Fact] = {
        "start": start.isoformat(),
        "tenure_days": round(tenure, 2),
        "stage": stage.key,
        "until_days": stage.until_days,
    }
    return Tenure(
        stage=stage.key,
        title=stage.title,
        tenure_days=round(tenure, 4),
        next_stage=following.key if following else None,
        next_stage_at=at,
        reason=reason,
        why=why_record("tenure_stage", trigger, policy, reason, facts),
    )


class RecurringDue(Result):
    key: str
    title: str
    owner: str
    every_days: float
    due_at: datetime = Field(description="The next occurrence strictly after now.")
    due_in_days: float
    occurrence: int = Field(description="1 for the first occurrence, 2 for the second, ...")
    previous: int = Field(description="How many have come before (occurrence - 1).")
    reason: str
    why: Why


def next_recurring(
    start: date, now: datetime, policy: Policy, *, trigger: str = "recurring milestones planned"
) -> list[RecurringDue]:
    """For each recurring milestone, the next one due after `now` and how many came before.

    Occurrences fall at `first_after_days` (default `every_days`) after `start` and every
    `every_days` after that.
    """
    origin = midnight(start, now)
    result: list[RecurringDue] = []
    for r in policy.maturity.recurring:
        first = r.every_days if r.first_after_days is None else r.first_after_days
        elapsed = (now - origin) / DAY
        before = 0 if elapsed < first else math.floor((elapsed - first) / r.every_days) + 1

        def due(n: int, first: float = first, every: float = r.every_days) -> datetime:
            return origin + timedelta(days=first + n * every)

        # Float division can land one occurrence off at an exact boundary; settle it exactly.
        while before > 0 and due(before - 1) > now:
            before -= 1
        while due(before) <= now:
            before += 1
        at = due(before)
        reason = (
            f"{r.title} #{before + 1} due {at.date().isoformat()} "
            f"(every {num(r.every_days)} days; {before} before)"
        )
        facts: dict[str, Fact] = {
            "start": start.isoformat(),
            "every_days": r.every_days,
            "first_after_days": first,
            "occurrence": before + 1,
        }
        result.append(
            RecurringDue(
                key=r.key,
                title=r.title,
                owner=r.owner,
                every_days=r.every_days,
                due_at=at,
                due_in_days=round((at - now) / DAY, 4),
                occurrence=before + 1,
                previous=before,
                reason=reason,
                why=why_record("next_recurring", trigger, policy, reason, facts),
            )
        )
    return result
