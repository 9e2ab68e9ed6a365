"""`waypost demo`: sample journeys in compressed time, end to end on real servers.

Completes about two thirds of the milestones a little before they fall due and lets the rest go
overdue, so both paths show; then prints where every journey stands.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.client import Client

from starter import db
from starter.devinfra import ensure_infra
from starter.journeys import complete_milestone, end_journey, journey_state, start_journey
from starter.settings import Settings
from starter.temporal import connect
from workflows.models import Account
from workflows.policy import Policy
from workflows.rules import select_track
from workflows.state import JourneyState


def will_complete(account_index: int, milestone_index: int) -> bool:
    """The demo's script: which milestones a customer gets done (deterministic, ~2 in 3)."""
    return (account_index + milestone_index) % 3 != 0


async def run_demo(
    settings: Settings,
    accounts: list[Account],
    policy: Policy,
    *,
    day_seconds: float,
    keep: bool,
    console: Console,
) -> int:
    from worker import build_worker  # the worker pulls in every activity's dependencies

    infra = ensure_infra(settings, start=True)
    try:
        if infra.embedded_database:
            await db.ensure_database(infra.database_url)
        await db.migrate(infra.database_url)
        client = await connect(infra.temporal_address, settings.namespace)
        async with (
            asyncpg.create_pool(infra.database_url, min_size=1, max_size=10) as pool,
            build_worker(client, pool, settings.task_queue),
        ):
            states = await _drive(client, settings, accounts, policy, day_seconds, console)
            _summary(states, console)
            if not keep:
                await asyncio.gather(
                    *(end_journey(client, a.account_id, "ended", "demo finished") for a in accounts)
                )
        if infra.ui_url:
            ui = f"{infra.ui_url}/namespaces/{settings.namespace}/workflows"
            console.print(f"\nTemporal UI: {ui}")
        if keep:
            console.print("Servers and journeys left running (--keep).")
    finally:
        if not keep:
            infra.stop_started()
    return 0


async def _drive(
    client: Client,
    settings: Settings,
    accounts: list[Account],
    policy: Policy,
    day_seconds: float,
    console: Console,
) -> list[JourneyState]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        starting = progress.add_task("Starting journeys", total=len(accounts))
        reused = 0
        for account in accounts:
            res = await start_journey(
                client, account, policy, task_queue=settings.task_queue, day_seconds=day_seconds
            )
            reused += not res.created
            progress.advance(starting)
        if reused:
            console.print(f"{reused} journey(s) were already running and were reused")

        plan = [
            (a.account_id, m.key, m.due_days)
            for i, a in enumerate(accounts)
            for j, m in enumerate(select_track(a, policy).track.milestones)
            if will_complete(i, j)
        ]
        total = sum(len(select_track(a, policy).track.milestones) for a in accounts)
        settled = progress.add_task("Milestones done or overdue", total=total)

        async def complete_before_due(account_id: str, key: str, due_days: float) -> None:
            await asyncio.sleep(due_days * day_seconds * 0.6)
            await complete_milestone(client, account_id, key, by="demo")

        completions = [asyncio.create_task(complete_before_due(*p)) for p in plan]
        states: list[JourneyState] = []
        deadline = time.monotonic() + 120 + 100 * day_seconds * 3
        while time.monotonic() < deadline:
            states = list(
                await asyncio.gather(*(journey_state(client, a.account_id) for a in accounts))
            )
            resolved = sum(m.status != "pending" for s in states for m in s.milestones)
            progress.update(settled, completed=resolved)
            if resolved == total:
                break
            await asyncio.sleep(0.25)
        await asyncio.gather(*completions)
    return states


def _summary(states: list[JourneyState], console: Console) -> None:
    table = Table(title="Journeys", show_lines=False)
    for col in ("account", "segment", "tier", "track", "touch", "done", "overdue", "stage"):
        table.add_column(col)
    for s in sorted(states, key=lambda s: (s.segment, s.account_id)):
        done = sum(m.status == "done" for m in s.milestones)
        overdue = sum(m.status == "overdue" for m in s.milestones)
        table.add_row(
            s.account_id,
            s.segment,
            s.tier,
            s.track,
            s.touch,
            f"[green]{done}[/green]",
            f"[red]{overdue}[/red]" if overdue else "0",
            s.stage,
        )
    console.print(table)
