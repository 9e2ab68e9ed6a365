"""Onboarding: each milestone and rollout stage watched until done or overdue, their
completion, recurring items done, and rollout stages added while onboarding runs."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.journey import prose
    from workflows.journey.context import JourneyContext
    from workflows.journey.effects import Effects
    from workflows.journey.messages import AddRolloutStage, MilestoneDone
    from workflows.journey.onboarding import blocked_by, onboarding_end_day, stage_of
    from workflows.journey.plays import Plays
    from workflows.journey.state import Completed, MilestoneState, RecurringState
    from workflows.rules import MilestoneOverdueEvent


def completed(m: MilestoneState) -> Completed:
    return Completed(
        key=m.key, title=m.title, kind=m.kind, status=m.status, done_day=m.done_day, late=m.late
    )


class Onboarding:
    def __init__(self, ctx: JourneyContext, fx: Effects, plays: Plays) -> None:
        self._ctx = ctx
        self._fx = fx
        self._plays = plays
        # Watchers of rollout stages added by update; kept so they are not collected mid-wait.
        self._spawned: set[asyncio.Task[None]] = set()

    def watchers(self) -> list[Coroutine[Any, Any, None]]:
        """A watcher per open milestone (rollout stages only on journeys that fork)."""
        ctx = self._ctx
        return [
            self.watch(m)
            for m in ctx.state.milestones
            if m.status == "pending" and (m.kind == "milestone" or ctx.forking)
        ]

    async def watch(self, m: MilestoneState) -> None:
        ctx = self._ctx
        try:
            await workflow.wait_condition(
                lambda: m.status != "pending" or ctx.ended,
                timeout=timedelta(seconds=ctx.clock.seconds_until(m.due_day, workflow.now())),
                timeout_summary=prose.milestone_due(m),
            )
        except TimeoutError:
            m.status = "overdue"
            waiting_on = blocked_by(ctx.state, m)
            self._fx.stage_changed()
            self._fx.describe_wait()
            await self._fx.record(
                "milestone_overdue",
                m.key,
                prose.milestone_overdue(m, waiting_on),
                {"due_day": m.due_day, "owner": m.owner, "blocked_by": waiting_on},
            )
            if ctx.forking:
                await self._plays.trigger(MilestoneOverdueEvent(milestone=m.key))

    async def complete(self, done: MilestoneDone) -> Completed:
        ctx = self._ctx
        recurring = ctx.state.recurring_item(done.key)
        if recurring is not None:
            return await self._complete_recurring(recurring, done)
        m = ctx.state.milestone(done.key)
        if m is None:
            raise ApplicationError(
                f"no milestone '{done.key}', yet the validator let it through",
                type="InvariantBroken",
                non_retryable=True,
            )
        if m.status == "done":
            return completed(m)  # the same completion reported twice changes nothing
        now = workflow.now()
        m.late = m.status == "overdue"
        m.status = "done"
        m.done_at = ctx.clock.at(now) if ctx.forking else now
        m.done_day = day = round(ctx.clock.day(now), 2)
        self._fx.stage_changed()
        self._fx.describe_wait()
        await self._fx.record(
            "milestone_done",
            m.key,
            prose.milestone_done(m, day, done.by),
            {"done_day": day, "due_day": m.due_day, "late": m.late, "by": done.by},
        )
        await self._plays.tell()
        return completed(m)

    async def _complete_recurring(self, r: RecurringState, done: MilestoneDone) -> Completed:
        day = self._ctx.day()
        result = Completed(
            key=r.key,
            title=r.title,
            kind="recurring",
            status="done",
            done_day=day,
            occurrence=r.occurrence,
        )
        if r.occurrence in r.done_occurrences:
            return result
        r.done_occurrences.append(r.occurrence)
        await self._fx.record(
            "recurring_done",
            f"{r.key}#{r.occurrence}",
            prose.recurring_done(r, day, done.by),
            {"occurrence": r.occurrence, "day": day, "by": done.by},
        )
        await self._plays.tell()
        return result

    def refuse_completion(self, done: MilestoneDone) -> None:
        """Raise why `done` cannot be applied: not due, unknown, or blocked."""
        state = self._ctx.state
        r = state.recurring_item(done.key)
        if r is not None:
            if r.occurrence == 0:
                raise ApplicationError(
                    f"'{done.key}' is not due yet (first due on day {r.next_due_day or '?'})",
                    type="NotDueYet",
                )
            return
        m = state.milestone(done.key)
        if m is None:
            known = ", ".join([x.key for x in state.milestones] + [x.key for x in state.recurring])
            raise ApplicationError(
                f"unknown milestone '{done.key}' on track '{state.track}' (known: {known})",
                type="UnknownMilestone",
            )
        if m.status != "done" and (waiting := blocked_by(state, m)):
            raise ApplicationError(
                f"'{m.key}' comes after {', '.join(waiting)}, not done yet: complete "
                f"{'that' if len(waiting) == 1 else 'those'} first",
                type="MilestoneBlocked",
            )

    async def add_stage(self, stage: AddRolloutStage) -> None:
        ctx = self._ctx
        before = onboarding_end_day(ctx.state)
        m = MilestoneState(
            key=stage.key,
            title=stage.title,
            owner="customer",
            kind="rollout_stage",
            due_day=stage.due_days,
            due_at=ctx.clock.time_of(stage.due_days),
        )
        ctx.state.milestones.append(m)
        task = asyncio.create_task(self.watch(m))
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)
        self._fx.stage_changed()
        self._fx.describe_wait()
        after = onboarding_end_day(ctx.state)
        await self._fx.record(
            "rollout_stage_added",
            stage.key,
            prose.rollout_stage_added(stage.title, stage.due_days, before, after),
            {"due_day": stage.due_days, "seats": stage.seats, "end_was": before, "end_now": after},
        )

    def refuse_stage(self, stage: AddRolloutStage) -> None:
        """Raise why `stage` cannot be added: a duplicate, too late, or in the past."""
        ctx = self._ctx
        if ctx.state.milestone(stage.key) or ctx.state.recurring_item(stage.key):
            raise ApplicationError(
                f"'{stage.key}' already exists on this journey", type="Duplicate"
            )
        if stage_of(ctx.state) != "onboarding":
            raise ApplicationError(
                "onboarding has finished; a rollout stage can only be added while it runs",
                type="OnboardingFinished",
            )
        today = ctx.clock.day(workflow.now())
        if stage.due_days < today:
            raise ApplicationError(
                f"due_days {stage.due_days:g} is already past (today is day {today:.1f})",
                type="InPast",
            )
