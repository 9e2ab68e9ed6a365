"""`python worker.py`: run a Waypost worker until SIGTERM or SIGINT.

The worker only wires things up: settings, logging, the Postgres pool, migrations, and the
workflows and activities it hosts.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import structlog
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.notify import deliver_to_log, run_relay, webhook_delivery
from activities.plays import PlayActivities
from activities.store import StoreActivities
from starter import db
from starter.devinfra import ensure_infra, ensure_search_attributes
from starter.logs import configure_logging
from starter.settings import Settings
from starter.temporal import connect
from workflows.journey import CustomerJourney
from workflows.playbook import Playbook

log = structlog.get_logger(__name__)

WORKFLOWS: Sequence[type] = (CustomerJourney, Playbook)

# Pure, deterministic modules the workflows import: loading them once outside the sandbox
# is safe and saves re-importing pydantic for every workflow run.
PASSTHROUGH = (
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "yaml",
    "activities.models",
    "workflows.models",
    "workflows.policy",
    "workflows.policy_checks",
    "workflows.policy_loader",
    "workflows.play_rules",
    "workflows.rules",
    "workflows.why",
    "workflows.messages",
    "workflows.onboarding",
    "workflows.attributes",
    "workflows.clock",
    "workflows.ledger",
    "workflows.state",
    "workflows.play_messages",
    "workflows.play_plan",
)


def sandbox_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )


def build_replayer() -> Replayer:
    """Replays saved histories against today's workflow code (see tests/histories/)."""
    return Replayer(
        workflows=list(WORKFLOWS),
        data_converter=pydantic_data_converter,
        workflow_runner=sandbox_runner(),
    )


def build_worker(
    client: Client,
    pool: asyncpg.Pool,
    task_queue: str,
    *,
    replace: Mapping[str, Callable[..., Any]] | None = None,
) -> Worker:
    """A worker for Waypost's workflows; tests `replace` activities by name with stand-ins."""
    store, plays = StoreActivities(pool), PlayActivities(pool)
    hosted: dict[str, Callable[..., Any]] = {
        "record_timeline": store.record_timeline,
        "record_play_started": plays.record_play_started,
        "record_play_finished": plays.record_play_finished,
        "create_task": plays.create_task,
        "close_task": plays.close_task,
        "queue_message": plays.queue_message,
    }
    hosted.update(replace or {})
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=list(hosted.values()),
        workflow_runner=sandbox_runner(),
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run(settings: Settings) -> None:
    infra = ensure_infra(settings, start=False)
    if infra.embedded_database:
        await db.ensure_database(infra.database_url)
    await db.migrate(infra.database_url)
    client = await connect(infra.temporal_address, settings.namespace)
    await ensure_search_attributes(client, settings.namespace)
    pool = await asyncpg.create_pool(infra.database_url, min_size=1, max_size=10)
    try:
        worker = build_worker(client, pool, settings.task_queue)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with worker, httpx.AsyncClient(timeout=10) as http:
            deliver = (
                webhook_delivery(settings.notify_webhook_url, http)
                if settings.notify_webhook_url
                else deliver_to_log
            )
            relay = asyncio.create_task(run_relay(pool, deliver, stop))
            log.info(
                "worker running", task_queue=settings.task_queue, temporal=infra.temporal_address
            )
            await stop.wait()
            log.info("worker stopping: letting in-flight activities finish")
            await relay
    finally:
        await pool.close()
    log.info("worker stopped")


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
