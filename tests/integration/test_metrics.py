"""Metrics, scraped as Prometheus would: a `python worker.py` process's exporter (the SDK's
metrics and Waypost's counters) and the API's `/metrics`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from devtools.infra import free_port
from runtime.metrics import JOURNEY_EVENTS, OUTBOX_DELIVERED, PLAYS_STARTED
from runtime.settings import Settings
from starter.api.app import create_app
from starter.api.serve import running
from starter.journeys import send_event
from store.tasks import list_tasks
from tests.helpers import Journeys, champion, contact_left, measured, state_of
from tests.waiting import eventually
from workflows.journey import names
from workflows.models import Account
from workflows.policy import Policy

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-test-token"

Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse(text: str) -> Samples:
    """Prometheus text → {sample name: [(labels, value)]}, counters without `_total` (the
    parser adds it to the SDK's counters, which are exported without; the API's have it)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            name = s.name.removesuffix("_total") if family.type == "counter" else s.name
            samples.setdefault(name, []).append((dict(s.labels), s.value))
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for seen, value in samples.get(name, [])
        if all(seen.get(k) == v for k, v in labels.items())
    )


@pytest.fixture
def metrics_worker(
    temporal_address: str, database_url: str, task_queue: str, tmp_path: Path
) -> Iterator[tuple[str, Path]]:
    """`python worker.py` with its metrics exporter on a free port: (metrics URL, log file)."""
    port = free_port()
    log_file = tmp_path / "worker.log"
    env = {
        **os.environ,
        "WAYPOST_TEMPORAL_ADDRESS": temporal_address,
        "DATABASE_URL": database_url,
        "WAYPOST_TASK_QUEUE": task_queue,
        "WAYPOST_LOG_FORMAT": "json",
        "WAYPOST_METRICS_PORT": str(port),
        "WAYPOST_METRICS_HOST": "127.0.0.1",
    }
    with log_file.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    yield f"http://127.0.0.1:{port}/metrics", log_file
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log_file.read_text()[-3000:]


async def _scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    async with httpx.AsyncClient(timeout=5) as http:
        r = await http.get(url, headers=headers)
        r.raise_for_status()
        return parse(r.text)


async def _logged(log_file: Path, text: str) -> bool:
    return text in await asyncio.to_thread(log_file.read_text)


async def test_the_worker_exports_sdk_metrics_and_waypost_counters(
    client: Client,
    pool: asyncpg.Pool,
    task_queue: str,
    journeys: Journeys,
    make_account: Callable[..., Account],
    metrics_worker: tuple[str, Path],
) -> None:
    url, log_file = metrics_worker
    await eventually(lambda: _logged(log_file, "worker running"), bool, what="the worker")
    account = make_account(contacts=(champion("m", name="Mo"),))
    await journeys.start(account, day_seconds=5.0)

    now = datetime.now(UTC)
    fresh = measured("support", 80, at=now, event_id="crm-1")
    events = [
        (names.HEALTH_MEASURED, fresh),
        (names.HEALTH_MEASURED, fresh),  # redelivered: a duplicate
        (names.HEALTH_MEASURED, measured("support", 10, at=now - timedelta(days=1))),  # stale
        (names.KEY_CONTACT_CHANGED, contact_left("m-champion", at=now)),
    ]
    for kind, event in events:
        await send_event(client, account.account_id, kind, event)
    await eventually(
        lambda: state_of(client, account),
        lambda s: (
            s.ledger.applied + s.ledger.duplicates + s.ledger.stale == 4 and bool(s.play_runs)
        ),
        what="all four events handled and the play started",
    )
    await eventually(
        lambda: list_tasks(pool, account_id=account.account_id, status=None),
        bool,
        what="the play's first task",
    )

    mine = {"task_queue": task_queue}
    samples = await eventually(
        lambda: _scrape(url),
        lambda s: total(s, OUTBOX_DELIVERED) >= 1 and total(s, PLAYS_STARTED, **mine) >= 1,
        what="the worker's counters",
    )
    # The SDK's own metrics: task latencies, slots, polls.
    assert any(name.startswith("temporal_") for name in samples), sorted(samples)[:20]
    assert total(samples, "temporal_workflow_task_execution_latency_count", **mine) > 0
    assert total(samples, "temporal_activity_execution_latency_count", **mine) > 0
    # Waypost's, counted in workflow code: each real event once, replays never.
    assert total(samples, PLAYS_STARTED, play="new_stakeholder", **mine) == 1
    verdicts = {
        v: total(samples, JOURNEY_EVENTS, verdict=v, **mine)
        for v in ("apply", "duplicate", "stale")
    }
    assert verdicts == {"apply": 2, "duplicate": 1, "stale": 1}
    assert total(samples, JOURNEY_EVENTS, kind="key_contact_changed", **mine) == 1


async def test_the_api_serves_metrics_behind_its_token(
    client: Client,
    pool: asyncpg.Pool,
    task_queue: str,
    policy: Policy,
    make_account: Callable[..., Account],
) -> None:
    # An open task already overdue (due yesterday) and one not yet due.
    account = make_account()
    async with pool.acquire() as conn:
        for step, due in (("late", -1), ("later", 30)):
            await conn.execute(
                """INSERT INTO tasks (idempotency_key, play_id, account_id, step, title,
                                      assignee_role, csm, due_at)
                   VALUES ($1, $2, $3, $4, $5, 'csm', 'dana',
                           now() + make_interval(days => $6))""",
                f"metrics-test/{account.account_id}/{step}",
                f"play-{account.account_id}-metrics",
                account.account_id,
                step,
                f"Task {step}",
                due,
            )
    settings = Settings(api_token=TOKEN, webhook_secret="s", task_queue=task_queue)
    app = create_app(settings, client, pool, run_relay=False)
    async with running(app) as base:
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            assert (await http.get("/metrics")).status_code == 401
            bad = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert bad.status_code == 401
            assert bad.json()["error"] == "unauthorized"
            await http.get(f"/accounts/{account.account_id}", headers=_auth())

        samples = await _scrape(f"{base}/metrics", _auth())

    assert total(samples, "waypost_tasks_overdue") >= 1
    assert total(samples, "waypost_tasks_open") >= 2
    assert total(samples, "waypost_database_up") == 1
    assert {labels["status"] for labels, _ in samples["waypost_inbox_events"]} == {
        "pending",
        "parked",
    }
    # Requests are counted by route template, never by the account in the path.
    assert (
        total(samples, "waypost_http_requests", route="/accounts/{account_id}", method="GET") == 1
    )
    assert total(samples, "waypost_http_requests", route="/metrics", status="401") == 2
    assert not any(
        account.account_id in labels.get("route", "")
        for labels, _ in samples["waypost_http_requests"]
    )
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM tasks WHERE account_id = $1", account.account_id)


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
