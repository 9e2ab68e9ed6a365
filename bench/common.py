"""What every scenario shares: the run's context, accounts, bounded concurrency, settling."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar, cast

import asyncpg
from rich.progress import Progress, TaskID
from temporalio.client import Client, WorkflowExecutionStatus

from bench.cpu import CpuMeter, postmaster_pid
from bench.models import LatencyStats, ProfileSummary
from bench.procs import Infra, Proc, wait_polling, worker_proc
from bench.profile import Profiler, summarize
from workflows.models import Account
from workflows.policy import Policy

T = TypeVar("T")
R = TypeVar("R")

SEGMENTS = (
    ("smb", "base", ()),
    ("mid_market", "plus", ()),
    ("enterprise", "premium", ("sso", "api")),
)
CONTRACT_START = date(2026, 1, 1)


def make_account(account_id: str, i: int) -> Account:
    """Accounts cycle through the segments, so journeys take each onboarding track."""
    segment, tier, add_ons = SEGMENTS[i % len(SEGMENTS)]
    contacts = [
        {"contact_id": f"{account_id}-admin", "name": "Admin", "persona": "admin", "key": True},
        {
            "contact_id": f"{account_id}-champ",
            "name": "Champion",
            "persona": "champion",
            "key": True,
        },
        {"contact_id": f"{account_id}-users", "name": "Users", "persona": "end_user"},
    ]
    return Account.model_validate(
        {
            "account_id": account_id,
            "name": f"Bench {account_id}",
            "segment": segment,
            "tier": tier,
            "add_ons": add_ons,
            "seats": 50 + 10 * (i % 40),
            "contract_start": CONTRACT_START,
            "contract_end": date(2027, 1, 1),
            "csm": f"csm{i % 7}",
            "contacts": contacts,
        }
    )


async def run_pool(
    items: Sequence[T],
    fn: Callable[[T], Awaitable[R]],
    limit: int,
    tick: Callable[[], None] | None = None,
) -> list[R]:
    """`fn` over `items`, at most `limit` at once, results in order."""
    results: list[R | None] = [None] * len(items)
    work = iter(enumerate(items))

    async def lane() -> None:
        for i, item in work:
            results[i] = await fn(item)
            if tick is not None:
                tick()

    await asyncio.gather(*(lane() for _ in range(max(1, min(limit, len(items))))))
    return cast(list[R], results)  # every slot is filled, or gather raised


def percentiles(samples: Sequence[float]) -> LatencyStats:
    """Nearest-rank percentiles, in seconds."""
    ordered = sorted(samples)
    if not ordered:
        return LatencyStats(samples=0, p50=0.0, p95=0.0, p99=0.0, max=0.0)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 4)

    return LatencyStats(
        samples=len(ordered), p50=rank(50), p95=rank(95), p99=rank(99), max=round(ordered[-1], 4)
    )


async def wait_until(
    probe: Callable[[], Awaitable[int]],
    target: int,
    *,
    within: float,
    what: str,
    tick: Callable[[int], None] | None = None,
    interval: float = 0.1,
) -> None:
    """Poll an aggregate count (a visibility count, a Postgres count) until it reaches target."""
    deadline = time.monotonic() + within
    while True:
        got = await probe()
        if tick is not None:
            tick(got)
        if got >= target:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: {got} of {target} after {within:.0f}s")
        await asyncio.sleep(interval)


async def poll_until(
    check: Callable[[], Awaitable[bool]], *, interval: float, within: float, what: str
) -> None:
    """Call `check` every `interval` s until it holds; TimeoutError after `within` s."""
    deadline = time.monotonic() + within
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not seen after {within:.0f}s")
        await asyncio.sleep(interval)


async def sweep(
    items: Sequence[T],
    ready: Callable[[T], Awaitable[bool]],
    *,
    within: float,
    what: str,
    limit: int = 50,
) -> None:
    """Check every item until each is ready, checking again only those that were not."""
    deadline = time.monotonic() + within
    pending = list(items)
    while pending:
        done = await run_pool(pending, ready, limit)
        pending = [item for item, ok in zip(pending, done, strict=True) if not ok]
        if pending and time.monotonic() > deadline:
            raise TimeoutError(
                f"{what}: {len(pending)} of {len(items)} not there after {within:.0f}s"
            )
        if pending:
            await asyncio.sleep(0.1)


async def settle(
    client: Client, workflow_ids: Sequence[str], *, completed: bool, within: float
) -> None:
    """Describe each workflow until it is settled: completed (a no-op), or running with no
    workflow task or activity pending (a journey waiting on its timers)."""

    async def settled(wid: str) -> bool:
        desc = await client.get_workflow_handle(wid).describe()
        if completed:
            return desc.status == WorkflowExecutionStatus.COMPLETED
        raw = desc.raw_description
        return (
            desc.status == WorkflowExecutionStatus.RUNNING
            and not raw.HasField("pending_workflow_task")
            and not raw.pending_activities
        )

    await sweep(workflow_ids, settled, within=within, what="settling")


class Steps:
    """The progress bar: one line per phase."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self.console = progress.console

    @contextmanager
    def phase(self, description: str, total: int) -> Iterator[PhaseBar]:
        task = self._progress.add_task(description, total=total)
        bar = PhaseBar(self._progress, task)
        console = self._progress.console
        # Piped output gets no live bar (rich draws it only on a terminal): a line a phase.
        plain = not console.is_terminal
        if plain:
            console.print(f"{description} …")
        t0 = time.monotonic()
        try:
            yield bar
        finally:
            # A phase may have resized itself (open journeys sized down to the budget).
            final = next((t.total for t in self._progress.tasks if t.id == task), None) or total
            self._progress.update(task, completed=final)
            self._progress.stop_task(task)
            if plain:
                console.print(f"{description}: done in {time.monotonic() - t0:.1f} s")


@dataclass
class PhaseBar:
    progress: Progress
    task: TaskID

    def advance(self, n: int = 1) -> None:
        self.progress.advance(self.task, n)

    def set(self, completed: int) -> None:
        self.progress.update(self.task, completed=completed)


@dataclass
class Bench:
    """One run: servers, a client, a Postgres pool for counts, and what it has learned."""

    infra: Infra
    client: Client
    pool: asyncpg.Pool
    policy: Policy
    run_id: str
    results_dir: Path
    steps: Steps
    profiler: Profiler
    quiet_day_seconds: float
    profiles: list[ProfileSummary] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def task_queue(self, scenario: str) -> str:
        return f"bench-{self.run_id}-{scenario}"

    def account_id(self, scenario: str, i: int) -> str:
        return f"b{self.run_id}-{scenario}-{i:05d}"

    @asynccontextmanager
    async def worker(self, kind: str, scenario: str) -> AsyncIterator[Proc]:
        """A worker process on the scenario's task queue, polling before this yields."""
        queue = self.task_queue(scenario if kind == "waypost" else f"{scenario}-floor")
        proc = worker_proc(kind, self.infra, queue, scenario)
        proc.start()
        try:
            await wait_polling(self.client, self.infra.namespace, queue, proc)
            yield proc
        finally:
            await self.collect_profiles()
            await proc.stop()

    async def restart(self, proc: Proc, scenario: str, kind: str) -> float:
        """Stop `proc` and start it again; seconds from the new start until it polls."""
        await self.collect_profiles()
        await proc.stop()
        proc.start()
        queue = self.task_queue(scenario if kind == "waypost" else f"{scenario}-floor")
        return await wait_polling(self.client, self.infra.namespace, queue, proc)

    def cpu(self, **procs: Proc) -> CpuMeter:
        """Start counting CPU: the named processes, this driver, and our servers."""
        pids = {"driver": (os.getpid(), False)}
        server = self.infra.server
        if server is not None and server.process is not None:
            pids["temporal"] = (server.process.pid, False)
        postmaster = postmaster_pid(self.infra.postgres)
        if postmaster is not None:
            pids["postgres"] = (postmaster, True)
        pids.update({name: (p.pid, False) for name, p in procs.items()})
        return CpuMeter(pids)

    async def collect_profiles(self) -> None:
        for name, phase, file in await self.profiler.detach():
            summary = summarize(name, phase, file)
            if summary.samples:
                self.profiles.append(summary)
