"""Metrics: the Temporal SDK's on each worker, Waypost's own on workers and the API.

Worker (`WAYPOST_METRICS_PORT`): the SDK runtime's Prometheus exporter serves
`http://<host>:<port>/metrics` with the SDK's `temporal_*` metrics (task latencies, slots,
sticky cache, polls) and the counters Waypost adds through the same meter:

- `waypost_outbox_delivered`, `waypost_outbox_delivery_failed` (the relay, counted here),
- `waypost_plays_started{play}` and `waypost_journey_events{kind,verdict}` (verdict `apply`,
  `duplicate` or `stale`), counted in workflow code with `workflow.metric_meter()`, which
  records nothing while a workflow replays, so a count is one real event.

API (`GET /metrics`, bearer token like every non-webhook route): request counts, and gauges
read from Postgres at scrape time (tasks overdue and open, outbox and inbox backlogs). Those
describe the whole deployment, so scrape one API replica, or take `max` over replicas.

Names of SDK-meter counters have no `_total` suffix, as on Temporal's own dashboards.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable

import asyncpg
import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge
from prometheus_client import generate_latest as render
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from activities.notify import Deliver
from runtime.settings import Settings
from store.outbox import Outgoing

log = structlog.get_logger(__name__)

# Counted in workflow code (workflows/journey.py): the names are here so the docs, the
# tests and the hooks agree.
PLAYS_STARTED = "waypost_plays_started"
JOURNEY_EVENTS = "waypost_journey_events"
OUTBOX_DELIVERED = "waypost_outbox_delivered"
OUTBOX_FAILED = "waypost_outbox_delivery_failed"

SCRAPE_DB_TIMEOUT = 2.0


# ---- worker --------------------------------------------------------------------------------------


def worker_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting Prometheus metrics, or None (the default runtime) when
    `WAYPOST_METRICS_PORT` is unset. One per process: it binds the port."""
    if settings.metrics_port is None:
        return None
    address = f"{settings.metrics_host}:{settings.metrics_port}"
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    log.info("worker metrics", url=f"http://{address}/metrics")
    return runtime


def counted_delivery(deliver: Deliver, meter: MetricMeter) -> Deliver:
    """`deliver`, counting outcomes. The relay retries a failed message on its next pass,
    so failures count attempts, and deliveries count messages handed over."""
    delivered = meter.create_counter(OUTBOX_DELIVERED, "Outbox messages delivered.")
    failed = meter.create_counter(OUTBOX_FAILED, "Outbox delivery attempts that failed.")

    async def deliver_counted(message: Outgoing) -> None:
        try:
            await deliver(message)
        except Exception:
            failed.add(1)
            raise
        delivered.add(1)

    return deliver_counted


# ---- API -----------------------------------------------------------------------------------------


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
                    """SELECT count(*) FILTER (WHERE due_real_at < now()) AS overdue,
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


def install_metrics(
    app: FastAPI, *, pool: Callable[[], asyncpg.Pool | None], token: str | None
) -> ApiMetrics:
    """Add `GET /metrics` and request counting to the API.

    `pool` is called at each scrape (the API's pool may be built in its lifespan). Like every
    non-webhook route it needs `Authorization: Bearer <WAYPOST_API_TOKEN>` (Prometheus:
    `authorization: {credentials: ...}` in the scrape config); no token set means 503.
    """
    metrics = ApiMetrics()
    app.add_middleware(CountRequests, metrics=metrics)
    router = APIRouter()

    # Out of the OpenAPI schema: it is Prometheus' text format, for Prometheus, not a JSON API.
    @router.get("/metrics", include_in_schema=False)
    async def get_metrics(request: Request) -> Response:
        refused = _refuse(request, token)
        if refused is not None:
            return refused
        started = time.monotonic()
        await metrics.refresh(pool())
        log.debug("metrics scraped", seconds=round(time.monotonic() - started, 3))
        return Response(render(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
    return metrics


def _refuse(request: Request, token: str | None) -> JSONResponse | None:
    """The API's error shape for a missing or wrong token (starter/api.py `_authorize`)."""
    if not token:
        return _error(503, "not_configured", "set WAYPOST_API_TOKEN to use this route")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), token.encode()
    ):
        return _error(
            401,
            "unauthorized",
            "send 'Authorization: Bearer <WAYPOST_API_TOKEN>'",
            {"WWW-Authenticate": "Bearer"},
        )
    return None


def _error(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "detail": detail, "fields": []}, status_code=status, headers=headers
    )


__all__ = [
    "JOURNEY_EVENTS",
    "OUTBOX_DELIVERED",
    "OUTBOX_FAILED",
    "PLAYS_STARTED",
    "ApiMetrics",
    "counted_delivery",
    "install_metrics",
    "worker_runtime",
]
