"""Effects of plays: play rows, tasks and outbox messages, each written once.

Every insert is `ON CONFLICT DO NOTHING` on a key the workflow derives from the play id and
step, and returns the row that exists afterwards, so a retry hands back the first write.
"""

from __future__ import annotations

import json

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
from activities.store import insert_timeline

log = structlog.get_logger(__name__)

TASK_COLUMNS = """id, idempotency_key, play_id, account_id, step, title, assignee_role, csm,
    due_at, due_real_at, escalation_of, status, created_at, closed_at, closed_by"""


class PlayActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="record_play_started")
    async def record_play_started(self, play: PlayStarted) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO plays (play_id, run_id, account_id, play, cause, title, why,
                                      why_record, started_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)
                   ON CONFLICT (play_id, run_id) DO NOTHING""",
                play.play_id,
                play.run_id,
                play.account_id,
                play.play,
                play.cause,
                play.title,
                play.why,
                json.dumps(play.why_record),
                play.started_at,
            )
            if play.timeline is not None:
                await insert_timeline(conn, play.timeline)

    @activity.defn(name="record_play_finished")
    async def record_play_finished(self, end: PlayFinished) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """UPDATE plays SET status = $3, outcome = $4, ended_at = $5
                    WHERE play_id = $1 AND run_id = $2 AND ended_at IS NULL""",
                end.play_id,
                end.run_id,
                end.status,
                end.outcome,
                end.ended_at,
            )
            if end.timeline is not None:
                await insert_timeline(conn, end.timeline)

    @activity.defn(name="create_task")
    async def create_task(self, spec: TaskSpec) -> TaskRow:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO tasks (idempotency_key, play_id, account_id, step, title,
                                      assignee_role, csm, due_at, due_real_at, escalation_of)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                   ON CONFLICT (idempotency_key) DO NOTHING""",
                spec.idempotency_key,
                spec.play_id,
                spec.account_id,
                spec.step,
                spec.title,
                spec.assignee_role,
                spec.csm,
                spec.due_at,
                spec.due_real_at,
                spec.escalation_of,
            )
            row = await conn.fetchrow(
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE idempotency_key = $1",
                spec.idempotency_key,
            )
        assert row is not None
        task = TaskRow.model_validate(dict(row))
        log.info("task created", account_id=spec.account_id, play_id=spec.play_id, task_id=task.id)
        return task

    @activity.defn(name="close_task")
    async def close_task(self, close: TaskClose) -> bool:
        """Close an open task; False if it was closed already (by this or an earlier try)."""
        async with self._pool.acquire() as conn, conn.transaction():
            closed = await conn.fetchval(
                """UPDATE tasks SET status = $2, closed_at = now(), closed_by = $3
                    WHERE id = $1 AND status = 'open' RETURNING id""",
                close.task_id,
                close.status,
                close.by,
            )
        return closed is not None

    @activity.defn(name="close_tasks")
    async def close_tasks(self, close: TasksClose) -> int:
        """Close those of the tasks still open in one statement; how many this call closed."""
        async with self._pool.acquire() as conn, conn.transaction():
            closed = await conn.fetch(
                """UPDATE tasks SET status = $2, closed_at = now(), closed_by = $3
                    WHERE id = ANY($1::bigint[]) AND status = 'open' RETURNING id""",
                close.task_ids,
                close.status,
                close.by,
            )
        return len(closed)

    @activity.defn(name="queue_message")
    async def queue_message(self, message: OutboxMessage) -> int:
        """Put a message in the outbox for the relay to deliver; returns its id."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO outbox (idempotency_key, play_id, account_id, recipient, subject,
                                       body)
                   VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (idempotency_key) DO NOTHING""",
                message.idempotency_key,
                message.play_id,
                message.account_id,
                message.recipient,
                message.subject,
                message.body,
            )
            message_id = await conn.fetchval(
                "SELECT id FROM outbox WHERE idempotency_key = $1", message.idempotency_key
            )
        return int(message_id)


async def fetch_task(pool: asyncpg.Pool, task_id: int) -> TaskRow | None:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1", task_id)
    return TaskRow.model_validate(dict(row)) if row else None


async def list_tasks(
    pool: asyncpg.Pool,
    *,
    account_id: str | None = None,
    csm: str | None = None,
    status: str | None = "open",
    overdue: bool = False,
) -> list[TaskRow]:
    clauses, args = [], []
    for column, value in (("account_id", account_id), ("csm", csm), ("status", status)):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
    if overdue:
        clauses.append("status = 'open' AND due_real_at < now()")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {TASK_COLUMNS} FROM tasks {where} ORDER BY due_real_at, id", *args
        )
    return [TaskRow.model_validate(dict(r)) for r in rows]
