"""The durable inbox: accepted webhook events are written here first, then delivered as signals.

Writing first is what loses nothing: Temporal may be away, the journey may not exist yet, the
API process may die after answering. The relay (`run_relay`, one per API process; any number may
run) claims due rows with `FOR UPDATE SKIP LOCKED`, so two relays never deliver a row at the same
time, and a journey ignores an event id it has seen, so delivering twice after a crash is safe.

Row status: pending → delivered | parked (no journey or no CRM link yet; retried with a long
backoff and at once when the contract is posted) | rejected_closed (the journey ended; never
retried) | failed (cannot become a signal; never retried). Transient errors (Temporal away) keep a
row pending with `attempts`, `last_error` and a backoff.

The SQL is `store.inbox`; the loop around `deliver` is `starter.ingress.relay`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from pydantic import ValidationError
from temporalio.client import Client

from starter.ingress import relay
from starter.ingress.hubspot import Draft, HubSpotMapping, Link, LinkUpdate, ObjectRef, resolve
from starter.journeys import JourneyError, send_event
from store import inbox as store
from store.conn import Connection
from workflows.journey.messages import SIGNALS
from workflows.models import Account

__all__ = [
    "SOURCE_EVENTS",
    "SOURCE_HUBSPOT",
    "Incoming",
    "Outcome",
    "Recorded",
    "deliver",
    "link_hubspot",
    "parked_backoff",
    "record",
    "record_reject",
    "relay_once",
    "run_relay",
    "transient_backoff",
]

log = structlog.get_logger(__name__)

SOURCE_HUBSPOT = "hubspot"
SOURCE_EVENTS = "events"


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


# ---- accepting: what arrives is written before anything else ------------------------------------


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
            await store.learn_link(
                conn,
                SOURCE_HUBSPOT,
                update.ref.object_type,
                update.ref.object_id,
                company_id=update.company_id,
                persona=update.persona,
            )
        for item in items:
            row = await store.insert_event(
                conn,
                source=item.source,
                event_id=item.event_id,
                account_id=item.account_id,
                ref_type=item.ref.object_type if item.ref else None,
                ref_id=item.ref.object_id if item.ref else None,
                kind=item.kind,
                payload=item.payload,
                raw=item.raw,
                status="ignored" if item.ignored else "pending",
                last_error=item.ignored,
                occurred_at=item.occurred_at,
            )
            out.append(
                Recorded(
                    id=row.id,
                    event_id=item.event_id,
                    account_id=item.account_id,
                    kind=item.kind,
                    status=row.status,
                    duplicate=row.duplicate,
                    note=row.last_error,
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
    await store.insert_reject(
        pool, source=source, error=error, detail=detail, fields=fields, body=body
    )


async def link_hubspot(
    pool: asyncpg.Pool, account: Account, company_id: str, contacts: dict[str, str]
) -> None:
    """Link a HubSpot company to an account, and HubSpot contacts to the account's contacts."""
    personas = {c.contact_id: c.persona for c in account.contacts}
    async with pool.acquire() as conn, conn.transaction():
        await store.link_company(conn, SOURCE_HUBSPOT, company_id, account.account_id)
        for hubspot_id, contact_id in contacts.items():
            await store.link_contact(
                conn,
                SOURCE_HUBSPOT,
                hubspot_id,
                company_id=company_id,
                contact_id=contact_id,
                persona=personas.get(contact_id),
            )


# ---- delivering: open rows become signals -------------------------------------------------------


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
    outcomes: list[Outcome] = []
    async with pool.acquire() as conn, conn.transaction():
        claimed = await store.claim_open(
            conn,
            ids=ids,
            account_ids=account_ids,
            unresolved=unresolved,
            limit=limit,
            ignore_backoff=ignore_backoff,
        )
        for row in claimed:
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
    """Deliver due rows until `stop` is set; a pass that got through its rows (none left
    pending by a transient failure) is followed at once by the next."""

    async def one_pass() -> bool:
        outcomes = await deliver(pool, client, send_timeout=send_timeout, mapping=mapping)
        return bool(outcomes) and all(o.status != "pending" for o in outcomes)

    await relay.relay(one_pass, stop=stop, interval=interval)


async def _deliver_row(
    conn: Connection,
    client: Client,
    row: store.ClaimedEvent,
    send_timeout: float,
    mapping: HubSpotMapping,
) -> Outcome:
    kind, account_id, fields = row.kind, row.account_id, row.payload
    attempts = row.attempts + 1
    bound = log.bind(inbox_id=row.id, event_id=row.event_id, kind=kind, source=row.source)

    async def settle(status: str, detail: str | None, retry_in: float | None = None) -> Outcome:
        await store.settle_event(
            conn,
            row.id,
            status=status,
            attempts=attempts,
            last_error=detail,
            account_id=account_id,
            retry_in=retry_in or 0.0,
        )
        return Outcome(row.id, row.event_id, account_id, kind, status, detail)

    if account_id is None:
        ref = ObjectRef.model_validate({"object_type": row.ref_type, "object_id": row.ref_id})
        resolved = resolve(
            Draft(kind=kind, ref=ref, fields=fields), await _links_for(conn, ref), mapping
        )
        if isinstance(resolved, str):
            bound.info("inbox event parked", reason=resolved)
            return await settle("parked", resolved, parked_backoff(attempts))
        account_id, fields = resolved.account_id, resolved.fields
    bound = bound.bind(account_id=account_id)

    if kind is None or (model := SIGNALS.get(kind)) is None:
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
        return await settle(*_refused(err, attempts, bound))
    except Exception as err:  # Temporal away, timeouts, anything: keep the row and retry later.
        detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        bound.warning("inbox delivery failed; will retry", error=detail)
        return await settle("pending", detail, transient_backoff(attempts))
    bound.info("inbox event delivered")
    return await settle("delivered", None)


def _refused(
    err: JourneyError, attempts: int, bound: structlog.stdlib.BoundLogger
) -> tuple[str, str, float | None]:
    """How a row settles when the journey refuses its signal: status, detail, retry in."""
    if err.kind == "unknown_account":
        bound.info("inbox event parked: no journey yet")
        return "parked", str(err), parked_backoff(attempts)
    if err.kind == "journey_closed":
        bound.info("inbox event for an ended journey")
        return "rejected_closed", str(err), None
    if err.kind == "bad_event":
        return "failed", str(err), None
    bound.warning("inbox delivery failed; will retry", error=str(err))
    return "pending", f"{err.kind}: {err}", transient_backoff(attempts)


async def _links_for(conn: Connection, ref: ObjectRef) -> dict[ObjectRef, Link]:
    """The object's own link and its company's, for `hubspot.resolve`."""
    rows = await store.links_around(conn, SOURCE_HUBSPOT, ref.object_type, ref.object_id)
    return {
        ObjectRef.model_validate({"object_type": r.object_type, "object_id": r.object_id}): (
            Link.model_validate(
                {
                    "account_id": r.account_id,
                    "company_id": r.company_id,
                    "contact_id": r.contact_id,
                    "persona": r.persona,
                }
            )
        )
        for r in rows
    }
