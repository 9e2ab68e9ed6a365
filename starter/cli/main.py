"""`waypost`: the command line. Thin: parse, call starter/*, print.

The commands live by subject (journeys, tasks, infra, policy); this module lays them out in
one Typer app, in the order `waypost --help` lists them.
"""

from __future__ import annotations

import typer

from starter.cli import infra, journeys, tasks
from starter.cli.policy import policy_app

app = typer.Typer(no_args_is_help=True, help="Customer journeys as durable Temporal workflows.")
app.add_typer(infra.db_app, name="db")
app.add_typer(policy_app, name="policy")

app.command()(infra.dev)
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
    infra.bench
)
app.command("api")(infra.api_cmd)
app.command("codec-server")(infra.codec_server_cmd)
app.command("worker")(infra.worker_cmd)
app.command()(journeys.start)
app.command()(journeys.status)
app.command("list")(journeys.list_cmd)
app.command()(journeys.signal)
app.command()(journeys.complete)
app.command()(tasks.tasks)
app.add_typer(tasks.task_app, name="task")
app.command()(journeys.timeline)
app.command()(infra.demo)


def main() -> None:
    app()
