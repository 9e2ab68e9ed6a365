"""Commands on journeys: start them, look at them, send them events."""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from runtime.temporal import ui_link
from starter.cli import common
from starter.cli.common import JsonOpt, err, out, refuse
from starter.cli.views import print_status, show_list, start_with_progress
from starter.contracts import ContractsError, load_contracts
from starter.journeys import complete_milestone, journey_state, send_event, start_journey
from starter.portfolio import FilterError, Filters, visibility_query
from store.tasks import list_tasks
from store.timeline import fetch_timeline
from workflows.journey.messages import SIGNALS
from workflows.journey.workflow import journey_id
from workflows.models import Account


def _read_contracts(path: Path) -> list[Account]:
    try:
        return load_contracts(path)
    except ContractsError as e:
        refuse("contracts", path, e.errors)


def start(
    account_file: Annotated[Path | None, typer.Argument(help="An account as JSON.")] = None,
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="A CSV of contracts, one account a line: columns as in account.json "
            "(add_ons `;`-separated or JSON; contacts a JSON cell, optional).",
        ),
    ] = None,
    policy: Annotated[Path | None, typer.Option(help="Policy file (default: settings).")] = None,
    day_seconds: Annotated[float | None, typer.Option(help="Seconds per journey day.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start an account's journey, or every contract's in a CSV (the same account twice gives
    one journey)."""
    settings = common.settings()
    if (account_file is None) == (csv_file is None):
        err.print("[red]error[/red]: give an account file or --csv <contracts.csv> (one of them)")
        raise typer.Exit(2)
    pinned = common.read_policy(policy or settings.policy_file)
    days = day_seconds or settings.day_seconds

    if csv_file is not None:
        accounts = _read_contracts(csv_file)

        async def go_many() -> None:
            async with common.session(settings) as ctx:
                results = await start_with_progress(
                    ctx.client,
                    accounts,
                    pinned,
                    task_queue=settings.task_queue,
                    day_seconds=days,
                    console=err if as_json else out,  # the bar never mixes into JSON
                )
            if as_json:
                out.print_json(
                    data=[{"workflow_id": r.workflow_id, "created": r.created} for r in results]
                )
            else:
                created = sum(r.created for r in results)
                out.print(f"{created} started, {len(results) - created} already running")

        common.run(go_many())
        return

    assert account_file is not None
    account = common.read_account(account_file)

    async def go() -> None:
        async with common.session(settings) as ctx:
            res = await start_journey(
                ctx.client, account, pinned, task_queue=settings.task_queue, day_seconds=days
            )
            link = ui_link(ctx.infra.ui_url, settings.namespace, res.workflow_id)
            if as_json:
                out.print_json(
                    data={"workflow_id": res.workflow_id, "created": res.created, "ui": link}
                )
            else:
                verb = "started" if res.created else "already running"
                out.print(f"{res.workflow_id}: {verb}" + (f"  {link}" if link else ""))

    common.run(go())


def status(account_id: str, as_json: JsonOpt = False) -> None:
    """One account's journey: stage, health and why, milestones, plays, open tasks, timers."""
    settings = common.settings()

    async def go() -> None:
        async with common.session(settings) as ctx:
            state = await journey_state(ctx.client, account_id)
            if as_json:
                out.print_json(state.model_dump_json())
                return
            async with common.pool(settings) as pool:
                open_tasks = await list_tasks(pool, account_id=account_id, status="open")
            link = ui_link(ctx.infra.ui_url, settings.namespace, journey_id(account_id))
            print_status(out, state, link, open_tasks)

    common.run(go())


def list_cmd(
    health: Annotated[str | None, typer.Option(help="green, yellow, red or unscored.")] = None,
    stage: Annotated[
        str | None, typer.Option(help="onboarding, adoption, or a tenure stage (new, ...).")
    ] = None,
    segment: Annotated[str | None, typer.Option(help="e.g. smb, mid_market, enterprise.")] = None,
    tier: Annotated[str | None, typer.Option(help="e.g. base, plus, premium.")] = None,
    csm: Annotated[str | None, typer.Option(help="Only this CSM's accounts.")] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Only journeys whose health last changed on or after this journey date.",
        ),
    ] = None,
    why: Annotated[
        bool, typer.Option("--why", help="Show when and why health last changed.")
    ] = False,
    all_: Annotated[bool, typer.Option("--all", help="Closed journeys too.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Journeys by search attribute (a Temporal visibility query), worst health first.

    Which enterprise accounts turned yellow this quarter, and why:
    `waypost list --segment enterprise --health yellow --since 2026-10-01 --why`
    """
    settings = common.settings()
    filters = Filters(
        health=health,
        stage=stage,
        segment=segment,
        tier=tier,
        csm=csm,
        since=since.date() if since else None,
        include_closed=all_,
        task_queue=settings.task_queue,  # this deployment's journeys, as the dashboard counts
    )
    try:
        visibility_query(filters)
    except FilterError as e:
        err.print(f"[red]error[/red]: {e}")
        raise typer.Exit(2) from None

    async def go() -> None:
        async with common.session(settings) as ctx:
            await show_list(ctx.client, filters, out, why=why or since is not None, as_json=as_json)

    common.run(go())


def _field_value(value: str) -> object:
    """A list or mapping as JSON (active_on='["2026-03-02"]', by_persona='{"admin": [...]}');
    anything else as the text it is, for pydantic to read."""
    if value[:1] in ("[", "{"):
        with contextlib.suppress(json.JSONDecodeError):
            parsed: object = json.loads(value)
            return parsed
    return value


def signal(
    account_id: str,
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(SIGNALS)}.")],
    fields: Annotated[
        list[str] | None,
        typer.Argument(help="field=value pairs, e.g. measure=support value=35 (lists as JSON)"),
    ] = None,
) -> None:
    """Send an event to a journey as a CRM would (event_id and occurred_at default to new/now)."""
    settings = common.settings()
    model = SIGNALS.get(kind)
    if model is None:
        err.print(f"[red]error[/red]: unknown kind '{kind}' (one of: {', '.join(SIGNALS)})")
        raise typer.Exit(2)
    data: dict[str, object] = {
        "event_id": uuid.uuid4().hex,
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    for pair in fields or []:
        name, sep, value = pair.partition("=")
        if not sep:
            err.print(f"[red]error[/red]: '{pair}' is not field=value")
            raise typer.Exit(2)
        data[name] = _field_value(value)
    try:
        event = model.model_validate(data)
    except ValidationError as e:
        err.print(f"[red]invalid {kind}[/red]:")
        for line in common.validation_lines(e):
            err.print(f"  {line}")
        raise typer.Exit(2) from None

    async def go() -> None:
        async with common.session(settings) as ctx:
            await send_event(ctx.client, account_id, kind, event)
            out.print(f"{account_id}: {kind} sent (event_id {event.event_id})")

    common.run(go())


def complete(
    account_id: str,
    milestone: str,
    by: Annotated[str | None, typer.Option(help="Who completed it.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Mark an onboarding milestone done."""
    settings = common.settings()

    async def go() -> None:
        async with common.session(settings) as ctx:
            m = await complete_milestone(ctx.client, account_id, milestone, by)
            if as_json:
                out.print_json(m.model_dump_json())
            else:
                late = " (late)" if m.late else ""
                out.print(f"{account_id}: {m.title} done on day {m.done_day or 0:g}{late}")

    common.run(go())


def timeline(account_id: str, as_json: JsonOpt = False) -> None:
    """Everything that happened on an account's journey, oldest first."""
    settings = common.settings()

    async def go() -> None:
        async with common.pool(settings) as pool:
            rows = await fetch_timeline(pool, account_id)
        if as_json:
            out.print_json(data=[r.model_dump(mode="json") for r in rows])
            return
        if not rows:
            err.print(f"no timeline for '{account_id}'")
            raise typer.Exit(1)
        table = Table("journey date", "what", "")
        for r in rows:
            table.add_row(r.occurred_at.strftime("%Y-%m-%d"), r.kind.replace("_", " "), r.summary)
        out.print(table)

    common.run(go())
