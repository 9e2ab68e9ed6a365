"""(5) Open-journey memory: worker RSS with journeys waiting on timers, and the time to resume
them all after a worker restart, beside the same for trivial waiting workflows.

Sized to the run's time budget: the first 1,000 journeys say how long starting (and later
resuming) takes here, and the largest multiple of 1,000 up to the target that fits is used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from temporalio.service import RPCError

from bench.common import Bench, make_account, run_pool, settle
from bench.floor import WAITER, WaiterState
from bench.models import MemoryPoint, MemoryResult, ResumeResult
from bench.procs import Proc
from bench.scenarios import start_journeys
from workflows.journey.workflow import CustomerJourney, journey_id

WARMUP = 20
CHUNK = 1000
QUERY_CONCURRENCY = 50
RESUME_FACTOR = 1.25  # resuming a journey took 0.9-1.15× as long as starting one, measured
SLACK_SECONDS = 30.0
QUERY_ATTEMPTS = 5


async def resume_query(query: Callable[[], Awaitable[object]], retried: list[int]) -> None:
    """Ask once more when a query times out: right after a restart, a query can wait out the
    old worker's sticky queue before it reaches the new one."""
    for attempt in range(QUERY_ATTEMPTS):
        try:
            await query()
            return
        except RPCError:
            if attempt == QUERY_ATTEMPTS - 1:
                raise
            retried.append(1)


def warmup_for(count: int) -> int:
    """Journeys started before the baseline reading: their cost is loading code, not state."""
    return min(WARMUP, max(1, count // 4))


async def sample_rss(proc: Proc) -> float:
    """Worker RSS (MiB) once settled: the highest of a few readings a fifth of a second apart."""
    readings = []
    for _ in range(5):
        readings.append(proc.rss_mib())
        await asyncio.sleep(0.2)
    return round(max(readings), 1)


def point(open_now: int, rss: float, warm: float, warmup: int) -> MemoryPoint:
    added = max(1, open_now - warmup)
    return MemoryPoint(
        open_journeys=open_now,
        rss_mib=rss,
        per_journey_kib=round((rss - warm) * 1024 / added, 1),
    )


def affordable(target: int, seconds_each: float, remaining: float) -> int:
    """The most open journeys (a multiple of CHUNK, at least CHUNK) that fit in `remaining`
    seconds: starting the ones past the first CHUNK, then resuming them all."""
    size = target
    while size > CHUNK:
        cost = (size - CHUNK) * seconds_each + size * seconds_each * RESUME_FACTOR
        if cost + SLACK_SECONDS <= remaining:
            return size
        size -= CHUNK
    return min(target, CHUNK)


async def _floor(bench: Bench, count: int) -> tuple[list[MemoryPoint], ResumeResult]:
    client = bench.client
    async with bench.worker("baseline", "memory") as proc:
        queue = proc.env["WAYPOST_TASK_QUEUE"]
        ids = [f"idle-{bench.run_id}-{i:05d}" for i in range(count)]

        async def start(wids: list[str]) -> None:
            await run_pool(
                wids, lambda w: client.start_workflow(WAITER, id=w, task_queue=queue), 32
            )
            await settle(client, wids, completed=False, within=120 + len(wids))

        warmup = warmup_for(count)
        with bench.steps.phase("(5) memory: waiting workflows (floor)", count) as bar:
            await start(ids[:warmup])
            warm = await sample_rss(proc)
            await start(ids[warmup:])
            bar.set(count)
            points = [point(count, await sample_rss(proc), warm, warmup)]
            ready = await bench.restart(proc, "memory", "baseline")
            bench.profiler.attach(proc, "resume-floor")
            retried: list[int] = []
            await run_pool(
                ids,
                lambda w: resume_query(
                    lambda: client.get_workflow_handle(w).query("state", result_type=WaiterState),
                    retried,
                ),
                QUERY_CONCURRENCY,
            )
            resumed = ResumeResult(
                journeys=count,
                queries_retried=len(retried),
                ready_seconds=round(ready, 2),
                all_answered_seconds=round(time.monotonic() - proc.started_at, 2),
                rss_mib_after=await sample_rss(proc),
            )
        await run_pool(ids, lambda w: client.get_workflow_handle(w).signal("finish"), 32)
    return points, resumed


async def open_journey_memory(
    bench: Bench, target: int, deadline: float, max_cached: int
) -> MemoryResult:
    """`deadline` (monotonic) is when the run's budget ends."""
    floor_points, floor_resume = await _floor(bench, min(target, CHUNK))
    client = bench.client
    sized_down: str | None = None
    async with bench.worker("waypost", "memory") as proc:
        queue = proc.env["WAYPOST_TASK_QUEUE"]
        idle = await sample_rss(proc)
        accounts = [make_account(bench.account_id("m", i), i) for i in range(target)]
        warmup = warmup_for(target)
        with bench.steps.phase("(5) memory: open journeys", target) as bar:
            await start_journeys(bench, accounts[:warmup], queue)
            warm = await sample_rss(proc)
            points: list[MemoryPoint] = []
            size, opened = target, warmup
            while opened < size:
                chunk_end = min(size, (opened // CHUNK + 1) * CHUNK)
                t0 = time.monotonic()
                await start_journeys(bench, accounts[opened:chunk_end], queue)
                seconds_each = (time.monotonic() - t0) / (chunk_end - opened)
                opened = chunk_end
                bar.set(opened)
                points.append(point(opened, await sample_rss(proc), warm, warmup))
                if opened == min(size, CHUNK) and size > CHUNK:
                    size = affordable(target, seconds_each, deadline - time.monotonic())
                    if size < target:
                        sized_down = (
                            f"{target:,} open journeys would not fit the time budget: starting "
                            f"took {seconds_each * 1000:.1f} ms a journey here, and resuming "
                            f"them is assumed to take as long; measured {size:,} instead"
                        )
                        bar.progress.update(bar.task, total=size)
            ready = await bench.restart(proc, "memory", "waypost")
            bench.profiler.attach(proc, "resume")
            ids = [journey_id(a.account_id) for a in accounts[:opened]]
            retried: list[int] = []
            await run_pool(
                ids,
                lambda w: resume_query(
                    lambda: client.get_workflow_handle_for(CustomerJourney.run, w).query(
                        CustomerJourney.state
                    ),
                    retried,
                ),
                QUERY_CONCURRENCY,
            )
            resumed = ResumeResult(
                journeys=opened,
                queries_retried=len(retried),
                ready_seconds=round(ready, 2),
                all_answered_seconds=round(time.monotonic() - proc.started_at, 2),
                rss_mib_after=await sample_rss(proc),
            )
    return MemoryResult(
        idle_rss_mib=idle,
        warmup_journeys=warmup,
        warm_rss_mib=warm,
        points=points,
        max_cached_workflows=max_cached,
        resume=resumed,
        baseline_points=floor_points,
        baseline_resume=floor_resume,
        sized_down=sized_down,
    )
