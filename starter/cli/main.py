"""`waypost`: the command line. Thin: parse, call starter/*, print."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import asyncpg
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from devtools.infra import DevInfra, InfraError, ensure_infra, stop_embedded
from runtime.logs import configure_logging
from runtime.settings import Settings
from runtime.temporal import connect, ui_link
from starter.cli.policy import policy_app
from starter.cli.views import print_status, show_list, start_with_progress
from starter.journeys import (
    JourneyError,
    complete_milestone,
    journey_state,
    send_event,
    start_journey,
)
from starter.portfolio import (
    ContractsError,
    FilterError,
    Filters,
    load_contracts,
    visibility_query,
)
from starter.tasks import PlayTaskStore, mark_task_done
from store import db
from store.tasks import list_tasks
from store.timeline import fetch_timeline
from workflows.journey.messages import SIGNALS
from workflows.journey.workflow import journey_id
from workflows.models import Account
from workflows.policy import Policy, PolicyError, load_policy

app = typer.Typer(no_args_is_help=True, help="Customer journeys as durable Temporal workflows.")
db_app = typer.Typer(no_args_is_help=True, help="The Postgres schema.")
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")

# Piped output still gets room for a table; rich would otherwise wrap at 80 columns.
out = Console(width=None if Console().is_terminal else 120)
err = Console(stderr=True)
T = TypeVar("T")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return settings


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except JourneyError as e:
        err.print(f"[red]error[/red] ({e.kind}): {e}")
        raise typer.Exit(1) from None
    except InfraError as e:
        err.print(f"[red]error[/red]: {e}")
        raise typer.Exit(1) from None


@dataclass
class Ctx:
    settings: Settings
    infra: DevInfra
    client: Client


@asynccontextmanager
async def _session(settings: Settings, *, start_infra: bool = False) -> AsyncIterator[Ctx]:
    infra = ensure_infra(settings, start=start_infra)
    client = await connect(infra.temporal_address, settings.namespace)
    yield Ctx(settings, infra, client)


@asynccontextmanager
async def _pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    infra = ensure_infra(settings, start=False)
    async with asyncpg.create_pool(infra.database_url, min_size=1, max_size=2) as pool:
        yield pool


def _load_policy(path: Path) -> Policy:
    try:
        return load_policy(path)
    except PolicyError as e:
        err.print(f"[red]invalid policy[/red] {path}:")
        for line in e.errors:
            err.print(f"  {line}")
        raise typer.Exit(2) from None


def _load_account(path: Path) -> Account:
    try:
        return Account.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        err.print(f"[red]error[/red]: no such file: {path}")
        raise typer.Exit(2) from None
    except ValidationError as e:
        err.print(f"[red]invalid account[/red] {path}:")
        for line in validation_lines(e):
            err.print(f"  {line}")
        raise typer.Exit(2) from None


def validation_lines(e: ValidationError) -> list[str]:
    """pydantic errors as `path.to.field: what is wrong`."""
    return [
        f"{'.'.join(str(p) for p in item['loc']) or '(root)'}: {item['msg']}" for item in e.errors()
    ]


@app.command()
def dev(
    worker: Annotated[bool, typer.Option(help="Also run a worker in this process.")] = True,
) -> None:
    """Start the embedded Temporal dev server and Postgres, and keep them up until Ctrl-C."""
    from worker import run as run_worker

    settings = _settings()
    infra = ensure_infra(settings, start=True)
    _run(_migrate(infra))
    out.print(f"Temporal  {infra.temporal_address}")
    out.print(f"Postgres  {infra.database_url}")
    out.print(f"UI        {infra.ui_url or '(external server)'}")
    try:
        if worker:
            out.print("Worker    running (Ctrl-C stops everything)")
            _run(run_worker(settings))
        else:
            out.print("Press Ctrl-C to stop.")
            _run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        stop_embedded(settings)
        out.print("stopped")


async def _migrate(infra: DevInfra) -> list[str]:
    if infra.embedded_database:
        await db.ensure_database(infra.database_url)
    return await db.migrate(infra.database_url)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(ctx: typer.Context) -> None:
    """Measure Waypost against the bare-Temporal floor (bench/results/latest.json).

    Options are the harness's own (`waypost bench --help-bench` lists them), e.g. --quick.
    """
    from bench.run import main as bench_main

    args = list(ctx.args)
    raise typer.Exit(bench_main(["--help"] if args == ["--help-bench"] else args))


@app.command("api")
def api_cmd(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API (contracts, CRM webhooks, journeys, tasks) and its inbox relay."""
    from starter.api.app import serve

    settings = _settings()
    _run(serve(settings, host=host, port=port, tasks=PlayTaskStore))


@app.command("codec-server")
def codec_server_cmd(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
) -> None:
    """Serve /encode and /decode: the Temporal UI shows encrypted payloads to token holders."""
    from starter.codec_server import serve_codec

    settings = _settings()
    _run(serve_codec(settings, host=host, port=port))


@app.command("worker")
def worker_cmd() -> None:
    """Run a worker (same as `python worker.py`)."""
    from worker import main as worker_main

    worker_main()


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations; safe to run again."""
    settings = _settings()
    applied = _run(_migrate(ensure_infra(settings, start=True)))
    out.print(f"applied {len(applied)}: {', '.join(applied)}" if applied else "up to date")


def _load_contracts(path: Path) -> list[Account]:
    try:
        return load_contracts(path)
    except ContractsError as e:
        err.print(f"[red]invalid contracts[/red] {path}:")
        for line in e.errors:
            err.print(f"  {line}")
        raise typer.Exit(2) from None


@app.command()
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
    settings = _settings()
    if (account_file is None) == (csv_file is None):
        err.print("[red]error[/red]: give an account file or --csv <contracts.csv> (one of them)")
        raise typer.Exit(2)
    pinned = _load_policy(policy or settings.policy_file)
    days = day_seconds or settings.day_seconds

    if csv_file is not None:
        accounts = _load_contracts(csv_file)

        async def go_many() -> None:
            async with _session(settings) as ctx:
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

        _run(go_many())
        return

    assert account_file is not None
    account = _load_account(account_file)

    async def go() -> None:
        async with _session(settings) as ctx:
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

    _run(go())


@app.command()
def status(account_id: str, as_json: JsonOpt = False) -> None:
    """One account's journey: stage, health and why, milestones, plays, open tasks, timers."""
    settings = _settings()

    async def go() -> None:
        async with _session(settings) as ctx:
            state = await journey_state(ctx.client, account_id)
            if as_json:
                out.print_json(state.model_dump_json())
                return
            async with _pool(settings) as pool:
                open_tasks = await list_tasks(pool, account_id=account_id, status="open")
            link = ui_link(ctx.infra.ui_url, settings.namespace, journey_id(account_id))
            print_status(out, state, link, open_tasks)

    _run(go())


@app.command("list")
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
    settings = _settings()
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
        async with _session(settings) as ctx:
            await show_list(ctx.client, filters, out, why=why or since is not None, as_json=as_json)

    _run(go())


def _field_value(value: str) -> object:
    """A list or mapping as JSON (active_on='["2026-03-02"]', by_persona='{"admin": [...]}');
    anything else as the text it is, for pydantic to read."""
    if value[:1] in ("[", "{"):
        with contextlib.suppress(json.JSONDecodeError):
            parsed: object = json.loads(value)
            return parsed
    return value


@app.command()
def signal(
    account_id: str,
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(SIGNALS)}.")],
    fields: Annotated[
        list[str] | None,
        typer.Argument(help="field=value pairs, e.g. measure=support value=35 (lists as JSON)"),
    ] = None,
) -> None:
    """Send an event to a journey as a CRM would (event_id and occurred_at default to new/now)."""
    settings = _settings()
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
        for line in validation_lines(e):
            err.print(f"  {line}")
        raise typer.Exit(2) from None

    async def go() -> None:
        async with _session(settings) as ctx:
            await send_event(ctx.client, account_id, kind, event)
            out.print(f"{account_id}: {kind} sent (event_id {event.event_id})")

    _run(go())


@app.command()
def complete(
    account_id: str,
    milestone: str,
    by: Annotated[str | None, typer.Option(help="Who completed it.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Mark an onboarding milestone done."""
    settings = _settings()

    async def go() -> None:
        async with _session(settings) as ctx:
            m = await complete_milestone(ctx.client, account_id, milestone, by)
            if as_json:
                out.print_json(m.model_dump_json())
            else:
                late = " (late)" if m.late else ""
                out.print(f"{account_id}: {m.title} done on day {m.done_day or 0:g}{late}")

    _run(go())


@app.command()
def tasks(
    overdue: Annotated[bool, typer.Option(help="Only open tasks past their due date.")] = False,
    csm: Annotated[str | None, typer.Option(help="Only this CSM's accounts.")] = None,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Closed tasks too.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Tasks that plays created, soonest due first."""
    settings = _settings()

    async def go() -> None:
        async with _pool(settings) as pool:
            rows = await list_tasks(
                pool, account_id=account, csm=csm, status=None if all_ else "open", overdue=overdue
            )
        if as_json:
            out.print_json(data=[r.model_dump(mode="json") for r in rows])
            return
        table = Table("id", "account", "task", "assignee", "csm", "due", "status")
        for r in rows:
            late = r.status == "open" and r.due_real_at < datetime.now(UTC)
            table.add_row(
                str(r.id),
                r.account_id,
                r.title,
                r.assignee_role,
                r.csm,
                ("[red]" if late else "")
                + r.due_at.date().isoformat()
                + ("[/red]" if late else ""),
                r.status,
            )
        out.print(table)

    _run(go())


task_app = typer.Typer(no_args_is_help=True, help="One task.")
app.add_typer(task_app, name="task")


@task_app.command("done")
def task_done(
    task_id: int,
    by: Annotated[str, typer.Option(help="Who did it.")] = "cli",
) -> None:
    """Mark a task done; its play is told and moves on."""
    settings = _settings()

    async def go() -> None:
        async with _session(settings) as ctx, _pool(settings) as pool:
            task = await mark_task_done(ctx.client, pool, task_id, by)
            state = "was already " + task.status if task.status != "open" else "done"
            out.print(f"task {task_id} ({task.title}) {state}")

    _run(go())


@app.command()
def timeline(account_id: str, as_json: JsonOpt = False) -> None:
    """Everything that happened on an account's journey, oldest first."""
    settings = _settings()

    async def go() -> None:
        async with _pool(settings) as pool:
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

    _run(go())


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="Leave servers and journeys running.")] = False,
    accounts: Annotated[Path, typer.Option(help="Sample accounts.")] = Path(
        "samples/accounts.json"
    ),
    day_seconds: Annotated[float, typer.Option(help="Seconds per journey day.")] = 0.25,
    verbose: Annotated[bool, typer.Option(help="Show the worker's logs too.")] = False,
) -> None:
    """Run sample journeys in compressed time and show where each ended up."""
    from devtools.demo import run_demo

    settings = _settings()
    if not verbose:
        configure_logging(settings.log_format, "warning")
    loaded = [Account.model_validate(a) for a in json.loads(accounts.read_text())]
    pinned = _load_policy(settings.policy_file)
    code = _run(run_demo(settings, loaded, pinned, day_seconds=day_seconds, keep=keep, console=out))
    raise typer.Exit(code)


def main() -> None:
    app()
