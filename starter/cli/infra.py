"""Commands that run things: the embedded dev servers, a worker, the API, the codec server,
migrations, the demo and the bench."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from devtools.infra import DevInfra, ensure_infra, stop_embedded
from runtime.logs import configure_logging
from starter.cli import common
from starter.cli.common import out
from starter.tasks import PlayTaskStore
from store import db
from workflows.models import Account

db_app = typer.Typer(no_args_is_help=True, help="The Postgres schema.")


def dev(
    worker: Annotated[bool, typer.Option(help="Also run a worker in this process.")] = True,
) -> None:
    """Start the embedded Temporal dev server and Postgres, and keep them up until Ctrl-C."""
    from worker import run as run_worker

    settings = common.settings()
    infra = ensure_infra(settings, start=True)
    common.run(_migrate(infra))
    out.print(f"Temporal  {infra.temporal_address}")
    out.print(f"Postgres  {infra.database_url}")
    out.print(f"UI        {infra.ui_url or '(external server)'}")
    try:
        if worker:
            out.print("Worker    running (Ctrl-C stops everything)")
            common.run(run_worker(settings))
        else:
            out.print("Press Ctrl-C to stop.")
            common.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        stop_embedded(settings)
        out.print("stopped")


async def _migrate(infra: DevInfra) -> list[str]:
    if infra.embedded_database:
        await db.ensure_database(infra.database_url)
    return await db.migrate(infra.database_url)


def bench(ctx: typer.Context) -> None:
    """Measure Waypost against the bare-Temporal floor (bench/results/latest.json).

    Options are the harness's own (`waypost bench --help-bench` lists them), e.g. --quick.
    """
    from bench.run import main as bench_main

    args = list(ctx.args)
    raise typer.Exit(bench_main(["--help"] if args == ["--help-bench"] else args))


def api_cmd(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API (contracts, CRM webhooks, journeys, tasks) and its inbox relay."""
    from starter.api.serve import serve

    settings = common.settings()
    common.run(serve(settings, host=host, port=port, tasks=PlayTaskStore))


def codec_server_cmd(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
) -> None:
    """Serve /encode and /decode: the Temporal UI shows encrypted payloads to token holders."""
    from starter.codec_server import serve_codec

    settings = common.settings()
    common.run(serve_codec(settings, host=host, port=port))


def worker_cmd() -> None:
    """Run a worker (same as `python worker.py`)."""
    from worker import main as worker_main

    worker_main()


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations; safe to run again."""
    settings = common.settings()
    applied = common.run(_migrate(ensure_infra(settings, start=True)))
    out.print(f"applied {len(applied)}: {', '.join(applied)}" if applied else "up to date")


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

    settings = common.settings()
    if not verbose:
        configure_logging(settings.log_format, "warning")
    loaded = [Account.model_validate(a) for a in json.loads(accounts.read_text())]
    pinned = common.read_policy(settings.policy_file)
    code = common.run(
        run_demo(settings, loaded, pinned, day_seconds=day_seconds, keep=keep, console=out)
    )
    raise typer.Exit(code)
