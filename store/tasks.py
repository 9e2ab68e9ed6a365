"""`tasks`: what plays ask people to do. Each is created once (by its idempotency key) and
closed once (only an open task closes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from activities.models import TaskRow, TaskSpec
from store.conn import Connection

TASK_COLUMNS = """id, idempotency_key, play_id, account_id, step, title, assignee_role, csm,
    due_at, escalation_of, status, created_at, closed_at, closed_by"""


async def create_task(pool: asyncpg.Pool, spec: TaskSpec) -> TaskRow:
    """The task for `spec`, written now or by an earlier try (a retry hands back the first)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO tasks (idempotency_key, play_id, account_id, step, title,
                                  assignee_role, csm, due_at, escalation_of)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (idempotency_key) DO NOTHING""",
            spec.idempotency_key,
            spec.play_id,
            spec.account_id,
            spec.step,
            spec.title,
            spec.assignee_role,
            spec.csm,
            spec.deadline(),
            spec.escalation_of,
        )
        row = await conn.fetchrow(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE idempotency_key = $1",
            spec.idempotency_key,
        )
    assert row is not None
    return TaskRow.model_validate(dict(row))


async def close_task(pool: asyncpg.Pool, task_id: int, status: str, by: str | None) -> bool:
    """Close an open task; False if it was closed already (by this or an earlier try)."""
    async with pool.acquire() as conn, conn.transaction():
        closed = await conn.fetchval(
            """UPDATE tasks SET status = $2, closed_at = now(), closed_by = $3
                WHERE id = $1 AND status = 'open' RETURNING id""",
            task_id,
            status,
            by,
        )
    return closed is not None


async def close_tasks(pool: asyncpg.Pool, task_ids: list[int], status: str, by: str | None) -> int:
    """Close those of the tasks still open in one statement; how many this call closed."""
    async with pool.acquire() as conn, conn.transaction():
        closed = await conn.fetch(
            """UPDATE tasks SET status = $2, closed_at = now(), closed_by = $3
                WHERE id = ANY($1::bigint[]) AND status = 'open' RETURNING id""",
            task_ids,
            status,
            by,
        )
    return len(closed)


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
    """Tasks soonest due first; `overdue` keeps the open ones past their due."""
    clauses, args = [], []
    for column, value in (("account_id", account_id), ("csm", csm), ("status", status)):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
    if overdue:
        clauses.append("status = 'open' AND due_at < now()")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {TASK_COLUMNS} FROM tasks {where} ORDER BY due_at, id", *args
        )
    return [TaskRow.model_validate(dict(r)) for r in rows]


async def count_escalations(pool: asyncpg.Pool, account_ids: list[str], since: datetime) -> int:
    """Escalation tasks (a task past its SLA begets one) created since `since`."""
    async with pool.acquire() as conn:
        n = await conn.fetchval(
            """SELECT count(*) FROM tasks
                WHERE escalation_of IS NOT NULL AND account_id = ANY($1) AND created_at >= $2""",
            account_ids,
            since,
        )
    return int(n)


@dataclass(frozen=True)
class OpenTasks:
    open: int
    overdue: int  # past their due date on the real clock


async def count_open(conn: Connection) -> OpenTasks:
    """Open tasks, and how many of them are overdue."""
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE due_at < now()) AS overdue, count(*) AS open
             FROM tasks WHERE status = 'open'"""
    )
    assert row is not None  # an aggregate without GROUP BY always returns a row
    return OpenTasks(open=row["open"], overdue=row["overdue"])
