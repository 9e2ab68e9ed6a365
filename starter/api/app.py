"""The HTTP API: start journeys from contracts, turn CRM webhooks into signals, read journeys
and tasks, and the dashboard at `/`.

`create_app` takes its client and pool (tests pass theirs) or connects them in its lifespan,
which also runs the inbox relay. The routes are one router per resource (starter/api/routes/);
what they need comes from starter/api/deps.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI
from temporalio.client import Client

from runtime.settings import Settings
from runtime.temporal import converter_for
from starter.api.body import MAX_BODY, BodyLimit
from starter.api.dashboard.routes import add_dashboard
from starter.api.deps import ApiOptions, Services, TaskStore
from starter.api.errors import install_error_handlers
from starter.api.routes import accounts, contracts, health, metrics, webhooks
from starter.api.routes import tasks as task_routes
from starter.ingress import inbox


def create_app(
    settings: Settings,
    client: Client | None = None,
    pool: asyncpg.Pool | None = None,
    *,
    options: ApiOptions | None = None,
    tasks: TaskStore | None = None,
    run_relay: bool = True,
) -> FastAPI:
    """The API, configured by `settings` (token, secrets, task queue, policy file, journey
    day length) and `options` (the API's own timeouts). Without `client`/`pool` its lifespan
    connects them from the settings; with `run_relay` it also runs the inbox relay."""
    opts = options or ApiOptions()
    services = Services(client, pool, tasks)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        own_pool = services.pool is None and settings.database_url is not None
        if own_pool:
            # min_size 0: the API starts (and says 503 where it must) while Postgres is away.
            services.pool = await asyncpg.create_pool(
                settings.database_url, min_size=0, max_size=10
            )
        if services.client is None:
            services.client = await Client.connect(
                settings.temporal_address or f"127.0.0.1:{settings.temporal_port}",
                namespace=settings.namespace,
                data_converter=converter_for(settings),
                lazy=True,  # the API starts, and records webhooks, while Temporal is away
            )
        stop = asyncio.Event()
        relay: asyncio.Task[None] | None = None
        if run_relay and services.pool is not None:
            relay = asyncio.create_task(
                inbox.run_relay(
                    services.pool,
                    services.client,
                    stop=stop,
                    interval=opts.relay_interval,
                    send_timeout=opts.delivery_timeout,
                    mapping=opts.hubspot,
                )
            )
        try:
            yield
        finally:
            stop.set()
            if relay is not None:
                await relay
            if own_pool and services.pool is not None:
                await services.pool.close()
                services.pool = None

    app = FastAPI(
        title="Waypost",
        version="0.1.0",
        description="Customer journeys as durable Temporal workflows: contracts start "
        "journeys, CRM webhooks become signals.",
        lifespan=lifespan,
    )
    app.state.settings, app.state.options, app.state.services = settings, opts, services
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    # Added last, so outermost: a 413 from BodyLimit is counted too.
    app.state.metrics = metrics.ApiMetrics()  # each app its own registry: tests build many
    app.add_middleware(metrics.CountRequests, metrics=app.state.metrics)
    install_error_handlers(app)
    for resource in (contracts, webhooks, accounts, task_routes, health, metrics):
        app.include_router(resource.router)
    add_dashboard(app)
    return app


__all__ = ["create_app"]
