"""The processes a bench run drives: Temporal, Postgres, Waypost's worker and API, the floor's
worker, and py-spy attached to them.

Workers run as processes of their own (`python worker.py`, `python -m bench.baseline_worker`),
so their RSS is theirs alone and they can be restarted. Each process's output goes to a log
file under the run's log folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from starter import db
from starter.devinfra import (
    EmbeddedPostgres,
    TemporalServer,
    ensure_search_attributes,
    free_port,
    temporal_binary,
)

ROOT = Path(__file__).resolve().parent.parent

# The dev server's defaults, raised where they would cap a single-machine benchmark rather than
# measure it (visibility queries drive the floor's completion check).
SERVER_ARGS = ("--dynamic-config-value", "frontend.namespaceRPS.visibility=1000")

_psutil: Any = importlib.import_module("psutil")  # untyped; only Process().memory_info()


def rss_bytes(pid: int) -> int:
    return int(_psutil.Process(pid).memory_info().rss)


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
    args = [sys.executable, "-c", "from starter.cli import main; main()", "api"]
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


@dataclass
class Profiler:
    """py-spy attached to a process for one phase: sampling only the thread holding the GIL
    (Python's CPU time, idle waits left out), non-blocking (it never pauses the process)."""

    enabled: bool
    out_dir: Path
    rate: int = 50
    running: list[tuple[subprocess.Popen[bytes], str, str, Path]] = field(default_factory=list)

    @staticmethod
    def binary() -> str | None:
        beside = Path(sys.executable).parent / "py-spy"
        return str(beside) if beside.exists() else shutil.which("py-spy")

    def attach(self, proc: Proc, phase: str) -> None:
        spy = self.binary()
        if not self.enabled or spy is None or not proc.alive():
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        slug = proc.name.split(" (")[0].replace(" ", "-")
        out = self.out_dir / f"{phase}-{slug}.txt"
        args = [spy, "record", "--pid", str(proc.pid), "--rate", str(self.rate)]
        args += ["--gil", "--nonblocking", "--format", "raw", "--output", str(out)]
        log = (self.out_dir / f"{phase}-{slug}.log").open("ab")
        with log:
            spy_proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.running.append((spy_proc, proc.name, phase, out))

    async def detach(self) -> list[tuple[str, str, Path]]:
        """Stop every py-spy (it writes its file on SIGINT); (process, phase, file) each."""
        done = []
        for spy_proc, name, phase, out in self.running:
            if spy_proc.poll() is None:
                spy_proc.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(spy_proc.wait, 30)
            except subprocess.TimeoutExpired:
                spy_proc.kill()
                await asyncio.to_thread(spy_proc.wait)
            if out.exists():
                done.append((name, phase, out))
        self.running.clear()
        return done


def _cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU seconds of a process (and its children), 0 if it is gone."""
    try:
        procs = [_psutil.Process(pid)]
        if children:
            procs += procs[0].children(recursive=True)
        total = 0.0
        for p in procs:
            try:
                times = p.cpu_times()
                total += times.user + times.system
            except _psutil.Error:
                continue
        return total
    except _psutil.Error:
        return 0.0


def _machine_busy_seconds() -> float:
    times = _psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


@dataclass
class CpuMeter:
    """CPU seconds each process spent during a phase, and the whole machine's.

    "others" is what the machine spent beyond the processes named: on a shared machine, the
    load this run competed with.
    """

    pids: dict[str, tuple[int, bool]]  # name -> (pid, include children)
    start: dict[str, float] = field(default_factory=dict)
    machine_start: float = 0.0
    t0: float = 0.0

    def __post_init__(self) -> None:
        self.start = {n: _cpu_seconds(p, children=c) for n, (p, c) in self.pids.items()}
        self.machine_start = _machine_busy_seconds()
        self.t0 = time.monotonic()

    def ms_per_item(self, items: int) -> dict[str, float]:
        spent = {n: _cpu_seconds(p, children=c) - self.start[n] for n, (p, c) in self.pids.items()}
        spent["others"] = max(
            0.0, _machine_busy_seconds() - self.machine_start - sum(spent.values())
        )
        out = {n: round(1000 * s / max(1, items), 2) for n, s in spent.items()}
        cores = os.cpu_count() or 1
        wall = max(1e-9, time.monotonic() - self.t0)
        out["machine_busy_percent"] = round(
            100 * (_machine_busy_seconds() - self.machine_start) / (wall * cores), 1
        )
        return out


def postmaster_pid(postgres: EmbeddedPostgres | None) -> int | None:
    if postgres is None:
        return None
    pid_file = postgres.pgdata / "postmaster.pid"
    try:
        return int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
