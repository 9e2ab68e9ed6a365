"""The durable inbox: accepted webhook events are written here first, then delivered as signals.

Writing first is what loses nothing: Temporal may be away, the journey may not exist yet, the
API process may die after answering. The relay (`run_relay`, one per API process; any number may
run) claims due rows with `FOR UPDATE SKIP LOCKED`, so two relays never deliver a row at the same
time, and a journey ignores an event id it has seen, so delivering twice after a crash is safe.

Row status: pending → delivered | parked (no journey or no CRM link yet; retried with a long
backoff and at once when the contract is posted) | rejected_closed (the journey ended; never
retried) | failed (cannot become a signal; never retried). Transient errors (Temporal away) keep a
row pending with `attempts`, `last_error` and a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy
from pydantic import ValidationError
from temporalio.client import Client

from starter.ingress.hubspot import Draft, HubSpotMapping, Link, LinkUpdate, ObjectRef, resolve
from starter.journeys import JourneyError, send_event
from workflows.journey.messages import SIGNALS
from workflows.models import Account

log = structlog.get_logger(__name__)

SOURCE_HUBSPOT = "hubspot"
SOURCE_EVENTS = "events"
Conn = asyncpg.Connection | PoolConnectionProxy
# Postgres away or a connection lost mid-query: what callers treat as "could not write".
DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


@dataclass(frozen=True)
class Incoming:
    """One accepted event, ready to be written. `account_id` or `ref` says where it goes."""

    source: str
    event_id: str
    occurred_at: datetime
    raw: Any
    account_id: str | None = None
    ref: ObjectRef | None = None
    kind: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    ignored: str | None = None


@dataclass(frozen=True)
class Recorded:
    id: int
    event_id: str
    account_id: str | None
    kind: str | None
    status: str
    duplicate: bool
    note: str | None


@dataclass(frozen=True)
class Outcome:
    id: int
    event_id: str
    account_id: str | None
    kind: str | None
    status: str
    detail: str | None = None


def transient_backoff(attempts: int) -> float:
    """Seconds before retrying after Temporal was unreachable: 2, 4, … up to 5 minutes."""
    return float(min(2 ** min(attempts, 20), 300))


def parked_backoff(attempts: int) -> float:
    """Seconds before looking again for a journey that did not exist: 30 s up to an hour."""
    return float(min(30 * 2 ** min(attempts, 20), 3600))


async def record(
    pool: asyncpg.Pool, items: Sequence[Incoming], links: Sequence[LinkUpdate] = ()
) -> list[Recorded]:
    """Write the events (and what they teach about CRM links) in one transaction.

    An event already in the inbox (same source and event id) is left as it is and reported as
    a duplicate with its current status.
    """
    out: list[Recorded] = []
    async with pool.acquire() as conn, conn.transaction():
        for update in links:
            await _upsert_link(conn, update)
        for item in items:
            status = "ignored" if item.ignored else "pending"
            row = await conn.fetchrow(
                """INSERT INTO inbox_events
                       (source, event_id, account_id, ref_type, ref_id, kind, payload, raw,
                        status, last_error, occurred_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11)
                   ON CONFLICT (source, event_id) DO NOTHING
                   RETURNING id, status, last_error""",
                item.source,
                item.event_id,
                item.account_id,
                item.ref.object_type if item.ref else None,
                item.ref.object_id if item.ref else None,
                item.kind,
                json.dumps(item.payload),
                json.dumps(item.raw),
                status,
                item.ignored,
                item.occurred_at,
            )
            duplicate = row is None
            if row is None:
                row = await conn.fetchrow(
                    """SELECT id, status, last_error FROM inbox_events
                        WHERE source = $1 AND event_id = $2""",
                    item.source,
                    item.event_id,
                )
                assert row is not None  # it conflicted, so it is there
            out.append(
                Recorded(
                    id=row["id"],
                    event_id=item.event_id,
                    account_id=item.account_id,
                    kind=item.kind,
                    status=row["status"],
                    duplicate=duplicate,
                    note=row["last_error"],
                )
            )
    return out


async def record_reject(
    pool: asyncpg.Pool,
    source: str,
    error: str,
    detail: str,
    fields: list[dict[str, str]],
    body: bytes,
) -> None:
    """Keep a signed request that could not be read, for a human to look at."""
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


async def link_hubspot(
    pool: asyncpg.Pool, account: Account, company_id: str, contacts: dict[str, str]
) -> None:
    """Link a HubSpot company to an account, and HubSpot contacts to the account's contacts."""
    personas = {c.contact_id: c.persona for c in account.contacts}
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO crm_links (source, object_type, object_id, account_id)
               VALUES ($1, 'company', $2, $3)
               ON CONFLICT (source, object_type, object_id)
               DO UPDATE SET account_id = EXCLUDED.account_id, updated_at = now()""",
            SOURCE_HUBSPOT,
            company_id,
            account.account_id,
        )
        for hubspot_id, contact_id in contacts.items():
            await conn.execute(
                """INSERT INTO crm_links
                       (source, object_type, object_id, company_id, contact_id, persona)
                   VALUES ($1, 'contact', $2, $3, $4, $5)
                   ON CONFLICT (source, object_type, object_id)
                   DO UPDATE SET company_id = EXCLUDED.company_id,
                                 contact_id = EXCLUDED.contact_id,
                                 persona = EXCLUDED.persona, updated_at = now()""",
                SOURCE_HUBSPOT,
                hubspot_id,
                company_id,
                contact_id,
                personas.get(contact_id),
            )


async def _upsert_link(conn: Conn, update: LinkUpdate) -> None:
    await conn.execute(
        """INSERT INTO crm_links (source, object_type, object_id, company_id, persona)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (source, object_type, object_id) DO UPDATE SET
               company_id = COALESCE(EXCLUDED.company_id, crm_links.company_id),
               persona = COALESCE(EXCLUDED.persona, crm_links.persona),
               updated_at = now()""",
        SOURCE_HUBSPOT,
        update.ref.object_type,
        update.ref.object_id,
        update.company_id,
        update.persona,
    )


async def _links_for(conn: Conn, ref: ObjectRef) -> dict[ObjectRef, Link]:
    """The object's own link and its company's, for `hubspot.resolve`."""
    rows = await conn.fetch(
        """SELECT object_type, object_id, account_id, company_id, contact_id, persona
             FROM crm_links
            WHERE source = $1
              AND ((object_type = $2 AND object_id = $3)
                   OR (object_type = 'company' AND object_id = (
                         SELECT company_id FROM crm_links
                          WHERE source = $1 AND object_type = $2 AND object_id = $3)))""",
        SOURCE_HUBSPOT,
        ref.object_type,
        ref.object_id,
    )
    return {
        ObjectRef(object_type=r["object_type"], object_id=r["object_id"]): Link(
            account_id=r["account_id"],
            company_id=r["company_id"],
            contact_id=r["contact_id"],
            persona=r["persona"],
        )
        for r in rows
    }


async def deliver(
    pool: asyncpg.Pool,
    client: Client,
    *,
    ids: Sequence[int] | None = None,
    account_ids: Sequence[str] | None = None,
    unresolved: bool = False,
    limit: int = 100,
    ignore_backoff: bool = False,
    send_timeout: float = 5.0,
    mapping: HubSpotMapping | None = None,
) -> list[Outcome]:
    """Claim open rows (oldest event first) and signal them; return what became of each.

    Filters: `ids`, `account_ids` (with `unresolved`, also HubSpot rows whose account is not
    known yet). Stops at the first transient failure: when Temporal is away, one timeout per
    pass is enough to know it, and the rest wait for the next pass.
    """
    mapping = mapping or HubSpotMapping()
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
    outcomes: list[Outcome] = []
    async with pool.acquire() as conn, conn.transaction():
        for row in await conn.fetch(query, *params):
            outcome = await _deliver_row(conn, client, row, send_timeout, mapping)
            outcomes.append(outcome)
            if outcome.status == "pending":
                break
    return outcomes


async def relay_once(
    pool: asyncpg.Pool,
    client: Client,
    *,
    account_ids: Sequence[str] | None = None,
    limit: int = 100,
    ignore_backoff: bool = False,
    send_timeout: float = 5.0,
    mapping: HubSpotMapping | None = None,
) -> int:
    """One relay pass over due rows; the number delivered. Deterministic: tests call it."""
    outcomes = await deliver(
        pool,
        client,
        account_ids=account_ids,
        unresolved=account_ids is not None,
        limit=limit,
        ignore_backoff=ignore_backoff,
        send_timeout=send_timeout,
        mapping=mapping,
    )
    return sum(o.status == "delivered" for o in outcomes)


async def run_relay(
    pool: asyncpg.Pool,
    client: Client,
    *,
    stop: asyncio.Event,
    interval: float = 1.0,
    send_timeout: float = 5.0,
    mapping: HubSpotMapping | None = None,
) -> None:
    """Deliver due rows until `stop` is set; a full batch is followed at once by the next."""
    log.info("inbox relay running", interval=interval)
    while not stop.is_set():
        busy = False
        try:
            outcomes = await deliver(pool, client, send_timeout=send_timeout, mapping=mapping)
            busy = bool(outcomes) and all(o.status != "pending" for o in outcomes)
        except DB_ERRORS as err:
            log.warning("inbox relay could not reach Postgres", error=str(err))
        if not busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    log.info("inbox relay stopped")


async def _deliver_row(
    conn: Conn,
    client: Client,
    row: asyncpg.Record,
    send_timeout: float,
    mapping: HubSpotMapping,
) -> Outcome:
    row_id, event_id, kind = row["id"], row["event_id"], row["kind"]
    account_id: str | None = row["account_id"]
    fields: dict[str, Any] = json.loads(row["payload"])
    attempts = row["attempts"] + 1
    bound = log.bind(inbox_id=row_id, event_id=event_id, kind=kind, source=row["source"])

    async def settle(status: str, detail: str | None, retry_in: float | None = None) -> Outcome:
        await conn.execute(
            """UPDATE inbox_events
                  SET status = $2, attempts = $3, last_error = $4, account_id = $5,
                      next_attempt_at = now() + make_interval(secs => $6),
                      delivered_at = CASE WHEN $2 = 'delivered' THEN now() END
                WHERE id = $1""",
            row_id,
            status,
            attempts,
            detail,
            account_id,
            retry_in or 0.0,
        )
        return Outcome(row_id, event_id, account_id, kind, status, detail)

    if account_id is None:
        ref = ObjectRef(object_type=row["ref_type"], object_id=row["ref_id"])
        resolved = resolve(
            Draft(kind=kind, ref=ref, fields=fields), await _links_for(conn, ref), mapping
        )
        if isinstance(resolved, str):
            bound.info("inbox event parked", reason=resolved)
            return await settle("parked", resolved, parked_backoff(attempts))
        account_id, fields = resolved.account_id, resolved.fields
    bound = bound.bind(account_id=account_id)

    model = SIGNALS.get(kind)
    if model is None:
        return await settle("failed", f"'{kind}' is not a journey signal")
    try:
        event = model.model_validate(fields)
    except ValidationError as err:
        bound.warning("inbox event is not a valid signal", error=str(err))
        return await settle("failed", f"not a valid {kind}: {err}")

    try:
        async with asyncio.timeout(send_timeout):
            await send_event(client, account_id, kind, event)
    except JourneyError as err:
        if err.kind == "unknown_account":
            bound.info("inbox event parked: no journey yet")
            return await settle("parked", str(err), parked_backoff(attempts))
        if err.kind == "journey_closed":
            bound.info("inbox event for an ended journey")
            return await settle("rejected_closed", str(err))
        if err.kind == "bad_event":
            return await settle("failed", str(err))
        bound.warning("inbox delivery failed; will retry", error=str(err))
        return await settle("pending", f"{err.kind}: {err}", transient_backoff(attempts))
    except Exception as err:  # Temporal away, timeouts, anything: keep the row and retry later.
        detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        bound.warning("inbox delivery failed; will retry", error=detail)
        return await settle("pending", detail, transient_backoff(attempts))
    bound.info("inbox event delivered")
    return await settle("delivered", None)
