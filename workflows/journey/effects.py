"""A journey's effects on the world outside its state: timeline rows, signals to its plays,
search attributes and the Temporal UI's current details, with a count of those under way.

Runs in the workflow (it calls `workflow.*`); what it writes comes from `prose`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.models import TimelineEntry
    from activities.store import StoreActivities
    from workflows import attributes
    from workflows.clock import midnight
    from workflows.journey import prose
    from workflows.journey.context import JourneyContext
    from workflows.journey.onboarding import stage_of

# Postgres hiccups are worth retrying for a while; a journey must not fail because of one.
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["InvalidTimelineEntry"],
)


class Effects:
    def __init__(self, ctx: JourneyContext) -> None:
        self._ctx = ctx
        # Effects under way (timeline writes, play starts, signals to plays): continue-as-new
        # waits for them, since the new run only knows what the carried state says.
        self.in_flight = 0

    @contextmanager
    def under_way(self) -> Iterator[None]:
        """Count an effect as under way while the block awaits it."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def record(
        self,
        kind: str,
        subject: str | None,
        summary: str,
        details: dict[str, object] | None = None,
    ) -> None:
        """Write a timeline row, once: its key names the journey, the kind and the subject."""
        ctx, info = self._ctx, workflow.info()
        entry = TimelineEntry(
            idempotency_key=f"{info.workflow_id}/{ctx.chain}/{kind}/{subject or '-'}",
            account_id=ctx.state.account_id,
            workflow_id=info.workflow_id,
            kind=kind,
            subject=subject,
            summary=summary,
            details=details or {},
            occurred_at=ctx.clock.at(workflow.now()) if ctx.forking else workflow.now(),
        )
        with self.under_way():
            await workflow.execute_activity_method(
                StoreActivities.record_timeline,
                entry,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=STORE_RETRY,
                summary=prose.timeline_activity(summary),
            )

    async def signal_play(self, play_id: str, name: str, arg: object) -> None:
        with self.under_way():
            try:
                await workflow.get_external_workflow_handle(play_id).signal(name, arg)
            except FailureError:
                # The play ended and its play_ended signal is on the way; nothing to tell it.
                workflow.logger.info("play gone", extra={"play_id": play_id})

    async def admit(
        self, kind: str, event_id: str, stream: str | None, occurred_at: datetime
    ) -> bool:
        """Apply an external event at most once, and never one older than what it would undo."""
        state = self._ctx.state
        if state.ended is not None:
            return False
        verdict = state.ledger.admit(f"{kind}:{event_id}", stream, occurred_at)
        # A metric, not a command: no patch needed, and nothing is recorded on replay.
        workflow.metric_meter().create_counter(
            "waypost_journey_events", "External events by kind and verdict."
        ).add(1, {"kind": kind, "verdict": verdict})
        if verdict == "stale":
            await self.record(
                "event_stale",
                f"{kind}:{event_id}",
                prose.event_stale(kind, event_id, stream),
                {"occurred_at": occurred_at.isoformat(), "stream": stream},
            )
        return verdict == "apply"

    def stage_changed(self) -> None:
        state = self._ctx.state
        stage = stage_of(state)
        if stage != state.stage:
            state.stage = stage
            workflow.upsert_search_attributes([attributes.STAGE.value_set(stage)])

    def open_plays_changed(self) -> None:
        count = len(self._ctx.state.open_plays)
        workflow.upsert_search_attributes([attributes.OPEN_PLAYS.value_set(count)])

    def health_changed(self, colour: str) -> None:
        workflow.upsert_search_attributes([attributes.HEALTH.value_set(colour)])

    def renewal_changed(self, contract_end: date) -> None:
        workflow.upsert_search_attributes(
            [attributes.RENEWAL_DATE.value_set(midnight(contract_end, workflow.now()))]
        )

    def journey_started(self) -> None:
        """The search attributes a new journey shows from its first moment."""
        account, state = self._ctx.account, self._ctx.state
        workflow.upsert_search_attributes(
            [
                attributes.SEGMENT.value_set(account.segment),
                attributes.TIER.value_set(account.tier),
                attributes.STAGE.value_set(state.stage),
                attributes.CSM.value_set(account.csm),
                attributes.RENEWAL_DATE.value_set(midnight(account.contract_end, workflow.now())),
                attributes.OPEN_PLAYS.value_set(0),
            ]
        )

    def describe_wait(self) -> None:
        """The Temporal UI's 'current details': what this journey is waiting for."""
        workflow.set_current_details(prose.waiting_for(self._ctx.state))
