"""The HTTP API against the real Temporal dev server and Postgres: contracts, signed webhooks,
the inbox (duplicates, out of order, parked, ended journeys) and Temporal going away."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from devtools.infra import TemporalServer, free_port
from runtime.settings import Settings
from runtime.temporal import connect
from starter.api.app import create_app
from starter.api.client import ApiClient
from starter.api.deps import ApiOptions
from starter.api.serve import running
from starter.ingress import inbox
from starter.ingress.inbox import relay_once
from starter.journeys import JourneyError, end_journey, journey_state, start_journey
from starter.tasks import TaskNotFound
from tests.helpers import Journeys, http_to, state_of
from tests.waiting import eventually
from worker import build_worker
from workflows.journey.state import JourneyState
from workflows.journey.workflow import journey_id
from workflows.models import Account, Contact
from workflows.policy import Policy

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-api-token"
SECRET = "events-secret-current"
PREVIOUS = "events-secret-previous"
HUBSPOT_SECRET = "hubspot-client-secret"
PUBLIC = "https://waypost.example.com"
DAY = 1.0  # journeys stay quiet while a test talks to them
AUTH = {"Authorization": f"Bearer {TOKEN}"}


OPTIONS = ApiOptions(delivery_timeout=1.0, temporal_timeout=3.0)


def _settings(task_queue: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "api_token": TOKEN,
        "webhook_secret": SECRET,
        "webhook_secret_previous": PREVIOUS,
        "hubspot_client_secret": HUBSPOT_SECRET,
        "public_base_url": PUBLIC,
        "task_queue": task_queue,
        "policy_file": ROOT / "policies" / "default.yaml",
        "day_seconds": DAY,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def api(
    client: Client, pool: asyncpg.Pool, task_queue: str, worker: object
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(_settings(task_queue), client, pool, options=OPTIONS, run_relay=False)
    async with http_to(app) as http:
        yield http


# ---- signing, written out from the rules ---------------------------------------------------------


def _signed(body: bytes, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    ts = str(int(time.time() if at is None else at))
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Waypost-Timestamp": ts,
        "X-Waypost-Signature": f"sha256={mac}",
        "Content-Type": "application/json",
    }


def _hubspot_signed(body: bytes, path: str = "/webhooks/hubspot") -> dict[str, str]:
    ts = str(int(time.time() * 1000))
    source = "POST" + PUBLIC + path + body.decode() + ts
    mac = hmac.new(HUBSPOT_SECRET.encode(), source.encode(), hashlib.sha256).digest()
    return {
        "X-HubSpot-Signature-v3": base64.b64encode(mac).decode(),
        "X-HubSpot-Request-Timestamp": ts,
        "Content-Type": "application/json",
    }


def _health(
    account_id: str, value: float, *, at: datetime | None = None, event_id: str | None = None
) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "kind": "health_measured",
        "event": {
            "event_id": event_id or f"ev-{uuid.uuid4().hex[:12]}",
            "occurred_at": (at or datetime.now(UTC)).isoformat(),
            "measure": "support",
            "value": value,
        },
    }


async def _post_events(
    http: httpx.AsyncClient, payload: Any, secret: str = SECRET
) -> httpx.Response:
    body = json.dumps(payload).encode()
    return await http.post("/webhooks/events", content=body, headers=_signed(body, secret))


def _contract(account: Account, **extra: Any) -> dict[str, Any]:
    return {"account": account.model_dump(mode="json"), **extra}


async def _inbox(pool: asyncpg.Pool, account_id: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return list(
            await conn.fetch(
                "SELECT * FROM inbox_events WHERE account_id = $1 ORDER BY id", account_id
            )
        )


async def _count(pool: asyncpg.Pool, table: str) -> int:
    async with pool.acquire() as conn:
        n: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return n


async def _applied(client: Client, account_id: str, n: int) -> JourneyState:
    return await eventually(
        lambda: state_of(client, account_id),
        lambda s: s.ledger.applied >= n,
        what=f"{n} events applied",
    )


# ---- contracts and reads -------------------------------------------------------------------------


async def test_a_contract_starts_one_journey_and_a_different_one_conflicts(
    api: httpx.AsyncClient, client: Client, journeys: Journeys, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    journeys.adopt(account.account_id)
    first = await api.post("/contracts", json=_contract(account), headers=AUTH)
    assert first.status_code == 201, first.text
    assert first.json()["created"] is True
    again = await api.post("/contracts", json=_contract(account), headers=AUTH)
    assert again.status_code == 200, again.text
    assert again.json()["created"] is False
    assert again.json()["run_id"] == first.json()["run_id"]

    other = account.model_copy(update={"contract_end": account.contract_end + timedelta(days=365)})
    conflict = await api.post("/contracts", json=_contract(other), headers=AUTH)
    assert conflict.status_code == 409, conflict.text
    body = conflict.json()
    assert body["error"] == "conflict"
    assert [f["path"] for f in body["fields"]] == ["account.contract_end"]
    assert "already running" in body["detail"]

    state = await api.get(f"/accounts/{account.account_id}", headers=AUTH)
    assert state.status_code == 200
    assert state.json()["account_id"] == account.account_id
    assert state.json()["day_seconds"] == DAY  # WAYPOST_DAY_SECONDS, not the contract's
    timeline = await eventually(
        lambda: api.get(f"/accounts/{account.account_id}/timeline", headers=AUTH),
        lambda r: any(e["kind"] == "journey_started" for e in r.json()["events"]),
        what="journey_started on the timeline",
    )
    # Each event says when it happened in the journey and when Postgres wrote it down.
    assert all({"occurred_at", "recorded_at"} <= e.keys() for e in timeline.json()["events"])
    assert timeline.status_code == 200


async def test_contract_errors_name_the_field(
    api: httpx.AsyncClient, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    bad = _contract(account)
    bad["account"]["seats"] = 0
    r = await api.post("/contracts", json=bad, headers=AUTH)
    assert r.status_code == 422
    assert [f["path"] for f in r.json()["fields"]] == ["account.seats"]

    # Compressed time is the deployment's setting, never a contract's.
    r = await api.post("/contracts", json=_contract(account, day_seconds=0.5), headers=AUTH)
    assert r.status_code == 422
    assert [f["path"] for f in r.json()["fields"]] == ["day_seconds"]

    r = await api.post("/contracts", json=_contract(account, policy="no-such"), headers=AUTH)
    assert r.status_code == 422
    assert r.json()["fields"][0]["path"] == "policy"
    assert "risk-management" in r.json()["fields"][0]["message"]

    r = await api.post("/contracts", json=_contract(account, policy="../etc/passwd"), headers=AUTH)
    assert r.status_code == 422
    assert r.json()["fields"][0]["path"] == "policy"


async def test_protected_routes_need_the_bearer_token(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, task_queue: str
) -> None:
    for method, path in [
        ("GET", "/accounts/acme"),
        ("GET", "/accounts/acme/timeline"),
        ("GET", "/tasks"),
        ("POST", "/tasks/t1/done"),
        ("GET", "/healthz"),
        ("POST", "/contracts"),
    ]:
        missing = await api.request(method, path)
        assert missing.status_code == 401, (path, missing.text)
        assert missing.json()["error"] == "unauthorized"
        wrong = await api.request(method, path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401

    unknown = await api.get("/accounts/nobody-here", headers=AUTH)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "unknown_account"
    health = await api.get("/healthz", headers=AUTH)
    assert health.status_code == 200
    assert health.json()["postgres"] == "ok"
    assert health.json()["temporal"] == "ok"

    closed = create_app(
        _settings(task_queue, api_token=None), client, pool, options=OPTIONS, run_relay=False
    )
    async with http_to(closed) as http:
        r = await http.get("/healthz", headers=AUTH)
        assert r.status_code == 503
        assert r.json()["error"] == "not_configured"


class _Tasks:
    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {
            "t1": {"task_id": "t1", "status": "open", "account_id": "acme"}
        }

    async def list_tasks(
        self, *, account_id: str | None, status: str | None, csm: str | None, overdue: bool
    ) -> list[dict[str, Any]]:
        return [t for t in self.tasks.values() if status is None or t["status"] == status]

    async def mark_done(self, task_id: str, *, by: str | None) -> dict[str, Any]:
        if task_id not in self.tasks:
            raise TaskNotFound(task_id)
        self.tasks[task_id] = {**self.tasks[task_id], "status": "done", "by": by}
        return self.tasks[task_id]


async def test_tasks_routes_use_the_task_store_and_say_when_there_is_none(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, task_queue: str
) -> None:
    none = await api.get("/tasks", headers=AUTH)
    assert none.status_code == 200
    assert none.json()["tasks"] == []
    assert "no task store" in none.json()["note"]
    missing = await api.post("/tasks/t1/done", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"] == "unknown_task"

    app = create_app(
        _settings(task_queue), client, pool, options=OPTIONS, tasks=_Tasks(), run_relay=False
    )
    async with http_to(app) as http:
        listed = await http.get("/tasks", params={"status": "open"}, headers=AUTH)
        assert [t["task_id"] for t in listed.json()["tasks"]] == ["t1"]
        done = await http.post("/tasks/t1/done", json={"by": "dana"}, headers=AUTH)
        assert done.status_code == 200
        assert done.json()["status"] == "done"
        assert (await http.post("/tasks/t9/done", headers=AUTH)).status_code == 404
        bad = await http.get("/tasks", params={"overdue": "maybe"}, headers=AUTH)
        assert bad.status_code == 422
        assert bad.json()["fields"][0]["path"] == "overdue"


# ---- generic events ------------------------------------------------------------------------------


async def test_an_event_is_delivered_and_its_duplicate_changes_nothing(
    api: httpx.AsyncClient,
    client: Client,
    pool: asyncpg.Pool,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    account = make_account()
    journeys.adopt(account.account_id)
    assert (await api.post("/contracts", json=_contract(account), headers=AUTH)).is_success
    event = _health(account.account_id, 55)
    body = json.dumps(event).encode()
    headers = _signed(body)

    first = await api.post("/webhooks/events", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["results"][0]["status"] == "delivered"
    state = await _applied(client, account.account_id, 1)
    assert state.measures["support"].value == 55

    # The very same request again (a CRM retry, or a replay inside the window).
    replay = await api.post("/webhooks/events", content=body, headers=headers)
    assert replay.status_code == 200
    assert replay.json()["results"][0]["status"] == "duplicate"
    rows = await _inbox(pool, account.account_id)
    assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 1)]
    again = await state_of(client, account.account_id)
    assert (again.ledger.applied, again.ledger.duplicates) == (1, 0)

    # Signed with the previous secret during a rotation: accepted.
    rotated = await _post_events(api, _health(account.account_id, 60), secret=PREVIOUS)
    assert rotated.status_code == 200, rotated.text


async def test_out_of_order_events_end_as_the_in_order_stream_would(
    api: httpx.AsyncClient, client: Client, journeys: Journeys, make_account: Callable[..., Account]
) -> None:
    account = make_account()
    journeys.adopt(account.account_id)
    assert (await api.post("/contracts", json=_contract(account), headers=AUTH)).is_success
    now = datetime.now(UTC)
    # Within one request the inbox delivers oldest first, so a batch is put in order...
    batch = await _post_events(
        api,
        [
            _health(account.account_id, 60, at=now - timedelta(hours=1)),
            _health(account.account_id, 50, at=now - timedelta(hours=2)),
        ],
    )
    assert batch.status_code == 200, batch.text
    assert [r["status"] for r in batch.json()["results"]] == ["delivered", "delivered"]
    await _applied(client, account.account_id, 2)
    # ...and across requests the journey refuses what is older than what it applied.
    assert (await _post_events(api, _health(account.account_id, 80, at=now))).is_success
    late = await _post_events(api, _health(account.account_id, 20, at=now - timedelta(hours=3)))
    assert late.json()["results"][0]["status"] == "delivered"
    state = await eventually(
        lambda: state_of(client, account.account_id),
        lambda s: s.ledger.applied + s.ledger.stale >= 4,
        what="every event seen",
    )
    assert state.ledger.applied == 3
    assert state.measures["support"].value == 80
    assert state.ledger.stale == 1


async def test_an_event_before_its_journey_is_parked_then_delivered_on_start(
    api: httpx.AsyncClient,
    client: Client,
    pool: asyncpg.Pool,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    account = make_account()
    journeys.adopt(account.account_id)
    early = await _post_events(api, _health(account.account_id, 42))
    assert early.status_code == 202, early.text
    result = early.json()["results"][0]
    assert result["status"] == "parked"
    assert "journey" in result["detail"]
    assert [r["status"] for r in await _inbox(pool, account.account_id)] == ["parked"]
    with pytest.raises(JourneyError) as no_journey:
        await journey_state(client, account.account_id)  # no journey was created from it
    assert no_journey.value.kind == "unknown_account"

    started = await api.post("/contracts", json=_contract(account), headers=AUTH)
    assert started.status_code == 201
    assert started.json()["parked_delivered"] == 1
    state = await _applied(client, account.account_id, 1)
    assert state.measures["support"].value == 42
    assert [r["status"] for r in await _inbox(pool, account.account_id)] == ["delivered"]


async def test_an_event_for_an_ended_journey_is_recorded_and_never_retried(
    api: httpx.AsyncClient,
    client: Client,
    pool: asyncpg.Pool,
    make_account: Callable[..., Account],
) -> None:
    account = make_account()
    assert (await api.post("/contracts", json=_contract(account), headers=AUTH)).is_success
    await end_journey(client, account.account_id, "churned", "the customer left")
    await client.get_workflow_handle(journey_id(account.account_id)).result()

    late = await _post_events(api, _health(account.account_id, 10))
    assert late.status_code == 200, late.text
    result = late.json()["results"][0]
    assert result["status"] == "journey_closed"
    assert "ended" in result["detail"]
    assert [r["status"] for r in await _inbox(pool, account.account_id)] == ["rejected_closed"]
    await relay_once(pool, client, account_ids=[account.account_id], ignore_backoff=True)
    assert [r["attempts"] for r in await _inbox(pool, account.account_id)] == [1]


# ---- bad input -----------------------------------------------------------------------------------


async def test_bad_input_is_refused_with_the_field_and_never_a_500(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    rejects = await _count(pool, "inbox_rejects")
    inbox = await _count(pool, "inbox_events")

    malformed = b'{"account_id": "acme", "kind": '
    r = await api.post("/webhooks/events", content=malformed, headers=_signed(malformed))
    assert r.status_code == 400
    assert r.json()["error"] == "malformed_json"
    assert "line 1" in r.json()["detail"]

    wrong = _health("acme", 140)
    r = await _post_events(api, wrong)
    assert r.status_code == 422
    assert r.json()["fields"] == [
        {"path": "event.value", "message": "Input should be less than or equal to 100"}
    ]
    r = await _post_events(api, [_health("acme", 1), {**_health("acme", 1), "kind": "nope"}])
    assert r.status_code == 422
    assert r.json()["fields"][0]["path"] == "[1].kind"
    assert await _count(pool, "inbox_rejects") == rejects + 3  # kept for inspection

    # Unsigned, wrongly signed, stale or future: 401 and nothing written.
    body = json.dumps(_health("acme", 50)).encode()
    for headers, kind in [
        ({"Content-Type": "application/json"}, "missing_signature"),
        (_signed(body, secret="guess"), "bad_signature"),
        (_signed(body, at=time.time() - 400), "stale_timestamp"),
        (_signed(body, at=time.time() + 400), "future_timestamp"),
        (_signed(b"{}"), "bad_signature"),
    ]:
        r = await api.post("/webhooks/events", content=body, headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["error"] == kind
    garbage = b"not json at all"
    r = await api.post("/webhooks/events", content=garbage, headers={"X-Waypost-Signature": "x"})
    assert r.status_code == 401  # the signature is checked before the body is read as JSON
    assert await _count(pool, "inbox_rejects") == rejects + 3
    assert await _count(pool, "inbox_events") == inbox

    huge = b"[" + b"1," * (130 * 1024) + b"1]"
    r = await api.post("/webhooks/events", content=huge, headers={"X-Waypost-Signature": "x"})
    assert r.status_code == 413
    assert r.json()["error"] == "body_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(300):
            yield b" " * 1024

    r = await api.post("/webhooks/hubspot", content=chunks())  # streamed: no Content-Length
    assert r.status_code == 413

    assert (await api.get("/nowhere")).status_code == 404
    r = await api.get("/webhooks/events")
    assert r.status_code == 405
    assert r.json()["error"] == "method_not_allowed"
    r = await api.get("/accounts/Not An Id", headers=AUTH)
    assert r.status_code == 422
    assert r.json()["fields"][0]["path"] == "account_id"


async def test_postgres_away_is_503_and_nothing_is_accepted(
    client: Client, task_queue: str
) -> None:
    nowhere = f"postgresql://waypost@127.0.0.1:{free_port()}/waypost"
    async with asyncpg.create_pool(nowhere, min_size=0) as away:
        app = create_app(_settings(task_queue), client, away, options=OPTIONS, run_relay=False)
        async with http_to(app) as http:
            r = await _post_events(http, _health("acme", 50))
            assert r.status_code == 503
            assert r.json()["error"] == "unavailable"
            assert "nothing was accepted" in r.json()["detail"]
            health = await http.get("/healthz", headers=AUTH)
            assert health.status_code == 503
            assert health.json()["status"] == "down"


# ---- HubSpot -------------------------------------------------------------------------------------


def _hubspot_event(event_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionId": 7,
        "portalId": 62515,
        "occurredAt": int(time.time() * 1000),
        "attemptNumber": 0,
        **fields,
    }


async def test_hubspot_events_are_verified_mapped_and_parked_until_linked(
    api: httpx.AsyncClient,
    client: Client,
    pool: asyncpg.Pool,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    company = str(uuid.uuid4().int % 10**12)
    contact = Contact(contact_id="jane", name="Jane", persona="executive_sponsor", key=True)
    account = make_account(contacts=(contact,))
    journeys.adopt(account.account_id)
    base = int(uuid.uuid4().int % 10**9)
    payload = [
        _hubspot_event(
            base,
            subscriptionType="company.propertyChange",
            objectId=int(company),
            propertyName="waypost_health_sentiment",
            propertyValue="35",
        ),
        _hubspot_event(
            base + 1,
            subscriptionType="company.propertyChange",
            objectId=int(company),
            propertyName="name",
            propertyValue="Acme Inc",
        ),
    ]
    body = json.dumps(payload).encode()
    r = await api.post("/webhooks/hubspot", content=body, headers=_hubspot_signed(body))
    assert r.status_code == 202, r.text
    assert [x["status"] for x in r.json()["results"]] == ["parked", "ignored"]
    assert "not linked" in r.json()["results"][0]["detail"]

    # The internal URL is not what HubSpot signed: without the public base URL it fails.
    stale_base = {**_hubspot_signed(body), "X-HubSpot-Signature-v3": "AAAA"}
    assert (
        await api.post("/webhooks/hubspot", content=body, headers=stale_base)
    ).status_code == 401

    hubspot = {"company_id": company, "contacts": {"501": "jane"}}
    started = await api.post("/contracts", json=_contract(account, hubspot=hubspot), headers=AUTH)
    assert started.status_code == 201, started.text
    assert started.json()["parked_delivered"] == 1
    state = await _applied(client, account.account_id, 1)
    assert state.measures["sentiment"].value == 35

    left = [
        _hubspot_event(
            base + 2,
            subscriptionType="contact.associationChange",
            fromObjectId=501,
            toObjectId=int(company),
            associationType="CONTACT_TO_COMPANY",
            associationRemoved=True,
        )
    ]
    body = json.dumps(left).encode()
    r = await api.post("/webhooks/hubspot", content=body, headers=_hubspot_signed(body))
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["status"] == "delivered"
    state = await _applied(client, account.account_id, 2)
    jane = next(c for c in state.contacts if c.contact_id == "jane")
    assert not jane.present
    assert jane.persona == "executive_sponsor"


async def test_served_by_uvicorn_with_the_demo_client(
    client: Client,
    pool: asyncpg.Pool,
    task_queue: str,
    worker: object,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    app = create_app(_settings(task_queue), client, pool, options=OPTIONS)  # relay on
    account = make_account()
    journeys.adopt(account.account_id)
    async with running(app) as url, ApiClient(url, token=TOKEN, webhook_secret=SECRET) as api:
        started = await api.post_contract(account)
        assert started["created"] is True
        event = _health(account.account_id, 64)
        event["event"]["occurred_at"] = datetime.now(UTC)  # the client serialises datetimes
        [result] = await api.send_events([event])
        assert result["status"] == "delivered"
    state = await _applied(client, account.account_id, 1)
    assert state.measures["support"].value == 64


# ---- the relay -----------------------------------------------------------------------------------


def _incoming(account_id: str, value: float) -> inbox.Incoming:
    event = _health(account_id, value)["event"]
    return inbox.Incoming(
        source=inbox.SOURCE_EVENTS,
        event_id=event["event_id"],
        occurred_at=datetime.fromisoformat(event["occurred_at"]),
        raw=event,
        account_id=account_id,
        kind="health_measured",
        payload=event,
    )


async def test_two_relays_never_deliver_a_row_twice_and_the_relay_loop_drains_the_inbox(
    client: Client,
    pool: asyncpg.Pool,
    worker: object,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    account = make_account()
    await journeys.start(account, day_seconds=DAY)
    recorded = await inbox.record(pool, [_incoming(account.account_id, v) for v in (1, 2, 3, 4)])
    ids = [r.id for r in recorded]
    first, second = await asyncio.gather(
        inbox.deliver(pool, client, ids=ids, ignore_backoff=True),
        inbox.deliver(pool, client, ids=ids, ignore_backoff=True),
    )
    delivered = [o.id for o in [*first, *second] if o.status == "delivered"]
    assert sorted(delivered) == ids  # each row once, by one relay or the other
    state = await _applied(client, account.account_id, 4)
    assert state.ledger.duplicates == 0

    # The loop `waypost api` runs: it picks up what is due and stops when told.
    more = await inbox.record(pool, [_incoming(account.account_id, 5)])
    stop = asyncio.Event()
    relay = asyncio.create_task(inbox.run_relay(pool, client, stop=stop, interval=0.05))
    try:
        await eventually(
            lambda: _inbox(pool, account.account_id),
            lambda rows: all(r["status"] == "delivered" for r in rows) and len(rows) == 5,
            what="the relay loop delivers the new row",
        )
    finally:
        stop.set()
        await relay
    assert more[0].status == "pending"
    await _applied(client, account.account_id, 5)


# ---- Temporal away -------------------------------------------------------------------------------


async def test_events_sent_while_temporal_is_down_are_applied_once_when_it_is_back(
    pool: asyncpg.Pool,
    policy: Policy,
    make_account: Callable[..., Account],
    task_queue: str,
    tmp_path: Path,
) -> None:
    port = free_port()

    def start_server() -> TemporalServer:
        return TemporalServer.start(
            port=port, ui_port=None, db_file=tmp_path / "t.db", log_file=tmp_path / "t.log"
        )

    server = await asyncio.to_thread(start_server)
    try:
        own = await connect(server.address)
        account = make_account()
        async with build_worker(own, pool, task_queue):
            await start_journey(own, account, policy, task_queue=task_queue, day_seconds=DAY)
            await _applied(own, account.account_id, 0)
        await asyncio.to_thread(server.stop)

        app = create_app(_settings(task_queue), own, pool, options=OPTIONS, run_relay=False)
        now = datetime.now(UTC)
        events = [
            _health(account.account_id, 70, at=now - timedelta(minutes=5)),
            _health(account.account_id, 30, at=now - timedelta(minutes=1)),
            _health(account.account_id, 90, at=now - timedelta(minutes=9)),  # sent last, oldest
        ]
        async with http_to(app) as http:
            for event in events:
                r = await _post_events(http, event)
                assert r.status_code == 202, r.text
                assert r.json()["results"][0]["status"] == "pending"
                assert "pending delivery" in r.json()["results"][0]["detail"]
            retry = await _post_events(http, events[1])  # a CRM retry while Temporal is away
            assert retry.status_code == 200
            assert retry.json()["results"][0]["status"] == "duplicate"
        rows = await _inbox(pool, account.account_id)
        assert [r["status"] for r in rows] == ["pending"] * 3
        assert all(r["attempts"] == 1 and "TimeoutError" in r["last_error"] for r in rows)

        server = await asyncio.to_thread(start_server)
        async with build_worker(own, pool, task_queue):

            async def relay() -> list[str]:
                await relay_once(pool, own, account_ids=[account.account_id], ignore_backoff=True)
                return [r["status"] for r in await _inbox(pool, account.account_id)]

            await eventually(relay, lambda s: s == ["delivered"] * 3, what="inbox delivered")
            state = await eventually(
                lambda: state_of(own, account.account_id),
                lambda s: s.ledger.applied + s.ledger.stale >= 3,
                what="every event seen",
            )
            # Each applied once, oldest first (the relay restores the order), newest wins.
            assert (state.ledger.applied, state.ledger.stale, state.ledger.duplicates) == (3, 0, 0)
            assert state.measures["support"].value == 30
            # A second relay pass finds nothing more to do.
            assert (
                await relay_once(pool, own, ignore_backoff=True, account_ids=[account.account_id])
                == 0
            )
            # Not ended: the server is this test's own, and stops with it.
    finally:
        await asyncio.to_thread(server.stop)
