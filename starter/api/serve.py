"""Serving the API under uvicorn: `waypost api` (`serve`), and in-process for the demo and
tests (`running`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg
import structlog
import uvicorn
from fastapi import FastAPI
from temporalio.client import Client

from devtools.infra import ensure_infra, free_port
from runtime.settings import Settings
from runtime.temporal import converter_for
from starter.api.app import create_app
from starter.api.deps import TaskStore
from store import db

log = structlog.get_logger(__name__)


async def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    tasks: Callable[[asyncpg.Pool, Client], TaskStore] | None = None,
) -> None:
    """`waypost api`: the API and its inbox relay under uvicorn, until SIGINT/SIGTERM.

    `tasks` builds the playbook task store from the pool (GET /tasks, POST /tasks/{id}/done).
    """
    infra = ensure_infra(settings, start=False)
    if infra.embedded_database:
        await db.ensure_database(infra.database_url)
    await db.migrate(infra.database_url)
    settings = settings.model_copy(
        update={"temporal_address": infra.temporal_address, "database_url": infra.database_url}
    )
    client = await Client.connect(
        infra.temporal_address,
        namespace=settings.namespace,
        data_converter=converter_for(settings),
        lazy=True,  # the API starts, and records webhooks, while Temporal is away
    )
    # min_size 0: the API starts (and answers 503 where it must) while Postgres is away.
    async with asyncpg.create_pool(infra.database_url, min_size=0, max_size=10) as pool:
        app = create_app(settings, client, pool, tasks=tasks(pool, client) if tasks else None)
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_config=None, proxy_headers=True)
        )
        log.info("api listening", url=f"http://{host}:{port}", docs=f"http://{host}:{port}/docs")
        await server.serve()


@asynccontextmanager
async def running(app: FastAPI, *, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve `app` with uvicorn inside this event loop on a free port (the demo, tests);
    yields its base URL and stops it on exit."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_config=None, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                await serving  # it failed to start: raise why
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.02)  # uvicorn has no started event to wait on
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await serving


__all__ = ["running", "serve"]
