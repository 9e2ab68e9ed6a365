"""How healthy an account is: a weighted score over the measures reported, its colour, and
hysteresis so a score wobbling on a threshold does not flap between colours."""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import Field

from workflows.models import HealthColour
from workflows.policy import (
    MeasureKey,
    Policy,
)
from workflows.rules.why import Fact, Result, Why, num, why_record

_RANK: dict[HealthColour, int] = {"red": 0, "yellow": 1, "green": 2}


class Contribution(Result):
    measure: MeasureKey
    value: float = Field(description="The measure, 0-100.")
    weight: float = Field(description="Its weight in the policy.")
    share: float = Field(description="Its weight among the measures present (sums to 1).")
    points: float = Field(description="value × share: what it adds to the score.")


class HealthScore(Result):
    score: float
    colour: HealthColour
    raw_colour: HealthColour = Field(description="The colour of the score without hysteresis.")
    previous: HealthColour | None
    changed: bool
    held: bool = Field(description="Hysteresis kept the previous colour.")
    contributions: list[Contribution]
    missing: list[MeasureKey] = Field(description="Policy measures not reported; left out.")
    ignored: list[str] = Field(description="Reported measures the policy does not weigh.")
    reason: str
    why: Why


def _colour_of(score: float, green: float, yellow: float) -> HealthColour:
    return "green" if score >= green else "yellow" if score >= yellow else "red"


def score_health(
    measures: Mapping[str, float],
    policy: Policy,
    previous: HealthScore | HealthColour | None = None,
    *,
    trigger: str = "health measured",
) -> HealthScore:
    """The weighted score (0-100), its colour, and each measure's contribution.

    Measures the policy weighs but that were not reported are left out and the other weights
    scaled up, so a missing survey does not read as a bad one. Hysteresis: a colour improves
    as soon as the score reaches the threshold, but only worsens once the score is more than
    `hysteresis` points below it, so noise around a threshold cannot flap the colour.
    Raises ValueError when none of the policy's measures is given (callers validate first).
    """
    present = [
        m
        for m in policy.health.measures
        if m.key in measures and not math.isnan(float(measures[m.key]))
    ]
    if not present:
        raise ValueError(f"no health measure given (the policy weighs {_keys(policy)})")
    total = sum(m.weight for m in present)
    contributions: list[Contribution] = []
    for m in present:
        value = min(100.0, max(0.0, float(measures[m.key])))
        share = m.weight / total
        contributions.append(
            Contribution(
                measure=m.key,
                value=value,
                weight=m.weight,
                share=round(share, 4),
                points=round(value * share, 2),
            )
        )
    score = round(sum(c.value * (c.weight / total) for c in contributions), 1)
    t = policy.health.thresholds
    raw = _colour_of(score, t.green, t.yellow)
    before = previous.colour if isinstance(previous, HealthScore) else previous
    colour = raw
    if before is not None and _RANK[raw] < _RANK[before]:
        # Worsen only as far as the score is clearly below a threshold, never past `before`.
        lenient = _colour_of(score + t.hysteresis, t.green, t.yellow)
        colour = lenient if _RANK[lenient] < _RANK[before] else before
    held = colour != raw
    parts = ", ".join(f"{c.measure} {num(c.value)}×{num(c.share)}" for c in contributions)
    reason = f"score {num(score)} ({colour}): {parts}"
    if held:
        reason += (
            f"; stays {colour}: within {num(t.hysteresis)} points of the threshold "
            f"(raw colour {raw})"
        )
    elif before is not None and colour != before:
        reason += f"; was {before}"
    missing = [m.key for m in policy.health.measures if m not in present]
    if missing:
        reason += f"; not measured: {', '.join(missing)}"
    known = {m.key for m in policy.health.measures}
    ignored = sorted(k for k in measures if k not in known)
    facts: dict[str, Fact] = {"score": score, "colour": colour, "previous": before}
    for c in contributions:
        facts[f"{c.measure}.value"] = c.value
        facts[f"{c.measure}.weight"] = c.weight
        facts[f"{c.measure}.points"] = c.points
    facts.update(green=t.green, yellow=t.yellow, hysteresis=t.hysteresis)
    return HealthScore(
        score=score,
        colour=colour,
        raw_colour=raw,
        previous=before,
        changed=before is not None and colour != before,
        held=held,
        contributions=contributions,
        missing=missing,
        ignored=ignored,
        reason=reason,
        why=why_record("score_health", trigger, policy, reason, facts),
    )


def _keys(policy: Policy) -> str:
    return ", ".join(m.key for m in policy.health.measures)
