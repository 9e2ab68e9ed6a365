"""`waypost demo`: sample journeys in compressed time, end to end on real servers.

Completes about two thirds of the milestones a little before they fall due and lets the rest go
overdue, so both paths show; then prints where every journey stands.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.client import Client

from activities.notify import deliver_to_log, run_relay
from devtools.infra import ensure_infra
from runtime.settings import Settings
from runtime.temporal import connect, ui_link
from starter.api.app import create_app
from starter.api.client import ApiClient
from starter.api.serve import running
from starter.cli.views import HEALTH_STYLE, print_status
from starter.journeys import (
    JourneyError,
    complete_milestone,
    end_journey,
    is_running,
    journey_state,
    send_event,
    start_journey,
)
from store import db, outbox, plays, tasks
from workflows.journey import names
from workflows.journey.messages import SIGNALS
from workflows.journey.state import JourneyState
from workflows.journey.workflow import journey_id
from workflows.models import Account
from workflows.policy import Policy
from workflows.rules import select_track


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
            stop = asyncio.Event()
            relay = asyncio.create_task(run_relay(pool, deliver_to_log, stop, interval=0.2))
            since = datetime.now(UTC)
            token, secret = secrets.token_hex(16), secrets.token_hex(16)
            # Compressed time is a setting of the API, not part of a contract it receives.
            api_settings = settings.model_copy(
                update={"api_token": token, "webhook_secret": secret, "day_seconds": day_seconds}
            )
            app = create_app(api_settings, client, pool)
            try:
                async with (
                    running(app) as url,
                    ApiClient(url, token=token, webhook_secret=secret) as api,
                ):
                    states = await _drive(
                        client, settings, accounts, policy, day_seconds, console, api
                    )
                _summary(states, console)
                stop.set()
                await relay
                await _plays_summary(pool, accounts, since, console)
                example = next((s for s in states if s.open_plays), states[0])
                console.rule(f"waypost status {example.account_id}")
                print_status(
                    console,
                    example,
                    ui_link(infra.ui_url, settings.namespace, journey_id(example.account_id)),
                    await tasks.list_tasks(pool, account_id=example.account_id),
                )
            finally:
                stop.set()
                if not keep:  # also after a failure: no demo journey left ticking
                    await _end_previous(client, accounts)
        if infra.ui_url:
            ui = f"{infra.ui_url}/namespaces/{settings.namespace}/workflows"
            console.print(f"\nTemporal UI: {ui}")
        if keep:
            console.print("Servers and journeys left running (--keep).")
    finally:
        if not keep:
            infra.stop_started()
    return 0


def _completions(i: int, account: Account, policy: Policy) -> list[tuple[str, str, float]]:
    """The milestones a customer gets done: the script's pick, never ahead of what they need."""
    done: set[str] = set()
    for j, m in enumerate(select_track(account, policy).track.milestones):
        if will_complete(i, j) and set(m.after) <= done:
            done.add(m.key)
    return [
        (account.account_id, m.key, m.due_days)
        for m in select_track(account, policy).track.milestones
        if m.key in done
    ]


@dataclass(frozen=True)
class Scripted:
    """One thing the demo's CRM says, on a journey day."""

    day: float
    account_id: str
    kind: str
    fields: dict[str, object]


DEMO_DAYS = 60


def crm_script(accounts: list[Account], horizon: int = DEMO_DAYS) -> list[Scripted]:
    """Health and contact changes that show plays starting, escalating and exiting."""
    script: list[Scripted] = []
    for i, a in enumerate(accounts):
        script += [
            Scripted(0, a.account_id, names.HEALTH_MEASURED, {"measure": "support", "value": 85}),
            Scripted(0, a.account_id, names.HEALTH_MEASURED, {"measure": "sentiment", "value": 80}),
        ]
        if i % 4 == 1:  # support collapses: green → yellow starts health_recovery at once
            note = "3 escalations in 30 days"
            script.append(
                Scripted(
                    10,
                    a.account_id,
                    names.HEALTH_MEASURED,
                    {"measure": "support", "value": 30, "note": note},
                )
            )
            if i % 8 == 1:  # ... and recovers: the play exits, its tasks resolved by exit
                script.append(
                    Scripted(
                        40, a.account_id, names.HEALTH_MEASURED, {"measure": "support", "value": 90}
                    )
                )
        if i % 5 != 4:  # most customers use the product as their personas should
            # A weekly rollup for the account from product analytics (one event, every
            # persona in it), sent two days before each adoption check so it is in even when
            # the worker runs behind.
            for week in range(1, horizon // 7 + 1):
                sent = week * 7 - 2
                by_persona = {
                    persona: [
                        (a.contract_start + timedelta(days=d)).isoformat()
                        for d in range(sent - 5, sent + 1)
                        if d % every == 0
                    ]
                    for persona, every in (("admin", 1), ("champion", 2), ("end_user", 3))
                }
                script.append(
                    Scripted(sent, a.account_id, names.USAGE_REPORTED, {"by_persona": by_persona})
                )
        champion = next((c for c in a.contacts if c.persona == "champion"), None)
        if i % 6 == 2 and champion:  # the champion leaves: new_stakeholder, escalated at day 33
            script.append(
                Scripted(
                    5,
                    a.account_id,
                    names.KEY_CONTACT_CHANGED,
                    {"contact_id": champion.contact_id, "change": "left", "persona": "champion"},
                )
            )
        if i % 7 == 3:
            script.append(
                Scripted(
                    15,
                    a.account_id,
                    names.SUPPORT_ESCALATED,
                    {"ticket_id": f"t-{i}", "severity": "high"},
                )
            )
    return sorted(script, key=lambda e: e.day)


async def _play_script(
    client: Client, script: list[Scripted], day_seconds: float, t0: float, api: ApiClient
) -> None:
    run = uuid.uuid4().hex[:8]
    posted: list[asyncio.Task[list[dict[str, Any]]]] = []
    for day, events in itertools.groupby(script, key=lambda e: e.day):
        await asyncio.sleep(max(0.0, t0 + day * day_seconds - time.monotonic()))
        batch = [
            (
                e,
                SIGNALS[e.kind].model_validate(
                    {
                        "event_id": f"demo-{run}-{day}-{n}",
                        "occurred_at": datetime.now(UTC),
                        **e.fields,
                    }
                ),
            )
            for n, e in enumerate(events)
        ]
        # Health and contact changes arrive as signed webhooks through the API (inbox, then
        # signal); the product's usage rollups are signalled directly.
        webhook = [
            {"account_id": e.account_id, "kind": e.kind, "event": ev.model_dump(mode="json")}
            for e, ev in batch
            if e.kind != names.USAGE_REPORTED and e.day > 0
        ]
        direct = [(e, ev) for e, ev in batch if e.kind == names.USAGE_REPORTED or e.day == 0]
        if webhook:  # a CRM does not wait on us: the script goes on while the API answers
            posted.append(asyncio.create_task(api.send_events(webhook)))
        await asyncio.gather(*(send_event(client, e.account_id, e.kind, ev) for e, ev in direct))
    await asyncio.gather(*posted)


async def _end_previous(client: Client, accounts: list[Account]) -> None:
    """A journey left by an earlier `demo --keep` is ended, so this run starts from day 0."""

    async def end(account_id: str) -> None:
        try:
            if await is_running(client, account_id):
                await end_journey(client, account_id, "ended", "replaced by a new demo run")
        except JourneyError as e:
            if e.kind not in ("unknown_account", "journey_closed"):
                raise

    await asyncio.gather(*(end(a.account_id) for a in accounts))


async def _drive(
    client: Client,
    settings: Settings,
    accounts: list[Account],
    policy: Policy,
    day_seconds: float,
    console: Console,
    api: ApiClient,
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
        await _end_previous(client, accounts)
        for i, account in enumerate(accounts):
            if i % 3 == 0:  # a third of the contracts arrive through POST /contracts
                posted = await api.post_contract(account)
                created = bool(posted["created"])
            else:
                started = await start_journey(
                    client, account, policy, task_queue=settings.task_queue, day_seconds=day_seconds
                )
                created = started.created
            reused += not created
            progress.advance(starting)
        if reused:
            console.print(f"{reused} journey(s) were already running and were reused")
        t0 = time.monotonic()

        plan = [p for i, a in enumerate(accounts) for p in _completions(i, a, policy)]
        states = [await journey_state(client, a.account_id) for a in accounts]
        total = sum(len(s.milestones) for s in states)
        # Run until every milestone fell due, and at least long enough to see plays escalate.
        horizon = max(DEMO_DAYS, int(max(m.due_day for s in states for m in s.milestones)) + 2)
        script = crm_script(accounts, horizon + 30)
        settled = progress.add_task("Milestones done or overdue", total=total)
        days = progress.add_task("Journey days", total=int(horizon))

        async def complete_before_due(account_id: str, key: str, due_days: float) -> None:
            await asyncio.sleep(due_days * day_seconds * 0.6)
            await complete_milestone(client, account_id, key, by="demo")

        background = [asyncio.create_task(complete_before_due(*p)) for p in plan]
        background.append(asyncio.create_task(_play_script(client, script, day_seconds, t0, api)))
        deadline = t0 + 120 + horizon * day_seconds * 3
        while time.monotonic() < deadline:
            states = list(
                await asyncio.gather(*(journey_state(client, a.account_id) for a in accounts))
            )
            resolved = sum(m.status != "pending" for s in states for m in s.milestones)
            day = (time.monotonic() - t0) / day_seconds
            progress.update(settled, completed=resolved)
            progress.update(days, completed=min(day, horizon))
            if resolved == total and day >= horizon:
                break
            await asyncio.sleep(1.0)  # each poll is a query per journey: keep the worker free
        # The CRM keeps reporting usage past the horizon; the demo stops listening here.
        failed = [t for t in background if t.done() and not t.cancelled() and t.exception()]
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if failed:
            raise RuntimeError("the demo's CRM script failed") from failed[0].exception()
    return states


def _summary(states: list[JourneyState], console: Console) -> None:
    table = Table(title="Journeys", show_lines=False)
    cols = ("account", "segment", "tier", "track", "done", "overdue", "stage", "health", "plays")
    for col in cols:
        table.add_column(col)
    for s in sorted(states, key=lambda s: (s.segment, s.account_id)):
        done = sum(m.status == "done" for m in s.milestones)
        overdue = sum(m.status == "overdue" for m in s.milestones)
        started = len(s.play_runs)
        table.add_row(
            s.account_id,
            s.segment,
            s.tier,
            s.track,
            f"[green]{done}[/green]",
            f"[red]{overdue}[/red]" if overdue else "0",
            s.stage,
            f"[{HEALTH_STYLE[s.health_colour]}]{s.health_colour}[/]",
            f"{len(s.open_plays)} open / {started}",
        )
    console.print(table)


async def _plays_summary(
    pool: asyncpg.Pool, accounts: list[Account], since: datetime, console: Console
) -> None:
    ids = [a.account_id for a in accounts]
    runs = await plays.runs_by_status(pool, ids, since)
    escalations = await tasks.count_escalations(pool, ids, since)
    sent = await outbox.count_sent(pool, ids, since)
    why = await plays.first_whys(pool, ids, since)
    table = Table("play", "status", "runs", title="Plays")
    for play, status, n in runs:
        table.add_row(play, status, str(n))
    console.print(table)
    console.print(f"{escalations} task(s) escalated past their SLA; {sent} message(s) delivered")
    for play, account_id, reason in why:
        console.print(f"  [bold]{play}[/bold] on {account_id}: {reason}")
