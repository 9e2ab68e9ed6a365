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
import compileall
import dataclasses
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
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.notify import deliver_to_log, run_relay, webhook_delivery
from activities.plays import PlayActivities
from activities.store import StoreActivities
from devtools.infra import InfraError, ensure_infra, ensure_search_attributes
from runtime.codec import PayloadKeys, with_encryption
from runtime.converter import waypost_data_converter
from runtime.logs import configure_logging
from runtime.metrics import counted_delivery, worker_runtime
from runtime.settings import Settings
from runtime.temporal import connect
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
    """Compile the workflow modules ahead: the sandbox re-imports them for every workflow run,
    and with no bytecode cache (PYTHONDONTWRITEBYTECODE, as in many images and CI set-ups)
    each re-import compiles them from source: about 40% of a busy worker's CPU in
    `make bench`. False if they could not be written (a read-only tree: compile at build)."""
    folder = Path(__file__).resolve().parent / "workflows"
    return bool(compileall.compile_dir(folder, quiet=2))


def sandbox_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )


def build_replayer(keys: PayloadKeys | None = None) -> Replayer:
    """Replays saved histories against today's workflow code (see tests/histories/); with
    `keys`, histories exported encrypted from production too."""
    if keys is not None:
        # Replay only reads: histories may hold payloads from before encryption was on.
        keys = dataclasses.replace(keys, accept_plaintext=True)
    return Replayer(
        workflows=list(WORKFLOWS),
        data_converter=with_encryption(waypost_data_converter, keys),
        workflow_runner=sandbox_runner(),
    )


async def replay(settings: Settings, paths: Sequence[Path]) -> int:
    """Replay exported histories (`temporal workflow show --output json`) against this code;
    returns how many would break (docs/operations.md, before a deploy)."""
    replayer = build_replayer(PayloadKeys.from_settings(settings))
    broken = 0
    for path in paths:
        history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is None:
            log.info("history replays", history=str(path))
        else:
            broken += 1
            log.error(
                "history does not replay", history=str(path), error=str(result.replay_failure)
            )
    return broken


@dataclass(frozen=True)
class WorkerTuning:
    """How much one worker takes on (settings `WAYPOST_MAX_*`; README "Production")."""

    max_concurrent_workflow_tasks: int = 100
    max_cached_workflows: int = 1000
    max_concurrent_activities: int = 100
    graceful_shutdown_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerTuning:
        return cls(
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            max_cached_workflows=settings.max_cached_workflows,
            max_concurrent_activities=settings.max_concurrent_activities,
            graceful_shutdown_seconds=settings.graceful_shutdown_seconds,
        )


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
        workflow_runner=sandbox_runner(),
        max_concurrent_workflow_tasks=tuning.max_concurrent_workflow_tasks,
        max_cached_workflows=tuning.max_cached_workflows,
        max_concurrent_activities=tuning.max_concurrent_activities,
        # Past this, activities still running are cancelled and retried by another worker:
        # their writes are idempotent, so a retry changes nothing twice.
        graceful_shutdown_timeout=timedelta(seconds=tuning.graceful_shutdown_seconds),
    )


async def setup(settings: Settings) -> None:
    """Migrations and search attributes: what must exist before any worker or API starts."""
    infra = ensure_infra(settings, start=False)
    if infra.embedded_database:
        await db.ensure_database(infra.database_url)
    applied = await db.migrate(infra.database_url)
    client = await connect(infra.temporal_address, settings.namespace)
    await ensure_search_attributes(client, settings.namespace)
    log.info("setup done", migrations_applied=applied, namespace=settings.namespace)


async def run(settings: Settings) -> None:
    infra = ensure_infra(settings, start=False)
    if infra.embedded_database:
        await db.ensure_database(infra.database_url)
    await db.migrate(infra.database_url)
    runtime = worker_runtime(settings)
    client = await connect(infra.temporal_address, settings.namespace, runtime=runtime)
    await ensure_search_attributes(client, settings.namespace)
    if not await asyncio.to_thread(ensure_bytecode):
        log.warning(
            "workflow modules not compiled: every workflow run recompiles them "
            "(run `python -m compileall workflows` where the code is installed)"
        )
    pool = await asyncpg.create_pool(infra.database_url, min_size=1, max_size=10)
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
                "worker running", task_queue=settings.task_queue, temporal=infra.temporal_address
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
    except InfraError as err:
        # A set-up problem (no server, a bad key): say what to fix, without a traceback.
        log.error("worker not started", error=str(err))
        raise SystemExit(2) from None


if __name__ == "__main__":
    main(sys.argv[1:])
