"""`GET /metrics` on the API: request counts, and gauges read from Postgres at scrape time
(tasks overdue and open, outbox and inbox backlogs). Those describe the whole deployment, so
scrape one API replica, or take `max` over replicas.

Like every non-webhook route it needs `Authorization: Bearer <WAYPOST_API_TOKEN>` (Prometheus:
`authorization: {credentials: ...}` in the scrape config). The worker's metrics (the SDK's and
the counters workflows add) are in runtime/metrics.py, which must not load FastAPI.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import structlog
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge
from prometheus_client import generate_latest as render
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starter.api.deps import Authorized, ServicesDep

log = structlog.get_logger(__name__)

SCRAPE_DB_TIMEOUT = 2.0


class ApiMetrics:
    """The API's metrics, in a registry of its own (each app its own, so tests can build many)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "waypost_http_requests",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.tasks_overdue = Gauge(
            "waypost_tasks_overdue",
            "Open playbook tasks past their due date.",
            registry=self.registry,
        )
        self.tasks_open = Gauge(
            "waypost_tasks_open", "Open playbook tasks.", registry=self.registry
        )
        self.outbox = Gauge(
            "waypost_outbox_messages",
            "Outbox messages not delivered, by status (pending, failed).",
            ["status"],
            registry=self.registry,
        )
        self.inbox = Gauge(
            "waypost_inbox_events",
            "Webhook events not yet delivered to a journey, by status (pending, parked).",
            ["status"],
            registry=self.registry,
        )
        self.database_up = Gauge(
            "waypost_database_up",
            "1 when the last scrape could read Postgres.",
            registry=self.registry,
        )

    async def refresh(self, pool: asyncpg.Pool | None) -> None:
        """Read the backlog gauges from Postgres; on failure mark it down and keep the rest."""
        if pool is None:
            self.database_up.set(0)
            return
        try:
            async with asyncio.timeout(SCRAPE_DB_TIMEOUT), pool.acquire() as conn:
                tasks = await conn.fetchrow(
                    """SELECT count(*) FILTER (WHERE due_at < now()) AS overdue,
                              count(*) AS open
                         FROM tasks WHERE status = 'open'"""
                )
                outbox = await conn.fetch(
                    "SELECT status, count(*) AS n FROM outbox "
                    "WHERE status IN ('pending', 'failed') GROUP BY status"
                )
                inbox = await conn.fetch(
                    "SELECT status, count(*) AS n FROM inbox_events "
                    "WHERE status IN ('pending', 'parked') GROUP BY status"
                )
        except (TimeoutError, OSError, asyncpg.PostgresError) as err:
            log.warning("metrics: postgres unreadable", error=str(err))
            self.database_up.set(0)
            return
        assert tasks is not None  # an aggregate always returns a row
        self.tasks_overdue.set(tasks["overdue"])
        self.tasks_open.set(tasks["open"])
        _set_by_status(self.outbox, ("pending", "failed"), outbox)
        _set_by_status(self.inbox, ("pending", "parked"), inbox)
        self.database_up.set(1)


def _set_by_status(gauge: Gauge, statuses: tuple[str, ...], rows: list[asyncpg.Record]) -> None:
    counts = {r["status"]: r["n"] for r in rows}
    for status in statuses:
        # Every status every time: a backlog that drained reads 0, not its last value.
        gauge.labels(status=status).set(counts.get(status, 0))


class CountRequests:
    """ASGI middleware counting requests by route template (never the raw path: account ids
    in paths would make a time series per account)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            # The router leaves the matched route in the scope it shares with us.
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(
                method=scope["method"], route=str(route), status=str(status)
            ).inc()


def get_metrics(request: Request) -> ApiMetrics:
    metrics: ApiMetrics = request.app.state.metrics
    return metrics


router = APIRouter(dependencies=[Authorized])


# Out of the OpenAPI schema: it is Prometheus' text format, for Prometheus, not a JSON API.
@router.get("/metrics", include_in_schema=False)
async def metrics_page(request: Request, services: ServicesDep) -> Response:
    metrics = get_metrics(request)
    started = time.monotonic()
    await metrics.refresh(services.pool)
    log.debug("metrics scraped", seconds=round(time.monotonic() - started, 3))
    return Response(render(metrics.registry), media_type=CONTENT_TYPE_LATEST)


__all__ = ["ApiMetrics", "CountRequests", "router"]
