"""(1) start throughput beside its floor, and what the event scenarios share: starting
journeys, the CRM's events and how a load of them is sent.

Journeys use a long `day_seconds`, so their timers stay quiet while they are measured: what is
timed is starting them and applying CRM events, nothing else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from bench.actions import billable_actions
from bench.common import (
    Bench,
    make_account,
    run_pool,
    settle,
    wait_until,
)
from bench.floor import NOOP
from bench.models import Rate, StartResult
from starter.journeys import start_journey
from workflows.journey import names
from workflows.journey.messages import HealthMeasured, KeyContactChanged, UsageReported
from workflows.journey.workflow import journey_id
from workflows.models import Account

START_CONCURRENCY = 32
IN_FLIGHT = 256  # a paced load never has more than this many sends under way


def ratio(waypost: Rate, floor: Rate) -> float:
    return round(waypost.per_second / floor.per_second, 3) if floor.per_second else 0.0


async def _started(bench: Bench, account_ids: list[str]) -> int:
    async with bench.pool.acquire() as conn:
        found = await conn.fetchval(
            """SELECT count(*) FROM timeline_events
                WHERE kind = 'journey_started' AND account_id = ANY($1::text[])""",
            account_ids,
        )
    return int(found or 0)


async def start_journeys(
    bench: Bench, accounts: list[Account], queue: str, tick: Any = None
) -> float:
    """Start journeys and wait until each has recorded its start and waits on its timers;
    seconds until every start call returned."""
    t0 = time.monotonic()
    await run_pool(
        accounts,
        lambda a: start_journey(
            bench.client,
            a,
            bench.policy,
            task_queue=queue,
            day_seconds=bench.quiet_day_seconds,
        ),
        START_CONCURRENCY,
    )
    submitted = time.monotonic() - t0
    ids = [a.account_id for a in accounts]
    within = 120 + len(accounts) * 0.5
    await wait_until(
        lambda: _started(bench, ids), len(ids), within=within, what="journeys started", tick=tick
    )
    await settle(bench.client, [journey_id(i) for i in ids], completed=False, within=within)
    return submitted


async def _completed(client: Client, queue: str) -> int:
    try:
        found = await client.count_workflows(
            f"TaskQueue = '{queue}' AND ExecutionStatus = 'Completed'"
        )
    except RPCError as err:  # visibility is rate-limited (10/s by default): not yet
        if err.status != RPCStatusCode.RESOURCE_EXHAUSTED:
            raise
        return 0
    return found.count


async def history_cost(client: Client, workflow_ids: list[str]) -> tuple[float, float]:
    """Mean history events and billable actions of these workflows (a sample of a phase's)."""
    events = actions = 0
    for wid in workflow_ids:
        history = await client.get_workflow_handle(wid).fetch_history()
        events += len(history.events)
        actions += sum(billable_actions(history.events).values())
    n = max(1, len(workflow_ids))
    return round(events / n, 1), round(actions / n, 1)


async def start_throughput(bench: Bench, n: int) -> StartResult:
    client = bench.client
    async with bench.worker("baseline", "start") as proc:
        queue = proc.env["WAYPOST_TASK_QUEUE"]
        ids = [f"noop-{bench.run_id}-{i:05d}" for i in range(n)]
        with bench.steps.phase("(1) starts: no-op workflows (floor)", n) as bar:
            bench.profiler.attach(proc, "start-floor")
            meter = bench.cpu(worker=proc)
            t0 = time.monotonic()
            await run_pool(
                ids,
                lambda wid: client.start_workflow(NOOP, id=wid, task_queue=queue),
                START_CONCURRENCY,
            )
            floor_submitted = time.monotonic() - t0
            await wait_until(
                lambda: _completed(client, queue),
                n,
                within=120 + n * 0.5,
                what="no-ops",
                tick=bar.set,
                interval=0.2,
            )
            await settle(client, ids, completed=True, within=120)
            floor = Rate.of(n, time.monotonic() - t0)
            floor_cpu = meter.ms_per_item(n)
        floor_cost = await history_cost(client, ids[:: max(1, n // 5)])

    async with bench.worker("waypost", "start") as proc:
        queue = proc.env["WAYPOST_TASK_QUEUE"]
        accounts = [make_account(bench.account_id("s", i), i) for i in range(n)]
        with bench.steps.phase("(1) starts: journeys into onboarding", n) as bar:
            bench.profiler.attach(proc, "start")
            meter = bench.cpu(worker=proc)
            t0 = time.monotonic()
            submitted = await start_journeys(bench, accounts, queue, tick=bar.set)
            waypost = Rate.of(n, time.monotonic() - t0)
            waypost_cpu = meter.ms_per_item(n)
        sample = [journey_id(a.account_id) for a in accounts[:: max(1, n // 5)]]
        waypost_cost = await history_cost(client, sample)
    return StartResult(
        waypost=waypost,
        baseline=floor,
        ratio=ratio(waypost, floor),
        waypost_submitted_seconds=round(submitted, 3),
        baseline_submitted_seconds=round(floor_submitted, 3),
        waypost_cpu_ms=waypost_cpu,
        baseline_cpu_ms=floor_cpu,
        waypost_history=waypost_cost,
        baseline_history=floor_cost,
    )


@dataclass(frozen=True)
class Send:
    """One event of a load: to journey `target`, a latency probe or not."""

    seq: int
    target: int
    probe: bool


def load_plan(events: int, journeys: int, probes: int, first_probe: int = 0) -> list[Send]:
    """Events round-robin over the journeys; probes spread evenly through the load, each to a
    journey of its own (a play starts once per cause), from journey `first_probe` on."""
    every = max(1, events // max(1, probes))
    plan: list[Send] = []
    sent_probes = 0
    for i in range(events):
        plan.append(Send(len(plan), i % journeys, probe=False))
        if sent_probes < probes and i % every == every // 2:
            plan.append(Send(len(plan), first_probe + sent_probes, probe=True))
            sent_probes += 1
    return plan


def work_items(plan: list[Send], per_request: int) -> list[list[Send]]:
    """The plan as requests: up to `per_request` events each, every probe alone (it is timed)."""
    items: list[list[Send]] = []
    batch: list[Send] = []
    for s in plan:
        if s.probe:
            items.append([s])
            continue
        batch.append(s)
        if len(batch) == per_request:
            items.append(batch)
            batch = []
    if batch:
        items.append(batch)
    return items


def crm_event(tag: str, send: Send, account: Account) -> tuple[str, BaseModel]:
    """The CRM's event for `send`: mostly weekly usage, some health measures (green, so no
    play starts); a probe is the champion leaving, which starts a play."""
    event_id = f"bench-{tag}-{send.seq}"
    now = datetime.now(UTC)
    if send.probe:
        return names.KEY_CONTACT_CHANGED, KeyContactChanged(
            event_id=event_id,
            occurred_at=now,
            contact_id=f"{account.account_id}-champ",
            change="left",
            persona="champion",
        )
    if send.seq % 10 < 3:
        measure = "support" if send.seq % 2 else "sentiment"
        return names.HEALTH_MEASURED, HealthMeasured(
            event_id=event_id,
            occurred_at=now,
            measure=measure,
            value=80 + send.seq % 15,
            note="bench",
        )
    persona = ("admin", "champion", "end_user")[send.seq % 3]
    return names.USAGE_REPORTED, UsageReported(event_id=event_id, occurred_at=now, persona=persona)


async def paced(plan: list[Send], rate: float, send: Callable[[Send], Awaitable[None]]) -> float:
    """Send `plan` open-loop at `rate` a second (each send its own task, so a slow one does
    not hold the next back); how many seconds dispatching fell behind schedule at worst."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    behind = 0.0
    t0 = time.monotonic()

    async def one(s: Send) -> None:
        try:
            await send(s)
        finally:
            gate.release()

    tasks = []
    for i, s in enumerate(plan):
        due = t0 + i / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        await gate.acquire()
        behind = max(behind, time.monotonic() - due)
        tasks.append(asyncio.create_task(one(s)))
    await asyncio.gather(*tasks)
    return round(behind, 3)
