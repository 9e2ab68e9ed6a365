"""Effects of plays: play rows, tasks and outbox messages, each written once.

Every write is keyed by something the workflow derives from the play id and step, and hands
back the row that exists afterwards, so a retry returns the first write (see store/).
"""

from __future__ import annotations

import asyncpg
import structlog
from temporalio import activity

from activities.models import (
    OutboxMessage,
    PlayFinished,
    PlayStarted,
    TaskClose,
    TaskRow,
    TasksClose,
    TaskSpec,
)
from store import outbox, plays, tasks

log = structlog.get_logger(__name__)


class PlayActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="record_play_started")
    async def record_play_started(self, play: PlayStarted) -> None:
        await plays.record_started(self._pool, play)

    @activity.defn(name="record_play_finished")
    async def record_play_finished(self, end: PlayFinished) -> None:
        await plays.record_finished(self._pool, end)

    @activity.defn(name="create_task")
    async def create_task(self, spec: TaskSpec) -> TaskRow:
        task = await tasks.create_task(self._pool, spec)
        log.info("task created", account_id=spec.account_id, play_id=spec.play_id, task_id=task.id)
        return task

    @activity.defn(name="close_task")
    async def close_task(self, close: TaskClose) -> bool:
        """Close an open task; False if it was closed already (by this or an earlier try)."""
        return await tasks.close_task(self._pool, close.task_id, close.status, close.by)

    @activity.defn(name="close_tasks")
    async def close_tasks(self, close: TasksClose) -> int:
        """Close those of the tasks still open in one statement; how many this call closed."""
        return await tasks.close_tasks(self._pool, close.task_ids, close.status, close.by)

    @activity.defn(name="queue_message")
    async def queue_message(self, message: OutboxMessage) -> int:
        """Put a message in the outbox for the relay to deliver; returns its id."""
        return await outbox.enqueue(self._pool, message)
