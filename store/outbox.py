"""`outbox`: messages plays queue, and the relay's claim on them.

A message is queued once (by its idempotency key). The relay claims pending rows with
`FOR UPDATE SKIP LOCKED` inside its own transaction, so several relays never hand over the
same row at once; it marks each row sent, or counts the failed attempt, in that transaction.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from activities.models import OutboxMessage
from store.conn import Connection


class Outgoing(OutboxMessage):
    """An outbox row as the relay delivers it."""

    id: int


async def enqueue(pool: asyncpg.Pool, message: OutboxMessage) -> int:
    """Put a message in the outbox (once); returns its id."""
    async with pool.acquire() as conn, conn.transaction():
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


async def claim_pending(conn: Connection, batch: int) -> list[Outgoing]:
    """Up to `batch` pending messages, oldest first, locked until the caller's transaction
    ends (rows another relay holds are skipped, not waited for)."""
    rows = await conn.fetch(
        """SELECT id, idempotency_key, play_id, account_id, recipient, subject, body
             FROM outbox WHERE status = 'pending'
            ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""",
        batch,
    )
    return [Outgoing.model_validate(dict(row)) for row in rows]


async def mark_sent(conn: Connection, message_id: int) -> None:
    await conn.execute(
        "UPDATE outbox SET status = 'sent', sent_at = now(), attempts = attempts + 1 WHERE id = $1",
        message_id,
    )


async def mark_failed_attempt(
    conn: Connection, message_id: int, error: str, max_attempts: int
) -> None:
    """Count a failed delivery; the message stays pending until `max_attempts`, then fails."""
    await conn.execute(
        """UPDATE outbox SET attempts = attempts + 1, last_error = $2,
                  status = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE status END
            WHERE id = $1""",
        message_id,
        error[:500],
        max_attempts,
    )


async def count_sent(pool: asyncpg.Pool, account_ids: list[str], since: datetime) -> int:
    """Messages to the accounts queued since `since` and delivered."""
    async with pool.acquire() as conn:
        n = await conn.fetchval(
            """SELECT count(*) FROM outbox
                WHERE status = 'sent' AND account_id = ANY($1) AND created_at >= $2""",
            account_ids,
            since,
        )
    return int(n)


async def undelivered(conn: Connection) -> dict[str, int]:
    """Messages not delivered, by status (pending, failed); a status with none is absent."""
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM outbox "
        "WHERE status IN ('pending', 'failed') GROUP BY status"
    )
    return {r["status"]: r["n"] for r in rows}
