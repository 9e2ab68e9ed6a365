"""Adoption: usage and incidents gathered as they are reported, and judged on a fixed cadence
of journey days; a persona newly at risk raises a trigger."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.journey import names, prose
    from workflows.journey.branches.health import Health
    from workflows.journey.context import JourneyContext
    from workflows.journey.effects import Effects
    from workflows.journey.messages import IncidentReported, UsageReported
    from workflows.journey.plays import Plays
    from workflows.journey.state import Incident, JourneyState, MeasureValue
    from workflows.rules import AdoptionRiskEvent, evaluate_adoption

# Usage and incidents older than this cannot matter to any adoption window we judge.
KEEP_ACTIVITY_DAYS = 120


def forget_before(state: JourneyState, today: datetime) -> None:
    """Drop usage and incidents too old to matter, so the carried state stays small."""
    horizon = (today - timedelta(days=KEEP_ACTIVITY_DAYS)).date()
    state.active_days = {p: [d for d in ds if d >= horizon] for p, ds in state.active_days.items()}
    state.incidents = [i for i in state.incidents if i.at.date() >= horizon]


class Adoption:
    def __init__(self, ctx: JourneyContext, fx: Effects, plays: Plays, health: Health) -> None:
        self._ctx = ctx
        self._fx = fx
        self._plays = plays
        self._health = health

    async def run(self) -> None:
        ctx, state = self._ctx, self._ctx.state
        every = ctx.policy.adoption.check_every_days
        while state.ended is None:
            day = state.next_adoption_check_day or every
            state.next_adoption_check_day = day
            if not await ctx.sleep_until(day, prose.ADOPTION_CHECK):
                return
            await self._check(ctx.clock.time_of(day))
            state.next_adoption_check_day = day + every

    async def _check(self, today: datetime) -> None:
        """Judge adoption as of the check's scheduled journey time, not when its timer fired:
        timer latency is nothing in real days but can be days when days are compressed."""
        ctx, state = self._ctx, self._ctx.state
        forget_before(state, today)
        before = set(state.adoption.at_risk) if state.adoption else set()
        report = evaluate_adoption(
            state.active_days,
            [i.at for i in state.incidents],
            ctx.policy,
            today,
            personas_present={c.persona for c in state.contacts if c.present},
            observed_since=(state.epoch or state.started_at).date(),
        )
        state.adoption = report
        if report.score is not None:
            state.measures["adoption"] = MeasureValue(
                value=report.score, at=today, note=report.reason, source="adoption check"
            )
            await self._health.rescore(prose.ADOPTION_RESCORED)
        if set(report.at_risk) != before:
            await self._plays.tell()
        for persona in report.at_risk:
            if persona not in before:
                await self._plays.trigger(AdoptionRiskEvent(persona=persona), report.why)

    async def usage_reported(self, e: UsageReported) -> None:
        ctx = self._ctx
        if await self._fx.admit(names.USAGE_REPORTED, e.event_id, None, e.occurred_at):
            now = workflow.now()
            today = ctx.clock.today(now)
            reported = e.days_by_persona(ctx.clock.event_time(e.occurred_at, now).date())
            for persona, dates in reported.items():
                days = ctx.state.active_days.setdefault(persona, [])
                days += [d for d in dates if d <= today and d not in days]

    async def incident_reported(self, e: IncidentReported) -> None:
        ctx = self._ctx
        if await self._fx.admit(names.INCIDENT_REPORTED, e.event_id, None, e.occurred_at):
            at = ctx.clock.event_time(e.occurred_at, workflow.now())
            ctx.state.incidents.append(
                Incident(incident_id=e.incident_id, at=at, severity=e.severity)
            )
