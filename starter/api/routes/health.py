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
from starter.ingress import inbox

router = APIRouter(dependencies=[Authorized], responses=responses(401, 404, 503))

CHECK_SECONDS = 2


@router.get("/healthz", summary="Postgres, Temporal and the inbox")
async def healthz(services: ServicesDep) -> JSONResponse:
    body: dict[str, Any] = {"postgres": "ok", "temporal": "ok"}
    try:
        body["inbox"] = await _inbox_summary(services.need_pool())
    except (ApiError, *inbox.DB_ERRORS) as err:
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
        rows = await conn.fetch(
            """SELECT status, count(*) AS n,
                      EXTRACT(EPOCH FROM now() - min(received_at)) AS oldest
                 FROM inbox_events WHERE status IN ('pending', 'parked') GROUP BY status"""
        )
    summary: dict[str, Any] = {"pending": 0, "parked": 0, "oldest_pending_seconds": None}
    for r in rows:
        summary[r["status"]] = r["n"]
        if r["status"] == "pending":
            summary["oldest_pending_seconds"] = float(r["oldest"])
    return summary
