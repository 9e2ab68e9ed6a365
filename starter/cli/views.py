"""How journeys read on a terminal: `waypost status` in one screen, `waypost list` as a table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from temporalio.client import Client

from activities.models import TaskRow
from starter.contracts import start_contracts
from starter.journeys import Started, journey_when
from starter.portfolio import Filters, JourneyRow, list_portfolio, visibility_query
from workflows.journey.state import JourneyState, MilestoneStatus
from workflows.models import Account, HealthLabel
from workflows.policy import Policy

# Rich styles keyed by the journeys' own words, typed so that a word they do not use fails mypy.
STATUS_STYLE: dict[MilestoneStatus, str] = {"done": "green", "overdue": "red", "pending": "yellow"}
HEALTH_STYLE: dict[HealthLabel, str] = {
    "green": "green",
    "yellow": "yellow",
    "red": "red",
    "unscored": "dim",
}


def _health_style(health: str) -> str:
    """A search attribute's health word; one the journeys do not use shows dim."""
    return next((style for label, style in HEALTH_STYLE.items() if label == health), "dim")


def status_view(
    state: JourneyState, link: str | None, tasks: Sequence[TaskRow] | None = None
) -> RenderableType:
    """Everything about one journey; `tasks` are its plays' open tasks (None: not looked up)."""
    parts: list[RenderableType] = [*_summary(state), _health(state), *_adoption(state)]
    parts.append(_milestones(state))
    if state.recurring:
        parts.append(_recurring(state))
    if state.open_plays:
        parts.append(_open_plays(state))
    if tasks:
        parts.append(_tasks(state, tasks))
    elif tasks is not None:
        parts.append(Text("open tasks: none", style="dim"))
    if state.triggers:
        parts.append(_triggers(state))
    if state.next_timers:
        parts.append(_timers(state))
    ledger = state.ledger
    parts.append(
        Text(
            f"events: {ledger.applied} applied, {ledger.duplicates} duplicate, "
            f"{ledger.stale} stale",
            style="dim",
        )
    )
    if link:
        parts.append(Text(f"Temporal UI: {link}"))
    return Group(*parts)


def _summary(state: JourneyState) -> list[RenderableType]:
    """Who the account is, where its journey stands, and under which policy and contract."""
    lines: list[RenderableType] = [
        Text.from_markup(
            f"[bold]{state.account_id}[/bold]  {state.segment}/{state.tier}  csm {state.csm}  "
            f"stage [bold]{state.stage}[/bold]  day {state.journey_day:g}"
            + (f" ({state.today})" if state.today else "")
            + (f"  runs {state.runs}" if state.runs > 1 else "")
        ),
        Text(f"track {state.track} ({state.touch} touch): {state.track_reason}"),
        Text(
            f"policy {state.policy_name} v{state.policy_version}"
            + (
                f"  contract {state.contract_start} → {state.contract_end}"
                if state.contract_end
                else ""
            )
        ),
    ]
    if state.tenure:
        lines.append(Text(f"tenure: {state.tenure.reason}"))
    if state.ended:
        lines.append(Text(f"ended: {state.ended.outcome} — {state.ended.reason}", style="bold"))
    return lines


def _adoption(state: JourneyState) -> list[RenderableType]:
    if not state.adoption:
        return []
    lines: list[RenderableType] = [Text(f"adoption: {state.adoption.reason}")]
    for p in state.adoption.personas:
        if p.status != "no_expectation" or p.incidents:
            lines.append(Text(f"  {p.persona}: {p.status} — {p.reason}"))
    return lines


def _open_plays(state: JourneyState) -> Table:
    plays = Table("play", "since day", "why", title="Open plays", title_justify="left")
    for run in state.open_plays.values():
        plays.add_row(f"{run.title} [dim]({run.play_id})[/dim]", f"{run.started_day:g}", run.why)
    return plays


def _timers(state: JourneyState) -> Table:
    timers = Table("next", "day", "date", title="Waiting for", title_justify="left")
    for t in state.next_timers:
        timers.add_row(t.what, f"{t.day:g}", t.at.date().isoformat())
    return timers


def _health(state: JourneyState) -> Text:
    h = state.health
    if h is None:
        return Text("health: not scored yet", style="dim")
    line = Text("health: ")
    line.append(h.colour, style=f"bold {HEALTH_STYLE[h.colour]}")
    line.append(f" {h.score:g} — ")
    line.append(
        ", ".join(
            f"{c.measure} {c.value:g}"
            + (f" ({n.note})" if (n := state.measures.get(c.measure)) and n.note else "")
            for c in h.contributions
        )
    )
    return line


def _milestones(state: JourneyState) -> Table:
    table = Table(
        "milestone",
        "owner",
        "due day",
        "status",
        "done day",
        title="Onboarding",
        title_justify="left",
    )
    for m in state.milestones:
        status_text = m.status + (" (late)" if m.late else "")
        kind = " [dim]rollout[/dim]" if m.kind == "rollout_stage" else ""
        table.add_row(
            f"{m.title} [dim]({m.key})[/dim]{kind}",
            m.owner,
            f"{m.due_day:g}",
            f"[{STATUS_STYLE[m.status]}]{status_text}[/]",
            "" if m.done_day is None else f"{m.done_day:g}",
        )
    return table


def _recurring(state: JourneyState) -> Table:
    table = Table(
        "recurring",
        "every",
        "latest due",
        "done",
        "next due day",
        title="Long tail",
        title_justify="left",
    )
    for r in state.recurring:
        latest = (
            f"#{r.occurrence} day {r.due_day:g}" if r.occurrence and r.due_day is not None else "—"
        )
        done = ", ".join(f"#{n}" for n in r.done_occurrences) or "—"
        table.add_row(
            f"{r.title} [dim]({r.key})[/dim]",
            f"{r.every_days:g}d",
            latest,
            done,
            "" if r.next_due_day is None else f"{r.next_due_day:g}",
        )
    return table


def _triggers(state: JourneyState) -> Table:
    table = Table("day", "trigger", "plays", title="Triggers (newest last)", title_justify="left")
    for t in state.triggers[-8:]:
        plays = ", ".join(
            d.play if d.start else f"[dim]{d.play}: {d.reason}[/dim]" for d in t.decisions
        )
        table.add_row(f"{t.day:g}", t.summary, plays or "[dim]none[/dim]")
    return table


def _tasks(state: JourneyState, tasks: Sequence[TaskRow]) -> Table:
    table = Table("id", "task", "assignee", "due", "play", title="Open tasks", title_justify="left")
    now, clock = datetime.now(UTC), state.clock()
    for t in tasks:
        # A task's deadline is real; shown on the journey's clock like every time on this screen.
        late = t.status == "open" and t.due_at < now
        due = journey_when(clock, t.due_at)
        table.add_row(
            str(t.id),
            escape(t.title) + (" [dim](escalation)[/dim]" if t.escalation_of else ""),
            t.assignee_role,
            f"[red]{due} overdue[/red]" if late else due,
            f"[dim]{escape(t.play_id)}[/dim]",
        )
    return table


def print_status(
    console: Console,
    state: JourneyState,
    link: str | None,
    tasks: Sequence[TaskRow] | None = None,
) -> None:
    console.print(status_view(state, link, tasks))


def list_view(rows: Sequence[JourneyRow], *, why: bool = False, truncated: bool = False) -> Table:
    """`waypost list`: one line per journey, worst health first.

    With `why`, the columns answer "what changed and why": when health last changed and the
    trigger's summary, in place of plays, next due item and renewal.
    """
    caption = f"{len(rows)} journey(s)" + (" (more not shown: narrow the filters)" * truncated)
    table = Table(caption=caption, caption_justify="left")
    for name in ("account", "segment", "stage", "health"):
        table.add_column(name, no_wrap=True)
    if why:
        table.add_column("health changed", no_wrap=True)
        table.add_column("why", ratio=1)
    else:
        table.add_column("plays", justify="right")
        table.add_column("next due")
        table.add_column("renewal", no_wrap=True)
        table.add_column("csm")
    for r in rows:
        cells = [
            escape(r.account_id) + ("" if r.running else " [dim](closed)[/dim]"),
            escape(r.segment or "—"),
            escape(r.stage or "—"),
            f"[{_health_style(r.health)}]{r.health}[/]",
        ]
        if why:
            when = "—"
            if r.health_changed_at and r.health_changed_day is not None:
                when = f"{r.health_changed_at.date()} [dim]day {r.health_changed_day:g}[/dim]"
            cells += [when, escape(r.health_why or "—")]
        else:
            nxt = "—"
            if r.state_error is not None:
                nxt = f"[dim]state unavailable: {escape(r.state_error)}[/dim]"
            elif r.next_due:
                nxt = escape(r.next_due) + (f" {r.next_due_at.date()}" if r.next_due_at else "")
            renewal = "—"
            if r.renewal_date:
                left = r.days_to_renewal
                renewal = f"{r.renewal_date}" + (f" ({left}d)" if left is not None else "")
            cells += [str(r.open_plays), nxt, renewal, escape(r.csm or "—")]
        table.add_row(*cells)
    return table


async def show_list(
    client: Client,
    filters: Filters,
    console: Console,
    *,
    why: bool = False,
    as_json: bool = False,
    limit: int = 1000,
) -> list[JourneyRow]:
    """`waypost list`: the visibility query, each journey's state, printed (or as JSON)."""
    rows, truncated = await list_portfolio(client, filters, limit=limit)
    if as_json:
        console.print_json(
            data={
                "query": visibility_query(filters),
                "truncated": truncated,
                "journeys": [
                    r.model_dump(mode="json") | {"days_to_renewal": r.days_to_renewal} for r in rows
                ],
            }
        )
    else:
        console.print(list_view(rows, why=why, truncated=truncated))
    return rows


async def start_with_progress(
    client: Client,
    accounts: list[Account],
    policy: Policy,
    *,
    task_queue: str,
    day_seconds: float,
    console: Console,
) -> list[Started]:
    """`waypost start --csv`: every contract's journey, with a progress bar."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        bar = progress.add_task("Starting journeys", total=len(accounts))
        return await start_contracts(
            client,
            accounts,
            policy,
            task_queue=task_queue,
            day_seconds=day_seconds,
            on_started=lambda _started: progress.advance(bar),
        )
