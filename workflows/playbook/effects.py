"""A play's effects: each activity it runs, with one retry policy and timeout, and the
timeline rows it writes, keyed so a retry of a run writes nothing twice.

Runs in the workflow (it calls `workflow.*`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.models import TimelineEntry
    from activities.store import StoreActivities
    from workflows.clock import JourneyClock
    from workflows.playbook.messages import PlaybookInput

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")

EFFECT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["InvalidTask"],
)
EFFECT_TIMEOUT = timedelta(seconds=30)
# Activity summaries are cut here: the Temporal UI shows one line.
SUMMARY_LIMIT = 200


class PlayEffects:
    def __init__(self, start: PlaybookInput, clock: JourneyClock) -> None:
        self._in = start
        self._clock = clock

    def key(self) -> str:
        """Names this run's effects: a later run of the same play id (the same cause, after
        its cooldown) writes its own rows, while a retry of this run writes none twice."""
        return f"{self._in.play_id}/{workflow.info().run_id}"

    def entry(self, kind: str, subject: str | None, summary: str) -> TimelineEntry:
        return TimelineEntry(
            idempotency_key=f"{self.key()}/{kind}/{subject or '-'}",
            account_id=self._in.account_id,
            workflow_id=self._in.play_id,
            kind=kind,
            subject=subject,
            summary=summary,
            occurred_at=self._clock.at(workflow.now()),
        )

    async def timeline(self, kind: str, subject: str | None, summary: str) -> None:
        await self.record(self.entry(kind, subject, summary))

    async def record(self, entry: TimelineEntry) -> None:
        await self.run(StoreActivities.record_timeline, entry, f"Timeline: {entry.summary}")

    async def run(
        self, fn: Callable[[Any, ArgT], Awaitable[ResultT]], arg: ArgT, summary: str
    ) -> ResultT:
        return await workflow.execute_activity_method(
            fn,
            arg,
            start_to_close_timeout=EFFECT_TIMEOUT,
            retry_policy=EFFECT_RETRY,
            summary=summary[:SUMMARY_LIMIT],
        )
