"""Which onboarding track an account gets: the first whose `when` holds."""

from __future__ import annotations

from pydantic import Field

from workflows.models import Account
from workflows.policy import (
    Policy,
    Track,
    When,
)
from workflows.rules.why import Fact, Result, Why, why_record


class TrackChoice(Result):
    track: Track
    reason: str = Field(description="e.g. track 'enterprise_rollout': segment is enterprise")
    passed_over: list[str] = Field(description="Why each earlier track did not match.")
    why: Why


def _match(when: When, account: Account) -> tuple[list[str], list[str]]:
    """(conditions that hold, conditions that fail), in words."""
    holds: list[str] = []
    fails: list[str] = []
    if when.segment is not None:
        ok = account.segment in when.segment
        wanted = "" if ok else f" (wants {' or '.join(when.segment)})"
        (holds if ok else fails).append(f"segment is {account.segment}{wanted}")
    if when.tier is not None:
        ok = account.tier in when.tier
        wanted = "" if ok else f" (wants {' or '.join(when.tier)})"
        (holds if ok else fails).append(f"tier is {account.tier}{wanted}")
    if when.add_ons_any is not None:
        has = [a for a in when.add_ons_any if a in account.add_ons]
        if has:
            holds.append(f"has add-on{'s' * (len(has) > 1)} {', '.join(has)}")
        else:
            fails.append(f"has none of the add-ons {', '.join(when.add_ons_any)}")
    if when.min_seats is not None:
        ok = account.seats >= when.min_seats
        (holds if ok else fails).append(
            f"{account.seats} seats ({'at least' if ok else 'fewer than'} {when.min_seats})"
        )
    return holds, fails


def select_track(
    account: Account, policy: Policy, *, trigger: str = "journey started"
) -> TrackChoice:
    """The first track whose `when` holds for the account. The policy guarantees the last
    track matches every account, so there is always a choice."""
    passed_over: list[str] = []
    for track in policy.onboarding.tracks:
        holds, fails = _match(track.when, account)
        if fails:
            passed_over.append(f"track '{track.key}': {' and '.join(fails)}")
            continue
        why = " and ".join(holds) if holds else "fallback (matches every account)"
        reason = f"track '{track.key}': {why}"
        facts: dict[str, Fact] = {
            "account_id": account.account_id,
            "segment": account.segment,
            "tier": account.tier,
            "add_ons": ", ".join(account.add_ons),
            "seats": account.seats,
            "track": track.key,
            "touch": track.touch,
        }
        return TrackChoice(
            track=track,
            reason=reason,
            passed_over=passed_over,
            why=why_record("select_track", trigger, policy, reason, facts),
        )
    raise ValueError(f"policy {policy.label} has no fallback track")  # validation prevents it
