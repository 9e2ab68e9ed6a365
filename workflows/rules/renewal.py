"""When renewal plays fall due: one checkpoint per distinct `days_before` in the policy."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from pydantic import Field

from workflows.policy import (
    Policy,
    RenewalDueTrigger,
)
from workflows.rules.why import Result


class RenewalCheckpoint(Result):
    days_before: float
    at: datetime = Field(description="Midnight UTC, days_before days before the contract ends.")
    plays: list[str]


def renewal_checkpoints(contract_end: date, policy: Policy) -> list[RenewalCheckpoint]:
    """When to send `RenewalDueEvent`s: one per distinct `days_before`, earliest first.

    A checkpoint already past when a journey starts is due at once; `plays_to_start` keeps a
    renewal play to once per contract when the policy says `reentry: once_per_cause`.
    """
    by_days: dict[float, list[str]] = {}
    for play in policy.plays:
        if isinstance(play.trigger, RenewalDueTrigger):
            by_days.setdefault(play.trigger.days_before, []).append(play.key)
    end = datetime.combine(contract_end, time(), tzinfo=UTC)
    return [
        RenewalCheckpoint(days_before=d, at=end - timedelta(days=d), plays=plays)
        for d, plays in sorted(by_days.items(), key=lambda kv: -kv[0])
    ]
