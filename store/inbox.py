"""The inbox's SQL: `inbox_events` (one row per accepted event), `inbox_rejects` (signed bodies
that could not be read) and `crm_links` (which CRM object belongs to which account).

Plain values in, plain rows out: what the rows mean (statuses, backoffs, HubSpot links) is
`starter.ingress.inbox`'s business. Functions that take a connection run inside the caller's
transaction, so the caller decides what is written together (and how long a claim is held).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from store.conn import Connection


@dataclass(frozen=True)
class StoredEvent:
    """An inbox row as `insert_event` left it; `duplicate` when it was there already."""

    id: int
    status: str
    last_error: str | None
    duplicate: bool


@dataclass(frozen=True)
class ClaimedEvent:
    """An open row claimed for delivery (locked until the claiming transaction ends)."""

    id: int
    source: str
    event_id: str
    account_id: str | None
    ref_type: str | None
    ref_id: str | None
    kind: str | None
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Waiting:
    """Events of one status still to deliver, and how long the oldest of them has waited."""

    count: int
    oldest_seconds: float


@dataclass(frozen=True)
class LinkRow:
    object_type: str
    object_id: str
    account_id: str | None
    company_id: str | None
    contact_id: str | None
    persona: str | None


async def insert_event(
    conn: Connection,
    *,
    source: str,
    event_id: str,
    account_id: str | None,
    ref_type: str | None,
    ref_id: str | None,
    kind: str | None,
    payload: dict[str, Any],
    raw: Any,
    status: str,
    last_error: str | None,
    occurred_at: datetime,
) -> StoredEvent:
    """Insert once per (source, event id); a second insert returns the row that is there."""
    row = await conn.fetchrow(
        """INSERT INTO inbox_events
               (source, event_id, account_id, ref_type, ref_id, kind, payload, raw,
                status, last_error, occurred_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11)
           ON CONFLICT (source, event_id) DO NOTHING
           RETURNING id, status, last_error""",
        source,
        event_id,
        account_id,
        ref_type,
        ref_id,
        kind,
        json.dumps(payload),
        json.dumps(raw),
        status,
        last_error,
        occurred_at,
    )
    duplicate = row is None
    if row is None:
        row = await conn.fetchrow(
            """SELECT id, status, last_error FROM inbox_events
                WHERE source = $1 AND event_id = $2""",
            source,
            event_id,
        )
        if row is None:  # it conflicted, so only a concurrent delete could get here
            raise LookupError(f"inbox event {source}/{event_id} conflicted but is not there")
    return StoredEvent(row["id"], row["status"], row["last_error"], duplicate)


async def insert_reject(
    pool: asyncpg.Pool,
    *,
    source: str,
    error: str,
    detail: str,
    fields: list[dict[str, str]],
    body: bytes,
) -> None:
    detail = detail.replace("\x00", "\\u0000")  # Postgres text holds no NUL
    fields = [{k: v.replace("\x00", "\\u0000") for k, v in f.items()} for f in fields]
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO inbox_rejects (source, error, detail, fields, body)
               VALUES ($1, $2, $3, $4::jsonb, $5)""",
            source,
            error,
            detail,
            json.dumps(fields),
            body,
        )


async def claim_open(
    conn: Connection,
    *,
    ids: Sequence[int] | None = None,
    account_ids: Sequence[str] | None = None,
    unresolved: bool = False,
    limit: int = 100,
    ignore_backoff: bool = False,
) -> list[ClaimedEvent]:
    """Pending and parked rows, oldest event first, that no other transaction holds.

    `FOR UPDATE SKIP LOCKED`: two relays never claim the same row; each takes what is free.
    With `unresolved`, `account_ids` also matches rows whose account is not known yet.
    """
    conds = ["status IN ('pending', 'parked')"]
    params: list[Any] = []
    if not ignore_backoff:
        conds.append("next_attempt_at <= now()")
    if ids is not None:
        params.append(list(ids))
        conds.append(f"id = ANY(${len(params)}::bigint[])")
    if account_ids is not None:
        params.append(list(account_ids))
        cond = f"account_id = ANY(${len(params)}::text[])"
        conds.append(f"({cond} OR account_id IS NULL)" if unresolved else cond)
    params.append(limit)
    query = f"""SELECT id, source, event_id, account_id, ref_type, ref_id, kind, payload,
                       attempts
                  FROM inbox_events
                 WHERE {" AND ".join(conds)}
                 ORDER BY occurred_at, id
                 LIMIT ${len(params)}
                 FOR UPDATE SKIP LOCKED"""
    return [
        ClaimedEvent(
            id=r["id"],
            source=r["source"],
            event_id=r["event_id"],
            account_id=r["account_id"],
            ref_type=r["ref_type"],
            ref_id=r["ref_id"],
            kind=r["kind"],
            payload=json.loads(r["payload"]),
            attempts=r["attempts"],
        )
        for r in await conn.fetch(query, *params)
    ]


async def settle_event(
    conn: Connection,
    row_id: int,
    *,
    status: str,
    attempts: int,
    last_error: str | None,
    account_id: str | None,
    retry_in: float,
) -> None:
    """What became of a claimed row; `retry_in` seconds until it is due again."""
    await conn.execute(
        """UPDATE inbox_events
              SET status = $2, attempts = $3, last_error = $4, account_id = $5,
                  next_attempt_at = now() + make_interval(secs => $6),
                  delivered_at = CASE WHEN $2 = 'delivered' THEN now() END
            WHERE id = $1""",
        row_id,
        status,
        attempts,
        last_error,
        account_id,
        retry_in,
    )


async def link_company(conn: Connection, source: str, company_id: str, account_id: str) -> None:
    await conn.execute(
        """INSERT INTO crm_links (source, object_type, object_id, account_id)
           VALUES ($1, 'company', $2, $3)
           ON CONFLICT (source, object_type, object_id)
           DO UPDATE SET account_id = EXCLUDED.account_id, updated_at = now()""",
        source,
        company_id,
        account_id,
    )


async def link_contact(
    conn: Connection,
    source: str,
    object_id: str,
    *,
    company_id: str,
    contact_id: str,
    persona: str | None,
) -> None:
    await conn.execute(
        """INSERT INTO crm_links
               (source, object_type, object_id, company_id, contact_id, persona)
           VALUES ($1, 'contact', $2, $3, $4, $5)
           ON CONFLICT (source, object_type, object_id)
           DO UPDATE SET company_id = EXCLUDED.company_id,
                         contact_id = EXCLUDED.contact_id,
                         persona = EXCLUDED.persona, updated_at = now()""",
        source,
        object_id,
        company_id,
        contact_id,
        persona,
    )


async def learn_link(
    conn: Connection,
    source: str,
    object_type: str,
    object_id: str,
    *,
    company_id: str | None,
    persona: str | None,
) -> None:
    """What a webhook taught about an object; a value it did not carry keeps the known one."""
    await conn.execute(
        """INSERT INTO crm_links (source, object_type, object_id, company_id, persona)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (source, object_type, object_id) DO UPDATE SET
               company_id = COALESCE(EXCLUDED.company_id, crm_links.company_id),
               persona = COALESCE(EXCLUDED.persona, crm_links.persona),
               updated_at = now()""",
        source,
        object_type,
        object_id,
        company_id,
        persona,
    )


async def links_around(
    conn: Connection, source: str, object_type: str, object_id: str
) -> list[LinkRow]:
    """The object's own link and its company's."""
    rows = await conn.fetch(
        """SELECT object_type, object_id, account_id, company_id, contact_id, persona
             FROM crm_links
            WHERE source = $1
              AND ((object_type = $2 AND object_id = $3)
                   OR (object_type = 'company' AND object_id = (
                         SELECT company_id FROM crm_links
                          WHERE source = $1 AND object_type = $2 AND object_id = $3)))""",
        source,
        object_type,
        object_id,
    )
    return [
        LinkRow(
            object_type=r["object_type"],
            object_id=r["object_id"],
            account_id=r["account_id"],
            company_id=r["company_id"],
            contact_id=r["contact_id"],
            persona=r["persona"],
        )
        for r in rows
    ]


async def waiting(conn: Connection) -> dict[str, Waiting]:
    """Events still to deliver, by status (pending, parked); a status with none is absent."""
    rows = await conn.fetch(
        """SELECT status, count(*) AS n,
                  EXTRACT(EPOCH FROM now() - min(received_at)) AS oldest
             FROM inbox_events WHERE status IN ('pending', 'parked') GROUP BY status"""
    )
    return {r["status"]: Waiting(r["n"], float(r["oldest"])) for r in rows}
