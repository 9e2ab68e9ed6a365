"""`GET /healthz`: Postgres, Temporal and the inbox backlog. 503 only when Postgres is away
(nothing can be accepted); Temporal away is `degraded` (events wait in the inbox)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from starter.api.deps import Authorized, ServicesDep
from starter.api.errors import ApiError, responses
from store import inbox as inbox_store
from store.errors import DB_ERRORS

router = APIRouter(dependencies=[Authorized], responses=responses(401, 404, 503))

CHECK_SECONDS = 2


@router.get("/healthz", summary="Postgres, Temporal and the inbox")
async def healthz(services: ServicesDep) -> JSONResponse:
    body: dict[str, Any] = {"postgres": "ok", "temporal": "ok"}
    try:
        body["inbox"] = await _inbox_summary(services.need_pool())
    except (ApiError, *DB_ERRORS) as err:
        body["postgres"] = f"unreachable: {err}"
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            healthy = await services.need_client().service_client.check_health(
                timeout=timedelta(seconds=CHECK_SECONDS)
            )
        body["temporal"] = "ok" if healthy else "not serving"
    except Exception as err:
        body["temporal"] = f"unreachable: {type(err).__name__}"
    up = body["postgres"] == "ok"
    body["status"] = ("ok" if body["temporal"] == "ok" else "degraded") if up else "down"
    return JSONResponse(body, status_code=200 if up else 503)


async def _inbox_summary(pool: asyncpg.Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        waiting = await inbox_store.waiting(conn)
    pending, parked = waiting.get("pending"), waiting.get("parked")
    return {
        "pending": pending.count if pending else 0,
        "parked": parked.count if parked else 0,
        "oldest_pending_seconds": pending.oldest_seconds if pending else None,
    }
