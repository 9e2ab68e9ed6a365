"""How a journey reads on a terminal: `waypost status` in one screen."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from workflows.state import JourneyState

COLOUR = {"done": "green", "overdue": "red", "pending": "yellow"}
HEALTH = {"green": "green", "yellow": "yellow", "red": "red", "unscored": "dim"}


def status_view(state: JourneyState, link: str | None) -> RenderableType:
    parts: list[RenderableType] = [
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
        parts.append(Text(f"tenure: {state.tenure.reason}"))
    if state.ended:
        parts.append(Text(f"ended: {state.ended.outcome} — {state.ended.reason}", style="bold"))
    parts.append(_health(state))
    if state.adoption:
        parts.append(Text(f"adoption: {state.adoption.reason}"))
        for p in state.adoption.personas:
            if p.status != "no_expectation" or p.incidents:
                parts.append(Text(f"  {p.persona}: {p.status} — {p.reason}"))
    parts.append(_milestones(state))
    if state.recurring:
        parts.append(_recurring(state))
    if state.open_plays:
        plays = Table("play", "since day", "why", title="Open plays", title_justify="left")
        for run in state.open_plays.values():
            plays.add_row(
                f"{run.title} [dim]({run.play_id})[/dim]", f"{run.started_day:g}", run.why
            )
        parts.append(plays)
    if state.triggers:
        parts.append(_triggers(state))
    if state.next_timers:
        timers = Table("next", "day", "date", title="Waiting for", title_justify="left")
        for t in state.next_timers:
            timers.add_row(t.what, f"{t.day:g}", t.at.date().isoformat())
        parts.append(timers)
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


def _health(state: JourneyState) -> Text:
    h = state.health
    if h is None:
        return Text("health: not scored yet", style="dim")
    line = Text("health: ")
    line.append(h.colour, style=f"bold {HEALTH[h.colour]}")
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
            f"[{COLOUR[m.status]}]{status_text}[/]",
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


def print_status(console: Console, state: JourneyState, link: str | None) -> None:
    console.print(status_view(state, link))
