"""The processes a bench run drives: Temporal, Postgres, Waypost's worker and API, and the
floor's worker.

Workers run as processes of their own (`python worker.py`, `python -m bench.baseline_worker`),
so their RSS is theirs alone and they can be restarted. Each process's output goes to a log
file under the run's log folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench.cpu import rss_bytes
from devtools.infra import (
    EmbeddedPostgres,
    TemporalServer,
    free_port,
    temporal_binary,
)
from runtime.search_attributes import ensure_search_attributes
from store import db

ROOT = Path(__file__).resolve().parent.parent

# The dev server's defaults, raised where they would cap a single-machine benchmark rather than
# measure it (visibility queries drive the floor's completion check).
SERVER_ARGS = ("--dynamic-config-value", "frontend.namespaceRPS.visibility=1000")


def temporal_version() -> str:
    try:
        out = subprocess.run(
            [temporal_binary(), "--version"], capture_output=True, text=True, timeout=30
        )
        return out.stdout.strip() or out.stderr.strip()
    except (OSError, subprocess.SubprocessError, RuntimeError) as err:
        return f"unknown ({err})"


@dataclass
class Infra:
    """Temporal and Postgres for one run: ours (stopped at the end) or configured ones."""

    temporal_address: str
    database_url: str
    namespace: str
    log_dir: Path
    server: TemporalServer | None = None
    postgres: EmbeddedPostgres | None = None
    drop_database: str | None = None  # on a configured Postgres, the database we created

    @classmethod
    async def open(
        cls,
        work_dir: Path,
        log_dir: Path,
        *,
        temporal_address: str | None,
        database_url: str | None,
        namespace: str,
    ) -> Infra:
        server = postgres = None
        drop = None
        try:
            if temporal_address is None:
                server = await asyncio.to_thread(
                    TemporalServer.start,
                    port=free_port(),
                    ui_port=None,
                    db_file=None,
                    log_file=log_dir / "temporal.log",
                    extra_args=SERVER_ARGS,
                )
                temporal_address = server.address
            name = f"waypost_bench_{uuid.uuid4().hex[:8]}"
            if database_url is None:
                postgres = await asyncio.to_thread(EmbeddedPostgres.start, work_dir / "pgdata")
                url = postgres.database_url(name)
            else:
                head, _, query = database_url.partition("?")
                url = f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
                drop = name
            await db.ensure_database(url)
            await db.migrate(url)
        except BaseException:
            if server is not None:
                server.stop()
            if postgres is not None:
                postgres.stop()
            raise
        return cls(temporal_address, url, namespace, log_dir, server, postgres, drop)

    async def ready(self, client: Client) -> None:
        if self.server is None:  # ours registers them at start
            await ensure_search_attributes(client, self.namespace)

    async def close(self) -> None:
        if self.drop_database is not None:
            admin = await asyncpg.connect(self.database_url.replace(self.drop_database, "postgres"))
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.drop_database}" WITH (FORCE)')
            finally:
                await admin.close()
        if self.postgres is not None:
            await asyncio.to_thread(self.postgres.stop)
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)


@dataclass
class Proc:
    """A child process with its output in a log file; stopped with SIGTERM, then SIGKILL."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                self.args,
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us; we stop them in order
            )

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}; see {self.log_file}"
            )

    def rss_mib(self) -> float:
        return rss_bytes(self.pid) / 2**20

    async def stop(self, grace: float = 30.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            if proc is not None:
                proc.wait()
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)


def worker_proc(kind: str, infra: Infra, task_queue: str, tag: str) -> Proc:
    """Waypost's worker (`kind` "waypost") or the floor's ("baseline") on `task_queue`."""
    args = (
        [sys.executable, str(ROOT / "worker.py")]
        if kind == "waypost"
        else [sys.executable, "-m", "bench.baseline_worker"]
    )
    env = {
        "WAYPOST_TEMPORAL_ADDRESS": infra.temporal_address,
        "WAYPOST_NAMESPACE": infra.namespace,
        "DATABASE_URL": infra.database_url,
        "WAYPOST_TASK_QUEUE": task_queue,
        "WAYPOST_LOG_FORMAT": "json",
        "WAYPOST_LOG_LEVEL": "warning",
    }
    return Proc(f"{kind} worker ({tag})", args, env, infra.log_dir / f"{tag}-{kind}-worker.log")


async def wait_polling(client: Client, namespace: str, task_queue: str, proc: Proc) -> float:
    """Wait until `proc` polls `task_queue` for workflow tasks; seconds since it started.

    Pollers are told apart by identity (`<pid>@<host>`), so a restarted worker is not mistaken
    for the one before it.
    """
    request = DescribeTaskQueueRequest(
        namespace=namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = time.monotonic() + 120
    while True:
        proc.check()
        described = await client.workflow_service.describe_task_queue(request)
        if any(p.identity.startswith(f"{proc.pid}@") for p in described.pollers):
            return time.monotonic() - proc.started_at
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} never polled {task_queue}; see {proc.log_file}")
        await asyncio.sleep(0.05)


def api_proc(infra: Infra, task_queue: str, port: int, token: str, secret: str) -> Proc:
    """`waypost api` on `port`, as it runs in production (its own process and inbox relay)."""
    args = [sys.executable, "-c", "from starter.cli.main import main; main()", "api"]
    args += ["--port", str(port)]
    env = {
        "WAYPOST_TEMPORAL_ADDRESS": infra.temporal_address,
        "WAYPOST_NAMESPACE": infra.namespace,
        "DATABASE_URL": infra.database_url,
        "WAYPOST_TASK_QUEUE": task_queue,
        "WAYPOST_API_TOKEN": token,
        "WAYPOST_WEBHOOK_SECRET": secret,
        "WAYPOST_LOG_FORMAT": "json",
        "WAYPOST_LOG_LEVEL": "warning",
    }
    return Proc("api", args, env, infra.log_dir / "api.log")


async def wait_serving(url: str, token: str, proc: Proc) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            proc.check()
            with contextlib.suppress(httpx.HTTPError):
                await http.get(f"{url}/healthz", headers={"Authorization": f"Bearer {token}"})
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API never answered at {url}; see {proc.log_file}")
            await asyncio.sleep(0.05)
