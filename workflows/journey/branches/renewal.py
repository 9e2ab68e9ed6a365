"""Renewal: a trigger at each of the policy's checkpoints before the contract ends, planned
again whenever the contract is renewed."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.journey import prose
    from workflows.journey.context import JourneyContext
    from workflows.journey.effects import Effects
    from workflows.journey.messages import RenewContract
    from workflows.journey.plays import Plays
    from workflows.rules import RenewalDueEvent, renewal_checkpoints


class Renewal:
    def __init__(self, ctx: JourneyContext, fx: Effects, plays: Plays) -> None:
        self._ctx = ctx
        self._fx = fx
        self._plays = plays
        # Counts renewals in this run: a checkpoint's wait ends when it moves.
        self._renewals = 0

    async def run(self) -> None:
        ctx, state = self._ctx, self._ctx.state
        while state.ended is None and state.contract_end is not None:
            end = state.contract_end
            pending = [
                c
                for c in renewal_checkpoints(end, ctx.policy)
                if f"{end}:{c.days_before:g}" not in state.renewal_checkpoints_fired
            ]
            c = pending[0] if pending else None
            state.next_renewal_day = round(ctx.clock.day_of(c.at), 2) if c else None
            summary = prose.renewal_due(c.days_before) if c else ""
            if not await self._timer(state.next_renewal_day, summary) or c is None:
                # Renewed (plan again) or ended. (With no checkpoint left the timer only
                # returns on one of those.)
                continue
            state.renewal_checkpoints_fired.append(f"{end}:{c.days_before:g}")
            await self._plays.trigger(RenewalDueEvent(contract_end=end, days_before=c.days_before))

    async def _timer(self, day: float | None, summary: str) -> bool:
        """Wait for a renewal checkpoint; False if the contract changed or the journey ended."""
        ctx, seen = self._ctx, self._renewals

        def moved() -> bool:
            return ctx.ended or self._renewals != seen

        if day is None:
            await workflow.wait_condition(moved)
            return False
        try:
            await workflow.wait_condition(
                moved,
                timeout=timedelta(seconds=ctx.clock.seconds_until(day, workflow.now())),
                timeout_summary=summary,
            )
        except TimeoutError:
            return True
        return False

    async def renew(self, renewal: RenewContract) -> None:
        state = self._ctx.state
        was = state.contract_end
        state.contract_end = renewal.contract_end
        self._renewals += 1
        self._fx.renewal_changed(renewal.contract_end)
        await self._fx.record(
            "contract_renewed",
            renewal.contract_end.isoformat(),
            prose.contract_renewed(renewal.contract_end, was),
        )

    def refuse(self, renewal: RenewContract) -> None:
        """Raise why `renewal` cannot be applied: its end is not in the future."""
        today = self._ctx.clock.today(workflow.now())
        if renewal.contract_end <= today:
            raise ApplicationError(
                f"contract_end {renewal.contract_end} is not in the future (journey date {today})",
                type="RenewalInPast",
            )
