"""Metrics on each worker: the Temporal SDK's, and the counters Waypost adds.

Worker (`WAYPOST_METRICS_PORT`): the SDK runtime's Prometheus exporter serves
`http://<host>:<port>/metrics` with the SDK's `temporal_*` metrics (task latencies, slots,
sticky cache, polls) and the counters Waypost adds through the same meter:

- `waypost_outbox_delivered`, `waypost_outbox_delivery_failed` (the relay, counted here),
- `waypost_plays_started{play}` and `waypost_journey_events{kind,verdict}` (verdict `apply`,
  `duplicate` or `stale`), counted in workflow code with `workflow.metric_meter()`, which
  records nothing while a workflow replays, so a count is one real event.

The API's own `GET /metrics` (requests, backlogs read from Postgres) is in
starter/api/routes/metrics.py: the worker does not load FastAPI.

Names of SDK-meter counters have no `_total` suffix, as on Temporal's own dashboards.
"""

from __future__ import annotations

import structlog
from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from activities.notify import Deliver
from runtime.settings import Settings
from store.outbox import Outgoing

log = structlog.get_logger(__name__)

# Counted in workflow code (workflows/journey/): the names are here so the docs, the
# tests and the hooks agree.
PLAYS_STARTED = "waypost_plays_started"
JOURNEY_EVENTS = "waypost_journey_events"
OUTBOX_DELIVERED = "waypost_outbox_delivered"
OUTBOX_FAILED = "waypost_outbox_delivery_failed"


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


__all__ = [
    "JOURNEY_EVENTS",
    "OUTBOX_DELIVERED",
    "OUTBOX_FAILED",
    "PLAYS_STARTED",
    "counted_delivery",
    "worker_runtime",
]
