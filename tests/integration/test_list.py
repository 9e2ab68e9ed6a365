"""`waypost list`, `start --csv` and `status` with open tasks, against the real Temporal dev
server and Postgres (the functions the CLI commands call, printed to a recording console)."""

from __future__ import annotations

import io
import json
from datetime import date, datetime

import asyncpg
import pytest
from rich.console import Console
from temporalio.client import Client

from activities.models import TaskRow
from starter.cli.views import print_status, show_list, start_with_progress
from starter.contracts import read_contracts
from starter.journeys import journey_state, journey_when
from starter.portfolio import Filters
from starter.tasks import PlayTaskStore
from store.tasks import list_tasks
from tests.browser.seed import DAY_SECONDS, Seeded
from tests.waiting import eventually
from workflows.policy import Policy

pytestmark = pytest.mark.integration


def _console() -> Console:
    return Console(record=True, width=220, file=io.StringIO(), color_system=None)


async def test_which_enterprise_accounts_turned_yellow_and_why(
    client: Client, task_queue: str, seeded: Seeded
) -> None:
    console = _console()
    filters = Filters(health="yellow", segment="enterprise", task_queue=task_queue)
    rows = await show_list(client, filters, console, why=True)
    assert sorted(r.account_id for r in rows) == seeded.ids("yellow_1", "yellow_2")
    text = console.export_text()
    for role, note in (("yellow_1", "3 escalations in 30 days"), ("yellow_2", "renewal doubts")):
        line = next(ln for ln in text.splitlines() if seeded.accounts[role].account_id in ln)
        assert "Health green→yellow" in line and note in line and "2026-01-01" in line
    assert "2 journey(s)" in text

    # This quarter, in journey time (the seeded journeys live in January 2026).
    this_quarter = Filters(
        health="yellow", segment="enterprise", since=date(2026, 1, 1), task_queue=task_queue
    )
    assert len(await show_list(client, this_quarter, _console())) == 2
    later = this_quarter.model_copy(update={"since": date(2026, 4, 1)})
    assert await show_list(client, later, _console()) == []


@pytest.mark.parametrize(
    ("filters", "roles"),
    [
        ({"health": "unscored"}, ["unscored"]),
        ({"csm": "sam"}, ["red", "unscored"]),
        ({"segment": "enterprise", "health": "green"}, ["green"]),
        ({"stage": "onboarding", "segment": "smb"}, ["red", "unscored"]),
        ({"stage": "mature"}, []),
    ],
)
async def test_each_filter_is_a_search_attribute(
    client: Client,
    task_queue: str,
    seeded: Seeded,
    filters: dict[str, str],
    roles: list[str],
) -> None:
    rows = await show_list(client, Filters(**filters, task_queue=task_queue), _console())
    assert sorted(r.account_id for r in rows) == seeded.ids(*roles)


async def test_list_as_json(client: Client, task_queue: str, seeded: Seeded) -> None:
    console = _console()
    await show_list(client, Filters(task_queue=task_queue), console, as_json=True)
    data = json.loads(console.export_text())
    assert data["query"].startswith("WorkflowType = 'CustomerJourney'")
    by_id = {j["account_id"]: j for j in data["journeys"]}
    assert {a: j["health"] for a, j in by_id.items()} == seeded.colours
    # Worst first: red, then the yellows, then green, then unscored.
    assert [j["health"] for j in data["journeys"]] == [
        "red",
        "yellow",
        "yellow",
        "green",
        "unscored",
    ]
    unscored = by_id[seeded.accounts["unscored"].account_id]
    assert unscored["renewal_date"] == "2026-03-02"
    assert unscored["next_due"] is not None


async def test_start_from_a_csv_of_contracts(
    client: Client, task_queue: str, worker: object, policy: Policy
) -> None:
    ids = [f"csv-{n}-{task_queue[-10:]}" for n in range(3)]
    text = "account_id,name,segment,tier,add_ons,seats,contract_start,contract_end,csm\n"
    text += "".join(
        f"{a},Account {n},smb,base,,{10 + n},2026-01-01,2027-01-01,dana\n"
        for n, a in enumerate(ids)
    )
    accounts = read_contracts(text)
    out = _console()
    started = await start_with_progress(
        client, accounts, policy, task_queue=task_queue, day_seconds=DAY_SECONDS, console=out
    )
    assert [s.workflow_id for s in started] == [f"journey-{a}" for a in ids]
    assert all(s.created for s in started)
    assert "Starting journeys" in out.export_text()
    for a in ids:
        assert (await journey_state(client, a)).account_id == a

    again = await start_with_progress(
        client, accounts, policy, task_queue=task_queue, day_seconds=DAY_SECONDS, console=out
    )
    assert not any(s.created for s in again)


async def test_status_shows_open_tasks(client: Client, pool: asyncpg.Pool, seeded: Seeded) -> None:
    account_id = seeded.accounts["yellow_1"].account_id

    async def open_tasks() -> list[TaskRow]:
        return await list_tasks(pool, account_id=account_id, status="open")

    tasks = await eventually(
        open_tasks,
        lambda found: any(t.title == "Find the measure that dropped and why" for t in found),
        what="the recovery play's first task",
    )
    console = _console()
    state = await journey_state(client, account_id)
    print_status(console, state, None, tasks)
    text = console.export_text()
    assert "Open tasks" in text
    assert "Find the measure that dropped and why" in text
    # A deadline is kept real; the screen gives it on the journey's clock like everything else.
    clock = state.clock()
    for task in tasks:
        assert journey_when(clock, task.due_at) in text
        assert task.due_at.date().isoformat() not in text
    # The API's task JSON (and `waypost tasks --json`) is for machines: the real deadlines
    # Postgres keeps, one base for every row whatever Temporal can answer.
    listed = await PlayTaskStore(pool, client).list_tasks(
        account_id=account_id, status="open", csm=None, overdue=False
    )
    shown = {t["id"]: datetime.fromisoformat(t["due_at"]) for t in listed}
    # (the play may have opened another task since; those seen above must read the same)
    assert {t.id: shown.get(t.id) for t in tasks} == {t.id: t.due_at for t in tasks}

    quiet = _console()
    green = seeded.accounts["green"].account_id
    print_status(quiet, await journey_state(client, green), None, [])
    assert "open tasks: none" in quiet.export_text()
