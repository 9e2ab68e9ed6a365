"""Maturity: tenure stages and recurring milestones, walked in journey time from a cursor.

Each item is handled as of its own due time, in order, so a timer that fires late (a blink
in real days, many days when they are compressed) skips nothing.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.journey import prose
    from workflows.journey.context import JourneyContext
    from workflows.journey.effects import Effects
    from workflows.journey.plays import Plays
    from workflows.rules import MilestoneOverdueEvent, next_recurring, tenure_stage


class Maturity:
    def __init__(self, ctx: JourneyContext, fx: Effects, plays: Plays) -> None:
        self._ctx = ctx
        self._fx = fx
        self._plays = plays

    async def run(self) -> None:
        ctx, state = self._ctx, self._ctx.state
        start = state.contract_start or (state.epoch or state.started_at).date()
        if state.maturity_cursor is None:
            state.maturity_cursor = ctx.clock.at(workflow.now())
        while state.ended is None:
            cursor = state.maturity_cursor
            state.tenure = tenure_stage(start, cursor, ctx.policy)
            self._fx.stage_changed()
            upcoming = next_recurring(start, cursor, ctx.policy)
            for due in upcoming:
                r = state.recurring_item(due.key)
                if r is not None:
                    r.next_due_at = due.due_at
                    r.next_due_day = round(ctx.clock.day_of(due.due_at), 2)
            times = [d.due_at for d in upcoming]
            if state.tenure.next_stage_at is not None:
                times.append(state.tenure.next_stage_at)
            if not times:
                return
            at = min(times)
            falling = [d for d in upcoming if d.due_at == at]
            summary = prose.maturity_wait([d.title for d in falling], state.tenure.next_stage)
            if not await ctx.sleep_until(ctx.clock.day_of(at), summary):
                return
            for d in falling:
                await self._recurring_due(d.key, d.occurrence, at)
            if at == state.tenure.next_stage_at:
                reached = tenure_stage(start, at, ctx.policy)
                await self._fx.record("tenure_stage", reached.stage, prose.tenure_reached(reached))
            state.maturity_cursor = at

    async def _recurring_due(self, key: str, occurrence: int, at: datetime) -> None:
        r = self._ctx.state.recurring_item(key)
        if r is None:
            raise ApplicationError(
                f"recurring item '{key}' is due but not in the journey's state",
                type="InvariantBroken",
                non_retryable=True,
            )
        missed = r.occurrence if r.occurrence and r.occurrence not in r.done_occurrences else None
        r.occurrence = occurrence
        r.due_day = round(self._ctx.clock.day_of(at), 2)
        await self._fx.record(
            "recurring_due",
            f"{key}#{occurrence}",
            prose.recurring_due(r, occurrence),
            {"occurrence": occurrence, "every_days": r.every_days},
        )
        if missed is not None:
            await self._plays.trigger(MilestoneOverdueEvent(milestone=key, occurrence=missed))
