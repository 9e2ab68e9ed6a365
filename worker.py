"""`python worker.py`: run a Waypost worker until SIGTERM or SIGINT.

The worker only wires things up: settings, logging, the Postgres pool, migrations, and the
workflows and activities it hosts. Run as many as the load needs: they share the task queue.
`python worker.py --setup` applies migrations and registers search attributes, then exits
(the one-shot `migrate` service in docker-compose.yml); `--replay FILE...` replays exported
histories against this code before a deploy (docs/operations.md).

On SIGTERM it stops polling at once, lets in-flight activities finish (up to
`WAYPOST_GRACEFUL_SHUTDOWN_SECONDS`) while the outbox relay finishes the batch in hand, then
exits 0. A journey's workflow tasks move to the other workers; nothing is lost or done twice.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import structlog
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Replayer, Worker

import workflows
from activities.notify import deliver_to_log, run_relay, webhook_delivery
from activities.plays import PlayActivities
from activities.store import StoreActivities
from runtime import sandbox
from runtime.codec import PayloadKeys
from runtime.errors import SetupError
from runtime.logs import configure_logging
from runtime.metrics import counted_delivery, worker_runtime
from runtime.replay import build_replayer as replayer_for
from runtime.replay import replay_files
from runtime.sandbox import sandbox_runner
from runtime.search_attributes import ensure_search_attributes
from runtime.settings import Settings
from runtime.temporal import connect
from runtime.tuning import WorkerTuning
from store import db
from workflows.journey.workflow import CustomerJourney
from workflows.playbook.workflow import Playbook

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
    "workflows.policy.checks",
    "workflows.policy.errors",
    "workflows.policy.fields",
    "workflows.policy.lenient",
    "workflows.policy.loader",
    "workflows.policy.models",
    "workflows.policy.sections",
    "workflows.policy.wording",
    "workflows.rules",
    "workflows.rules.adoption",
    "workflows.rules.facts",
    "workflows.rules.health",
    "workflows.rules.maturity",
    "workflows.rules.plays",
    "workflows.rules.renewal",
    "workflows.rules.track",
    "workflows.rules.why",
    "workflows.journey.messages",
    "workflows.journey.onboarding",
    "workflows.attributes",
    "workflows.clock",
    "workflows.journey.ledger",
    "workflows.journey.state",
    "workflows.playbook.messages",
    "workflows.playbook.plan",
)


def ensure_bytecode() -> bool:
    """Compile the workflow modules ahead (runtime/sandbox.py says why it matters)."""
    return sandbox.ensure_bytecode(Path(workflows.__file__).resolve().parent)


def build_replayer(keys: PayloadKeys | None = None) -> Replayer:
    """Replays saved histories against today's workflow code (see tests/histories/); with
    `keys`, histories exported encrypted from production too."""
    return replayer_for(WORKFLOWS, sandbox_runner(PASSTHROUGH), keys)


async def replay(settings: Settings, paths: Sequence[Path]) -> int:
    """Replay exported histories against this code; returns how many would break."""
    return await replay_files(build_replayer(PayloadKeys.from_settings(settings)), paths)


def build_worker(
    client: Client,
    pool: asyncpg.Pool,
    task_queue: str,
    *,
    replace: Mapping[str, Callable[..., Any]] | None = None,
    tuning: WorkerTuning = WorkerTuning(),
) -> Worker:
    """A worker for Waypost's workflows; tests `replace` activities by name with stand-ins."""
    store, plays = StoreActivities(pool), PlayActivities(pool)
    hosted: dict[str, Callable[..., Any]] = {
        "record_timeline": store.record_timeline,
        "record_play_started": plays.record_play_started,
        "record_play_finished": plays.record_play_finished,
        "create_task": plays.create_task,
        "close_task": plays.close_task,
        "close_tasks": plays.close_tasks,
        "queue_message": plays.queue_message,
    }
    hosted.update(replace or {})
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=list(hosted.values()),
        workflow_runner=sandbox_runner(PASSTHROUGH),
        max_concurrent_workflow_tasks=tuning.max_concurrent_workflow_tasks,
        max_cached_workflows=tuning.max_cached_workflows,
        max_concurrent_activities=tuning.max_concurrent_activities,
        # Past this, activities still running are cancelled and retried by another worker:
        # their writes are idempotent, so a retry changes nothing twice.
        graceful_shutdown_timeout=timedelta(seconds=tuning.graceful_shutdown_seconds),
    )


@dataclass(frozen=True)
class Endpoints:
    temporal_address: str
    database_url: str
    embedded_database: bool = False


def endpoints(settings: Settings) -> Endpoints:
    """Where Temporal and Postgres are: as configured, or the embedded dev servers that
    `waypost dev` runs (found, never started, by a worker)."""
    if settings.temporal_address and settings.database_url:
        return Endpoints(settings.temporal_address, settings.database_url)
    # Only a developer's machine gets here: production sets both, and never loads devtools.
    from devtools.infra import ensure_infra

    infra = ensure_infra(settings, start=False)
    return Endpoints(infra.temporal_address, infra.database_url, infra.embedded_database)


async def prepare(
    settings: Settings, runtime: Runtime | None = None
) -> tuple[Endpoints, Client, list[str]]:
    """Migrations and search attributes: what must exist before any worker or API starts.
    Returns where things are, a client, and the migrations this call applied."""
    found = endpoints(settings)
    if found.embedded_database:
        await db.ensure_database(found.database_url)
    applied = await db.migrate(found.database_url)
    client = await connect(found.temporal_address, settings.namespace, runtime=runtime)
    await ensure_search_attributes(client, settings.namespace)
    return found, client, applied


async def setup(settings: Settings) -> None:
    """`--setup`: the one-shot migrate service of docker-compose.yml."""
    _, _, applied = await prepare(settings)
    log.info("setup done", migrations_applied=applied, namespace=settings.namespace)


async def run(settings: Settings) -> None:
    runtime = worker_runtime(settings)
    found, client, _ = await prepare(settings, runtime)
    if not await asyncio.to_thread(ensure_bytecode):
        log.warning(
            "workflow modules not compiled: every workflow run recompiles them "
            "(run `python -m compileall workflows` where the code is installed)"
        )
    pool = await asyncpg.create_pool(found.database_url, min_size=1, max_size=10)
    try:
        worker = build_worker(
            client, pool, settings.task_queue, tuning=WorkerTuning.from_settings(settings)
        )
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
            if runtime is not None:
                deliver = counted_delivery(deliver, runtime.metric_meter)
            relay = asyncio.create_task(run_relay(pool, deliver, stop))
            log.info(
                "worker running", task_queue=settings.task_queue, temporal=found.temporal_address
            )
            await stop.wait()
            log.info(
                "worker stopping: letting in-flight activities finish",
                grace_seconds=settings.graceful_shutdown_seconds,
            )
            # Both at once: the worker stops polling now (not after the relay's batch), and
            # the relay finishes its batch while activities finish theirs.
            await asyncio.gather(worker.shutdown(), relay)
    finally:
        await pool.close()
    log.info("worker stopped")


def main(argv: Sequence[str] = ()) -> None:
    """`argv` is empty when called as `waypost worker` (the CLI's own argv is not ours)."""
    parser = argparse.ArgumentParser(description="Run a Waypost worker.")
    parser.add_argument(
        "--setup",
        action="store_true",
        help="apply migrations and register search attributes, then exit",
    )
    parser.add_argument(
        "--replay",
        nargs="+",
        type=Path,
        metavar="HISTORY_JSON",
        help="replay exported histories against this code, then exit (1 if any breaks)",
    )
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    try:
        if args.replay:
            raise SystemExit(1 if asyncio.run(replay(settings, args.replay)) else 0)
        asyncio.run(setup(settings) if args.setup else run(settings))
    except SetupError as err:
        # A set-up problem (no server, a bad key): say what to fix, without a traceback.
        log.error("worker not started", error=str(err))
        raise SystemExit(2) from None


if __name__ == "__main__":
    main(sys.argv[1:])
