"""The two signed webhooks: HubSpot (signature v3) and generic events (Waypost's signature).

The signature covers the exact bytes sent, so each route takes the raw body from a dependency
that verifies it before anything parses it. Then the body is recorded in the inbox (all or
nothing) and what is new is delivered at once; an accepted event is never lost, even when
Temporal is away (the relay delivers it later).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter

from starter.api.deps import (
    ApiOptions,
    OptionsDep,
    Services,
    ServicesDep,
    SettingsDep,
)
from starter.api.errors import ApiError, responses
from starter.ingress import inbox
from starter.ingress.events import EVENTS, BadBody, generic_events, hubspot_events, parse_json
from starter.ingress.hubspot import HubSpotPayload
from starter.ingress.signatures import (
    SignatureError,
    hubspot_signed_uri,
    verify_hubspot_v3,
    verify_waypost,
)
from store.errors import DB_ERRORS

log = structlog.get_logger(__name__)

router = APIRouter()

EventStatus = Literal[
    "delivered", "pending", "parked", "duplicate", "journey_closed", "ignored", "failed"
]


class EventResult(BaseModel):
    event_id: str
    status: EventStatus
    account_id: str | None = None
    kind: str | None = None
    detail: str | None = None


class WebhookResult(BaseModel):
    received: int
    results: list[EventResult]


_DETAIL: dict[str, str] = {
    "pending": "accepted, pending delivery: it is in the inbox and will be delivered as soon "
    "as Temporal answers",
    "duplicate": "already received; nothing changed",
}


# ---- signatures, checked on the raw bytes --------------------------------------------------------


async def signed_by_hubspot(request: Request, settings: SettingsDep) -> bytes:
    secret = settings.hubspot_client_secret
    if not secret:
        raise ApiError(503, "not_configured", "set HUBSPOT_CLIENT_SECRET to receive HubSpot")
    body = await request.body()
    try:
        verify_hubspot_v3(
            secret=secret,
            method=request.method,
            uri=hubspot_signed_uri(str(request.url), settings.public_base_url),
            body=body,
            timestamp=request.headers.get("x-hubspot-request-timestamp"),
            signature=request.headers.get("x-hubspot-signature-v3"),
            now=time.time(),
        )
    except SignatureError as err:
        raise ApiError(401, err.kind, str(err)) from None
    return body


async def signed_by_sender(request: Request, settings: SettingsDep) -> bytes:
    if not settings.webhook_secret:
        raise ApiError(503, "not_configured", "set WAYPOST_WEBHOOK_SECRET to receive events")
    secrets = [s for s in (settings.webhook_secret, settings.webhook_secret_previous) if s]
    body = await request.body()
    try:
        verify_waypost(
            secrets=secrets,
            body=body,
            timestamp=request.headers.get("x-waypost-timestamp"),
            signature=request.headers.get("x-waypost-signature"),
            now=time.time(),
        )
    except SignatureError as err:
        raise ApiError(401, err.kind, str(err)) from None
    return body


# ---- the routes ----------------------------------------------------------------------------------


def _documented(adapter: TypeAdapter[Any]) -> dict[str, Any]:
    """The body's schema for OpenAPI. The route reads raw bytes (the signature covers them), so
    FastAPI cannot see the model: the schema is given whole, its definitions inlined."""
    schema = adapter.json_schema(by_alias=True)
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return inline({**copy.deepcopy(defs[ref.removeprefix("#/$defs/")]), **rest})
            # A discriminator's mapping names definitions that are inlined now: the `kind`
            # constants in each branch say the same.
            return {k: inline(v) for k, v in node.items() if k != "discriminator"}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    body = {"required": True, "content": {"application/json": {"schema": inline(schema)}}}
    return {"requestBody": body}


WEBHOOK_RESPONSES = {202: {"model": WebhookResult}, **responses(400, 401, 413, 422, 503)}


@router.post(
    "/webhooks/hubspot",
    response_model=WebhookResult,
    responses=WEBHOOK_RESPONSES,
    openapi_extra=_documented(TypeAdapter(HubSpotPayload)),
    summary="HubSpot webhook events (signature v3)",
)
async def hubspot_webhook(
    body: Annotated[bytes, Depends(signed_by_hubspot)],
    services: ServicesDep,
    options: OptionsDep,
) -> JSONResponse:
    return await _ingest(
        services,
        options,
        inbox.SOURCE_HUBSPOT,
        body,
        lambda data: hubspot_events(data, options.hubspot),
    )


@router.post(
    "/webhooks/events",
    response_model=WebhookResult,
    responses=WEBHOOK_RESPONSES,
    openapi_extra=_documented(EVENTS),
    summary="Generic signed events from any CRM or product",
)
async def events_webhook(
    body: Annotated[bytes, Depends(signed_by_sender)],
    services: ServicesDep,
    options: OptionsDep,
) -> JSONResponse:
    return await _ingest(
        services,
        options,
        inbox.SOURCE_EVENTS,
        body,
        lambda data: (generic_events(data), []),
    )


async def _ingest(
    services: Services,
    options: ApiOptions,
    source: str,
    body: bytes,
    parse: Callable[[Any], tuple[list[inbox.Incoming], list[Any]]],
) -> JSONResponse:
    """Parse, record (all or nothing), then try to deliver what is new at once."""
    pool = services.need_pool()
    try:
        items, links = parse(parse_json(body))
    except BadBody as err:
        try:
            fields = [{"path": p.path, "message": p.message} for p in err.problems]
            await inbox.record_reject(pool, source, err.error, err.detail, fields, body)
        except DB_ERRORS as db_err:
            log.warning("rejected body not kept", error=str(db_err))
        raise
    try:
        recorded = await inbox.record(pool, items, links)
    except DB_ERRORS as err:
        log.error("inbox write failed; nothing accepted", source=source, error=str(err))
        raise ApiError(
            503, "unavailable", "could not record the events; nothing was accepted: retry"
        ) from None
    new = [r.id for r in recorded if not r.duplicate and r.status == "pending"]
    outcomes: dict[int, inbox.Outcome] = {}
    if new and services.client is not None:
        try:
            delivered = await inbox.deliver(
                pool,
                services.client,
                ids=new,
                limit=len(new),
                ignore_backoff=True,
                send_timeout=options.delivery_timeout,
                mapping=options.hubspot,
            )
            outcomes = {o.id: o for o in delivered}
        except DB_ERRORS as err:
            log.warning("inline delivery failed; the relay will deliver", error=str(err))
    results = [_result(r, outcomes.get(r.id)) for r in recorded]
    waiting = any(r.status in ("pending", "parked") for r in results)
    log.info(
        "webhook received",
        source=source,
        events=len(results),
        statuses=sorted({r.status for r in results}),
    )
    out = WebhookResult(received=len(results), results=results)
    return JSONResponse(out.model_dump(), status_code=202 if waiting else 200)


def _result(rec: inbox.Recorded, outcome: inbox.Outcome | None) -> EventResult:
    common = {"event_id": rec.event_id, "kind": rec.kind, "account_id": rec.account_id}
    if rec.duplicate:
        detail = f"{_DETAIL['duplicate']} (it is {rec.status})"
        return EventResult(**common, status="duplicate", detail=detail)
    if rec.status == "ignored":
        return EventResult(**common, status="ignored", detail=rec.note)
    if outcome is None or outcome.status == "pending":
        return EventResult(**common, status="pending", detail=_DETAIL["pending"])
    common["account_id"] = outcome.account_id
    if outcome.status == "delivered":
        return EventResult(**common, status="delivered")
    if outcome.status == "parked":
        detail = f"parked until the journey starts: {outcome.detail}"
        return EventResult(**common, status="parked", detail=detail)
    if outcome.status == "rejected_closed":
        detail = f"{outcome.detail}; the event is recorded and will not be delivered"
        return EventResult(**common, status="journey_closed", detail=detail)
    return EventResult(**common, status="failed", detail=outcome.detail)


__all__ = ["EventResult", "WebhookResult", "router"]
