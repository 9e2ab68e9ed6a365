"""Commands on the tasks plays create: list them, mark one done."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from activities.models import TaskRow
from starter.cli import common
from starter.cli.common import JsonOpt, out
from starter.journeys import journey_when
from starter.tasks import journey_clocks, mark_task_done
from store.tasks import list_tasks
from workflows.clock import JourneyClock

task_app = typer.Typer(no_args_is_help=True, help="One task.")


def tasks(
    overdue: Annotated[bool, typer.Option(help="Only open tasks past their due date.")] = False,
    csm: Annotated[str | None, typer.Option(help="Only this CSM's accounts.")] = None,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Closed tasks too.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Tasks that plays created, soonest due first."""
    settings = common.settings()

    async def go() -> None:
        async with common.pool(settings) as pool:
            rows = await list_tasks(
                pool, account_id=account, csm=csm, status=None if all_ else "open", overdue=overdue
            )
        if as_json:
            out.print_json(data=[r.model_dump(mode="json") for r in rows])
            return
        async with common.session(settings) as ctx:
            clocks = await journey_clocks(ctx.client, (r.account_id for r in rows))
        out.print(tasks_table(rows, clocks))

    common.run(go())


def tasks_table(rows: Sequence[TaskRow], clocks: dict[str, JourneyClock]) -> Table:
    """Deadlines on each journey's clock, like `waypost status`; a journey that cannot be read
    now shows the real deadline, marked so."""
    table = Table("id", "account", "task", "assignee", "csm", "due", "status")
    now = datetime.now(UTC)
    for r in rows:
        clock = clocks.get(r.account_id)
        due = journey_when(clock, r.due_at) if clock else f"{r.due_at:%Y-%m-%d %H:%M} (real time)"
        late = r.status == "open" and r.due_at < now
        table.add_row(
            str(r.id),
            r.account_id,
            r.title,
            r.assignee_role,
            r.csm,
            f"[red]{due}[/red]" if late else due,
            r.status,
        )
    return table


@task_app.command("done")
def task_done(
    task_id: int,
    by: Annotated[str, typer.Option(help="Who did it.")] = "cli",
) -> None:
    """Mark a task done; its play is told and moves on."""
    settings = common.settings()

    async def go() -> None:
        async with common.session(settings) as ctx, common.pool(settings) as pool:
            task = await mark_task_done(ctx.client, pool, task_id, by)
            state = "was already " + task.status if task.status != "open" else "done"
            out.print(f"task {task_id} ({task.title}) {state}")

    common.run(go())
