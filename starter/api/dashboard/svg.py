"""One journey as a picture: an SVG timeline drawn on the server, from data only.

Pure (no I/O, no clock reads): the journey's `state`, its timeline rows and its play records
go in, SVG text comes out, so the picture is unit-tested like any other function. The x axis
is journey days; every mark carries a `<title>` (the browser's tooltip) with its why, and
`class`/`data-*` attributes that say what it is, for people with tools and for tests.

This module draws the lanes; what they show comes from `marks.py` (in journey days), where it
goes from `canvas.py`, its colours from `palette.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

from activities.models import TimelineRow
from starter.api.dashboard.canvas import (
    LABEL_WIDTH,
    ROW,
    Canvas,
    attributes,
    element,
    esc,
    nice_step,
)
from starter.api.dashboard.marks import (
    HealthSpan,
    PlayBar,
    health_spans,
    last_day,
    play_bars,
    recurring_marks,
)
from starter.api.dashboard.palette import COLOURS, HEALTH_FILLS, STATUS_FILLS
from store.plays import PlayRecord
from workflows.clock import JourneyClock, midnight
from workflows.journey.state import JourneyState
from workflows.models import UNSCORED


def _health_lane(c: Canvas, spans: list[HealthSpan]) -> None:
    c.label("Health", bold=True)
    parts = []
    for s in spans:
        x1, x2 = c.x(s.start), c.x(s.end)
        parts.append(
            element(
                "rect",
                f"{s.colour} from day {s.start:g}: {s.why}",
                class_="health-span",
                data_colour=s.colour,
                data_start=f"{s.start:g}",
                x=x1,
                y=c.y - 7,
                width=max(x2 - x1, 1.5),
                height=14,
                rx=2,
                fill=COLOURS.get(s.colour, HEALTH_FILLS[UNSCORED]),
            )
        )
    c.add(element("g", None, "".join(parts), class_="health"))
    c.y += ROW + 8


def _milestone_lanes(c: Canvas, state: JourneyState, today: float) -> None:
    c.label(f"Onboarding ({state.track})", bold=True)
    c.y += ROW
    for m in state.milestones:
        c.label(m.title)
        due_x = c.x(m.due_day)
        marks = [
            c.line(0, m.due_day, COLOURS["grid"], 4),
            element("line", x1=due_x, y1=c.y - 7, x2=due_x, y2=c.y + 7, stroke=COLOURS["axis"]),
        ]
        if m.status == "overdue" or (m.done_day is not None and m.done_day > m.due_day):
            late_to = m.done_day if m.done_day is not None else today
            marks.append(c.line(m.due_day, late_to, STATUS_FILLS["overdue"], 4, class_="late"))
        if m.done_day is not None:
            fill = STATUS_FILLS["overdue"] if m.late else STATUS_FILLS["done"]
            marks.append(element("circle", cx=c.x(m.done_day), cy=c.y, r=5, fill=fill))
            done = f", done day {m.done_day:g}" + (" (late)" if m.late else "")
        else:
            marks.append(
                element(
                    "circle",
                    cx=due_x,
                    cy=c.y,
                    r=5,
                    fill="white",
                    stroke=STATUS_FILLS[m.status],
                    stroke_width=2,
                )
            )
            done = ""
        title = f"{m.title}: {m.status}, due day {m.due_day:g}{done} (owner {m.owner})"
        c.add(
            element(
                "g", title, "".join(marks), class_="milestone", data_key=m.key, data_status=m.status
            )
        )
        c.y += ROW


def _recurring_lanes(c: Canvas, state: JourneyState, timeline: Sequence[TimelineRow]) -> None:
    if not state.recurring:
        return
    c.heading("Recurring")
    marks = recurring_marks(state, timeline)
    for r in state.recurring:
        c.label(f"{r.title} (every {r.every_days:g}d)")
        items = []
        for day, kind, why in marks.get(r.key, []):
            if day > c.hi:
                continue
            x = c.x(day)
            fill = {"done": STATUS_FILLS["done"], "due": STATUS_FILLS["pending"]}.get(kind, "white")
            items.append(
                element(
                    "rect",
                    why,
                    class_="occurrence",
                    data_kind=kind,
                    x=x - 5,
                    y=c.y - 5,
                    width=10,
                    height=10,
                    transform=f"rotate(45 {x} {c.y})",
                    fill=fill,
                    stroke=COLOURS["axis"],
                )
            )
        if r.next_due_day is not None and r.next_due_day > c.hi:
            items.append(
                f"<text {attributes(x=c.x(c.hi) - 4, y=c.y + 4, font_size=10, text_anchor='end')}>"
                f"next: day {r.next_due_day:g} →</text>"
            )
        nxt = f"; next due day {r.next_due_day:g}" if r.next_due_day is not None else ""
        title = f"{r.title}: every {r.every_days:g} days{nxt}"
        c.add(element("g", title, "".join(items), class_="recurring", data_key=r.key))
        c.y += ROW


def _play_lanes(c: Canvas, bars: list[PlayBar], today: float) -> None:
    c.heading("Plays")
    if not bars:
        c.add(f"<text {attributes(x=LABEL_WIDTH, y=c.y - 16, font_size=11)}>none</text>")
    for b in bars:
        c.label(b.title)
        x1, x2 = c.x(b.start), c.x(b.end if b.end is not None else today)
        colour = COLOURS["play"] if b.end is None else COLOURS["play_ended"]
        shapes = element(
            "rect", x=x1, y=c.y - 6, width=max(x2 - x1, 3), height=12, rx=3, fill=colour
        )
        if b.cause and x2 - x1 > 80:  # which milestone, persona or contact it is about
            where = attributes(x=x1 + 5, y=c.y + 4, font_size=10, fill="white")
            shapes += f"<text {where}>{esc(b.cause[:40])}</text>"
        if b.end is None:  # still running: an arrow into the future
            points = f"{x2},{c.y - 7} {x2 + 8},{c.y} {x2},{c.y + 7}"
            shapes += element("polygon", points=points, fill=colour)
        ended = f"ended day {b.end:g} ({b.status})" if b.end is not None else "still running"
        title = f"{b.title}: started day {b.start:g}, {ended}. Why: {b.why}"
        c.add(
            element("g", title, shapes, class_="play", data_play_id=b.play_id, data_status=b.status)
        )
        c.y += ROW


def _trigger_lane(c: Canvas, state: JourneyState) -> None:
    triggers = [t for t in state.triggers if t.day <= c.hi]
    if not triggers:
        return
    c.y += 6
    c.label("Triggers", bold=True)
    for t in triggers:
        x = c.x(t.day)
        points = f"{x},{c.y - 7} {x + 6},{c.y + 5} {x - 6},{c.y + 5}"
        shape = element("polygon", points=points, fill=COLOURS["axis"])
        c.add(
            element("g", f"day {t.day:g}: {t.summary}", shape, class_="trigger", data_kind=t.kind)
        )
    c.y += ROW


def _axis(c: Canvas, clock: JourneyClock, bottom: float) -> None:
    """Day numbers with their journey dates, and a grid line per tick (drawn under the rest)."""
    ticks = []
    for d in range(0, int(c.hi) + 1, nice_step(c.hi)):
        x = c.x(d)
        on = clock.time_of(d).date().isoformat()
        ticks.append(
            element("line", x1=x, y1=34, x2=x, y2=bottom, stroke=COLOURS["grid"])
            + f"<text {attributes(x=x, y=18, text_anchor='middle')}>day {d}</text>"
            + f"<text {attributes(x=x, y=30, text_anchor='middle', font_size=9)}>{on}</text>"
        )
    c.parts[:0] = [
        element("g", None, "".join(ticks), class_="axis", font_size=11, fill=COLOURS["axis"])
    ]


def _today_and_renewal(c: Canvas, state: JourneyState, today: float, bottom: float) -> None:
    clock = state.clock()
    if state.contract_end is not None:
        end_day = clock.day_of(midnight(state.contract_end, state.started_at))
        if end_day <= c.hi:
            x = c.x(end_day)
            c.add(
                element(
                    "g",
                    f"Contract ends {state.contract_end}",
                    element(
                        "line",
                        x1=x,
                        y1=34,
                        x2=x,
                        y2=bottom,
                        stroke=HEALTH_FILLS["red"],
                        stroke_dasharray="2 3",
                    )
                    + f"<text {attributes(x=x, y=bottom + 14, font_size=11, text_anchor='middle')}>"
                    "renewal</text>",
                    class_="renewal",
                )
            )
        else:
            # A line below "today", so the two never overlap at the right edge.
            where = attributes(
                class_="renewal", x=c.width - 24, y=bottom + 30, font_size=11, text_anchor="end"
            )
            c.add(f"<text {where}>renewal {state.contract_end} (day {end_day:g}) →</text>")
    x = c.x(today)
    line = element(
        "line", x1=x, y1=34, x2=x, y2=bottom, stroke=COLOURS["today"], stroke_dasharray="4 3"
    )
    text = f"<text {attributes(x=x, y=bottom + 14, font_size=11, text_anchor='middle')}>"
    c.add(
        element(
            "g",
            None,
            line + f"{text}today, day {today:g}</text>",
            class_="today",
            data_day=f"{today:g}",
        )
    )


def journey_svg(
    state: JourneyState,
    timeline: Sequence[TimelineRow] = (),
    plays: Sequence[PlayRecord] = (),
    *,
    width: int = 1100,
) -> str:
    """The journey's timeline picture: health colour over time, milestones done and overdue,
    recurring items, plays from start to end (with their why), triggers, today and renewal."""
    today = last_day(state)
    spans = health_spans(state, timeline)
    bars = play_bars(state, plays)
    ends = [today, *(m.due_day for m in state.milestones)]
    ends += [m.done_day for m in state.milestones if m.done_day is not None]
    ends += [b.end or b.start for b in bars]
    c = Canvas(max(1.0, max(ends) * 1.06), width)
    _health_lane(c, spans)
    _milestone_lanes(c, state, today)
    _recurring_lanes(c, state, timeline)
    _play_lanes(c, bars, today)
    _trigger_lane(c, state)
    bottom = c.y
    _axis(c, state.clock(), bottom)
    _today_and_renewal(c, state, today, bottom)
    height = int(bottom + 38)
    title = (
        f"Journey of {state.account_id}: day {today:g}, health {state.health_colour}, "
        f"stage {state.stage}"
    )
    return (
        f"<svg {attributes(xmlns='http://www.w3.org/2000/svg', class_='journey-timeline')} "
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'font-family="system-ui, sans-serif"><title>{esc(title)}</title>'
        f'<rect width="{width}" height="{height}" fill="white"/>{"".join(c.parts)}</svg>'
    )
