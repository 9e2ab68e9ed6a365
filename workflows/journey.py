"""CustomerJourney: one long-running workflow per customer account.

It orchestrates; the policy's pure rules decide. Every duration is policy days × the journey's
`day_seconds`, so the same code runs a three-year journey in production and in seconds in tests.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.models import TimelineEntry
    from activities.store import StoreActivities
    from workflows import attributes
    from workflows.messages import (
        EndJourney,
        JourneyEnded,
        JourneyInput,
        JourneyState,
        MilestoneDone,
        MilestoneState,
    )
    from workflows.onboarding import journey_day, plan_milestones, stage_of
    from workflows.rules import select_track

WORKFLOW_NAME = "CustomerJourney"

# Postgres hiccups are worth retrying for a while; a journey must not fail because of one.
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["InvalidTimelineEntry"],
)


def journey_id(account_id: str) -> str:
    return f"journey-{account_id}"


@workflow.defn(name=WORKFLOW_NAME)
class CustomerJourney:
    @workflow.init
    def __init__(self, start: JourneyInput) -> None:
        self._input = start
        choice = select_track(start.account, start.policy)
        self._track = choice.track
        now = workflow.now()
        account = start.account
        self._state = JourneyState(
            account_id=account.account_id,
            segment=account.segment,
            tier=account.tier,
            csm=account.csm,
            policy_name=start.policy.name,
            policy_version=start.policy.version,
            track=choice.track.key,
            track_reason=choice.reason,
            touch=choice.track.touch,
            day_seconds=start.day_seconds,
            started_at=now,
            milestones=plan_milestones(choice.track, now, start.day_seconds),
        )
        # The first run id of the chain names this journey's effects in Postgres, so a
        # retried activity writes once while a later journey for the same account writes anew.
        self._chain = workflow.info().first_execution_run_id

    @workflow.run
    async def run(self, start: JourneyInput) -> JourneyState:
        state = self._state
        self._upsert_attributes()
        await self._record(
            "journey_started",
            None,
            f"Journey started on track '{state.track}' ({state.track_reason})",
            {"track": state.track, "policy": state.policy_name, "version": state.policy_version},
        )
        watchers = [asyncio.create_task(self._watch_milestone(m)) for m in state.milestones]
        self._describe_wait()
        await workflow.wait_condition(lambda: state.ended is not None)
        await asyncio.gather(*watchers)
        # Let an in-flight update (end_journey itself, a late complete_milestone) finish.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._snapshot()

    async def _watch_milestone(self, m: MilestoneState) -> None:
        remaining = max((m.due_at - workflow.now()).total_seconds(), 0.0)
        try:
            await workflow.wait_condition(
                lambda: m.status != "pending" or self._state.ended is not None,
                timeout=timedelta(seconds=remaining),
                timeout_summary=f"{m.title} due (day {m.due_day:g})",
            )
        except TimeoutError:
            m.status = "overdue"
            self._stage_changed()
            self._describe_wait()
            await self._record(
                "milestone_overdue",
                m.key,
                f"{m.title} overdue (due day {m.due_day:g}, owner {m.owner})",
                {"due_day": m.due_day, "owner": m.owner},
            )

    @workflow.update(name="complete_milestone")
    async def complete_milestone(self, done: MilestoneDone) -> MilestoneState:
        m = self._state.milestone(done.key)
        assert m is not None  # the validator refused unknown keys
        if m.status == "done":
            return m  # the same completion reported twice changes nothing
        now = workflow.now()
        m.late = m.status == "overdue"
        m.status = "done"
        m.done_at = now
        m.done_day = journey_day(self._state.started_at, now, self._state.day_seconds)
        self._stage_changed()
        self._describe_wait()
        late = f", {m.done_day - m.due_day:g} days late" if m.late else ""
        await self._record(
            "milestone_done",
            m.key,
            f"{m.title} done on day {m.done_day:g}{late}" + (f" by {done.by}" if done.by else ""),
            {"done_day": m.done_day, "due_day": m.due_day, "late": m.late, "by": done.by},
        )
        return m

    @complete_milestone.validator
    def _validate_complete_milestone(self, done: MilestoneDone) -> None:
        if self._state.ended is not None:
            raise ApplicationError(
                f"journey for {self._state.account_id} has ended", type="JourneyEnded"
            )
        if self._state.milestone(done.key) is None:
            known = ", ".join(m.key for m in self._state.milestones)
            raise ApplicationError(
                f"unknown milestone '{done.key}' on track '{self._state.track}' (known: {known})",
                type="UnknownMilestone",
            )

    @workflow.update(name="end_journey")
    async def end_journey(self, end: EndJourney) -> JourneyState:
        if self._state.ended is None:
            self._state.ended = JourneyEnded(
                outcome=end.outcome, reason=end.reason, at=workflow.now()
            )
            self._stage_changed()
            workflow.set_current_details(f"Journey {end.outcome}: {end.reason}")
            await self._record("journey_ended", end.outcome, f"Journey {end.outcome}: {end.reason}")
        return self._snapshot()

    @workflow.query(name="state")
    def state(self) -> JourneyState:
        return self._snapshot()

    def _snapshot(self) -> JourneyState:
        s = self._state
        return s.model_copy(
            update={"journey_day": journey_day(s.started_at, workflow.now(), s.day_seconds)},
            deep=True,
        )

    def _stage_changed(self) -> None:
        stage = stage_of(self._state)
        if stage != self._state.stage:
            self._state.stage = stage
            workflow.upsert_search_attributes([attributes.STAGE.value_set(stage)])

    def _upsert_attributes(self) -> None:
        account = self._input.account
        renewal = datetime.combine(account.contract_end, datetime.min.time()).replace(
            tzinfo=workflow.now().tzinfo
        )
        workflow.upsert_search_attributes(
            [
                attributes.SEGMENT.value_set(account.segment),
                attributes.TIER.value_set(account.tier),
                attributes.STAGE.value_set(self._state.stage),
                attributes.CSM.value_set(account.csm),
                attributes.RENEWAL_DATE.value_set(renewal),
                attributes.OPEN_PLAYS.value_set(0),
            ]
        )

    def _describe_wait(self) -> None:
        """The Temporal UI's 'current details': what this journey is waiting for."""
        pending = [m for m in self._state.milestones if m.status == "pending"]
        if pending:
            nxt = min(pending, key=lambda m: m.due_at)
            workflow.set_current_details(
                f"Onboarding ({self._state.track}): waiting for {nxt.title} "
                f"(due day {nxt.due_day:g}); {len(pending)} milestone(s) open"
            )
        else:
            workflow.set_current_details("Onboarding finished; journey continues")

    async def _record(
        self,
        kind: str,
        subject: str | None,
        summary: str,
        details: dict[str, object] | None = None,
    ) -> None:
        info = workflow.info()
        entry = TimelineEntry(
            idempotency_key=f"{info.workflow_id}/{self._chain}/{kind}/{subject or '-'}",
            account_id=self._state.account_id,
            workflow_id=info.workflow_id,
            kind=kind,
            subject=subject,
            summary=summary,
            details=details or {},
            occurred_at=workflow.now(),
        )
        await workflow.execute_activity_method(
            StoreActivities.record_timeline,
            entry,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=STORE_RETRY,
            summary=f"Timeline: {summary}"[:200],
        )
