"""Never a 500 for bad input: schemathesis generates requests from the OpenAPI schema, valid
and invalid, signs the webhooks as a CRM would (so bodies get past the signature check) and
sends the bearer token elsewhere, and every answer must be below 500.

The app runs in-process (schemathesis's ASGI transport, on its own event loop thread), with its
own Postgres pool and Temporal client made in its lifespan; a worker on another thread runs the
journeys that generated contracts start, so reading them never waits for a worker that is not
there. Both are ended when the module is done. (Hypothesis is driven directly from each
operation's strategy: schemathesis's lazy pytest fixture loader does not run on pytest 9.)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core import NotSet
from schemathesis.core.result import Ok
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.schemas import BaseSchema

from runtime.settings import Settings
from runtime.temporal import connect
from starter.api.app import create_app
from starter.api.deps import ApiOptions
from worker import build_worker

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "schemathesis-token"
SECRET = "schemathesis-events-secret"
HUBSPOT_SECRET = "schemathesis-hubspot-secret"
BASE = "http://testserver"


class _WorkerThread:
    """A Temporal worker on its own thread and event loop, for the journeys the run starts."""

    def __init__(self, address: str, database_url: str, task_queue: str) -> None:
        self.address, self.database_url, self.task_queue = address, database_url, task_queue
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.stop: asyncio.Event | None = None

    def __enter__(self) -> _WorkerThread:
        self.thread.start()
        ready = threading.Event()
        self.done = asyncio.run_coroutine_threadsafe(self._run(ready), self.loop)
        if not ready.wait(30):
            self.done.result(timeout=1)  # raises what went wrong
            raise AssertionError("the schemathesis worker did not start in 30 s")
        return self

    async def _run(self, ready: threading.Event) -> None:
        self.stop = asyncio.Event()
        client = await connect(self.address)
        async with asyncpg.create_pool(self.database_url, min_size=1, max_size=4) as pool:
            async with build_worker(client, pool, self.task_queue):
                ready.set()
                await self.stop.wait()
            query = f"TaskQueue = '{self.task_queue}' AND ExecutionStatus = 'Running'"
            async for wf in client.list_workflows(query):
                await client.get_workflow_handle(wf.id).terminate("schemathesis run over")

    def __exit__(self, *_exc: object) -> None:
        assert self.stop is not None
        self.loop.call_soon_threadsafe(self.stop.set)
        try:
            self.done.result(timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


OPERATIONS = [
    ("POST", "/contracts"),
    ("POST", "/webhooks/hubspot"),
    ("POST", "/webhooks/events"),
    ("GET", "/accounts/{account_id}"),
    ("GET", "/accounts/{account_id}/timeline"),
    ("GET", "/tasks"),
    ("POST", "/tasks/{task_id}/done"),
    ("GET", "/healthz"),
]
EXAMPLES = 25  # per operation and mode: the whole module stays well under 30 s


@pytest.fixture(scope="module")
def api_schema(temporal_address: str, database_url: str) -> Iterator[BaseSchema]:
    task_queue = f"waypost-schemathesis-{uuid.uuid4().hex[:8]}"
    settings_ = Settings.model_validate(
        {
            "api_token": TOKEN,
            "webhook_secret": SECRET,
            "HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET,
            "temporal_address": temporal_address,
            "DATABASE_URL": database_url,
            "task_queue": task_queue,
            "policy_file": ROOT / "policies" / "default.yaml",
            "day_seconds": 1.0,
        }
    )
    options = ApiOptions(delivery_timeout=2.0, temporal_timeout=5.0)
    app = create_app(settings_, options=options, run_relay=False)
    with _WorkerThread(temporal_address, database_url, task_queue):
        try:
            yield schemathesis.openapi.from_asgi("/openapi.json", app)
        finally:
            schemathesis_asgi.shutdown_lifespans()


def test_every_operation_is_covered(api_schema: BaseSchema) -> None:
    found = set()
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        found.add((result.ok().method.upper(), result.ok().path))
    assert found == set(OPERATIONS)


def _credentials(method: str, path: str, raw: bytes) -> dict[str, str]:
    """What a legitimate caller adds: a signature over the exact bytes, or the bearer token."""
    if path == "/webhooks/events":
        ts = str(int(time.time()))
        mac = hmac.new(SECRET.encode(), f"{ts}.".encode() + raw, hashlib.sha256).hexdigest()
        return {"X-Waypost-Timestamp": ts, "X-Waypost-Signature": f"sha256={mac}"}
    if path == "/webhooks/hubspot":
        ts = str(int(time.time() * 1000))
        source = f"{method}{BASE}{path}".encode() + raw + ts.encode()
        digest = hmac.new(HUBSPOT_SECRET.encode(), source, hashlib.sha256).digest()
        return {
            "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
            "X-HubSpot-Request-Timestamp": ts,
        }
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_generated_request_gets_a_server_error(
    api_schema: BaseSchema, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES * 2,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case[Any]) -> None:
        extra: dict[str, Any] = {}
        raw = b""
        if not isinstance(case.body, NotSet) and not isinstance(case.body, bytes):
            # Serialised here, so the signature covers exactly the bytes sent.
            raw = json.dumps(case.body).encode()
            extra["data"] = raw
        headers = {**dict(case.headers or {}), **_credentials(method, case.formatted_path, raw)}
        if raw:
            headers["Content-Type"] = "application/json"
        response = case.call(base_url=BASE, headers=headers, **extra)
        assert response.status_code < 500, (
            f"{method} {case.formatted_path} → {response.status_code}: {response.text[:500]}"
        )

    check()
