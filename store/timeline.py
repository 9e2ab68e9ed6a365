"""`timeline_events`: what happened on an account's journey, each row written once."""

from __future__ import annotations

import json

import asyncpg
import structlog

from activities.models import TimelineEntry, TimelineRow
from store.conn import Connection

log = structlog.get_logger(__name__)


async def record(pool: asyncpg.Pool, entry: TimelineEntry) -> bool:
    """Write one timeline row; True if this call wrote it, False if it was already there."""
    async with pool.acquire() as conn, conn.transaction():
        return await insert_timeline(conn, entry)


async def insert_timeline(conn: Connection, entry: TimelineEntry) -> bool:
    """Write one timeline row in the caller's transaction; False if it was already there."""
    inserted = await conn.fetchval(
        """INSERT INTO timeline_events
               (idempotency_key, account_id, workflow_id, kind, subject, summary,
                details, occurred_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
           ON CONFLICT (idempotency_key) DO NOTHING
           RETURNING id""",
        entry.idempotency_key,
        entry.account_id,
        entry.workflow_id,
        entry.kind,
        entry.subject,
        entry.summary,
        json.dumps(entry.details),
        entry.occurred_at,
    )
    log.info(
        "timeline recorded" if inserted else "timeline already recorded",
        account_id=entry.account_id,
        workflow_id=entry.workflow_id,
        kind=entry.kind,
        key=entry.idempotency_key,
    )
    return inserted is not None


async def fetch_timeline(pool: asyncpg.Pool, account_id: str) -> list[TimelineRow]:
    """An account's timeline, oldest first (for the CLI and API, not an activity)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT id, idempotency_key, account_id, workflow_id, kind, subject, summary,
                      details, occurred_at, recorded_at
                 FROM timeline_events WHERE account_id = $1
                ORDER BY occurred_at, id""",
            account_id,
        )
    return [TimelineRow.model_validate({**r, "details": json.loads(r["details"])}) for r in rows]
