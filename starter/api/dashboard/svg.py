"""One journey as a picture: an SVG timeline drawn on the server, from data only.

Pure (no I/O, no clock reads): the journey's `state`, its timeline rows and its play records
go in, SVG text comes out, so the picture is unit-tested like any other function. The x axis
is journey days; every mark carries a `<title>` (the browser's tooltip) with its why, and
`class`/`data-*` attributes that say what it is, for people with tools and for tests.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from activities.models import TimelineRow
from store.plays import PlayRecord
from workflows.clock import JourneyClock, midnight
from workflows.journey.state import JourneyState

COLOURS = {
    "green": "#2e9e5b",
    "yellow": "#e3b200",
    "red": "#d64545",
    "unscored": "#b8bcc4",
    "done": "#2e9e5b",
    "overdue": "#d64545",
    "pending": "#8a8f98",
    "play": "#4a6fd1",
    "play_ended": "#9aa8d6",
    "axis": "#5b6170",
    "grid": "#e6e8ec",
    "today": "#222222",
}
LABEL_WIDTH = 230
ROW = 20
TICK_STEPS = (1, 2, 5, 7, 10, 14, 30, 60, 90, 180, 365, 730)


@dataclass(frozen=True)
class HealthSpan:
    start: float
    end: float
    colour: str
    why: str


@dataclass(frozen=True)
class PlayBar:
    title: str
    play_id: str
    start: float
    end: float | None
    status: str
    why: str
    cause: str = ""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _clock(state: JourneyState) -> JourneyClock:
    return JourneyClock(state.started_at, state.epoch or state.started_at, state.day_seconds)


def _today(state: JourneyState) -> float:
    if state.ended is not None:
        return max(state.journey_day, _clock(state).day_of(state.ended.at))
    return state.journey_day


def health_spans(state: JourneyState, timeline: Sequence[TimelineRow] = ()) -> list[HealthSpan]:
    """The health colour from day 0 to today, one span per colour.

    Colour changes come from the timeline's `health_changed` trigger rows (complete), or from
    the state's recent triggers when the timeline is not at hand. Before the first change the
    colour is that change's `previous`; a journey never scored is one grey span.
    """
    clock, today = _clock(state), _today(state)
    changes: list[tuple[float, str | None, str, str]] = []
    for row in timeline:
        if row.kind == "trigger" and (row.subject or "").startswith("health_changed:"):
            facts = (row.details.get("why") or {}).get("facts") or {}
            if isinstance(facts.get("colour"), str):
                changes.append(
                    (
                        clock.day_of(row.occurred_at),
                        facts.get("previous"),
                        facts["colour"],
                        row.summary,
                    )
                )
    if not changes:
        for t in state.triggers:
            if t.kind == "health_changed" and t.why is not None:
                colour, previous = t.why.facts.get("colour"), t.why.facts.get("previous")
                if isinstance(colour, str):
                    changes.append(
                        (t.day, previous if isinstance(previous, str) else None, colour, t.summary)
                    )
    changes.sort(key=lambda c: c[0])
    if not changes:
        if state.health is None:
            return [HealthSpan(0.0, today, "unscored", "not scored yet")]
        return [HealthSpan(0.0, today, state.health.colour, state.health.reason)]
    spans: list[HealthSpan] = []
    first_colour = changes[0][1] or "unscored"
    spans.append(
        HealthSpan(0.0, changes[0][0], first_colour, f"{first_colour} until day {changes[0][0]:g}")
    )
    for i, (day, _previous, colour, why) in enumerate(changes):
        end = changes[i + 1][0] if i + 1 < len(changes) else max(today, day)
        spans.append(HealthSpan(day, end, colour, why))
    return [s for s in spans if s.end > s.start or s is spans[-1]]


def play_bars(state: JourneyState, plays: Sequence[PlayRecord] = ()) -> list[PlayBar]:
    """Play runs from the `plays` table (real times, mapped onto journey days), or the state's
    open plays when there are no records."""
    clock = _clock(state)
    if plays:
        return [
            PlayBar(
                title=p.title,
                play_id=p.play_id,
                start=round(clock.day(p.started_at), 2),
                end=round(clock.day(p.ended_at), 2) if p.ended_at else None,
                status=p.status,
                why=p.why,
                cause=p.cause,
            )
            for p in plays
        ]
    return [
        PlayBar(p.title, p.play_id, p.started_day, None, "running", p.why, p.cause)
        for p in state.open_plays.values()
    ]


def _recurring_marks(
    state: JourneyState, timeline: Sequence[TimelineRow]
) -> dict[str, list[tuple[float, str, str]]]:
    """Per recurring key: (day, 'due' | 'done' | 'next', label)."""
    clock = _clock(state)
    marks: dict[str, list[tuple[float, str, str]]] = {r.key: [] for r in state.recurring}
    for row in timeline:
        if row.kind in ("recurring_due", "recurring_done") and row.subject:
            key = row.subject.split("#", 1)[0]
            if key in marks:
                kind = "due" if row.kind == "recurring_due" else "done"
                marks[key].append((clock.day_of(row.occurred_at), kind, row.summary))
    for r in state.recurring:
        if not marks[r.key] and r.occurrence and r.due_day is not None:
            # No timeline at hand: the state still knows the latest occurrence.
            done = r.occurrence in r.done_occurrences
            label = f"{r.title} #{r.occurrence} due day {r.due_day:g}" + (", done" * done)
            marks[r.key].append((r.due_day, "done" if done else "due", label))
        if r.next_due_day is not None:
            marks[r.key].append(
                (r.next_due_day, "next", f"{r.title} next due day {r.next_due_day:g}")
            )
    return marks


def _nice_step(span: float) -> int:
    return next((s for s in TICK_STEPS if span / s <= 10), TICK_STEPS[-1])


def _attrs(**values: object) -> str:
    """SVG attributes from keywords (`class_` → class, `data_key` → data-key), escaped."""
    return " ".join(
        f'{k.rstrip("_").replace("_", "-")}="{_e(v)}"' for k, v in values.items() if v is not None
    )


def _el(tag: str, title: str | None = None, children: str = "", /, **attrs: object) -> str:
    inner = (f"<title>{_e(title)}</title>" if title else "") + children
    return f"<{tag} {_attrs(**attrs)}>{inner}</{tag}>" if inner else f"<{tag} {_attrs(**attrs)}/>"


class _Canvas:
    """Maps journey days onto x and collects the elements, lane by lane."""

    def __init__(self, hi: float, width: int) -> None:
        self.hi, self.width = hi, width
        self.y = 58.0
        self.parts: list[str] = []

    def x(self, day: float) -> float:
        plot = self.width - LABEL_WIDTH - 24
        return round(LABEL_WIDTH + min(max(day, 0.0), self.hi) / self.hi * plot, 1)

    def add(self, *elements: str) -> None:
        self.parts.extend(elements)

    def label(self, text: str, *, bold: bool = False) -> None:
        short = text if len(text) <= 34 else text[:33] + "…"
        weight = "600" if bold else None
        self.add(
            f"<text {_attrs(x=8, y=self.y + 4, font_size=12, font_weight=weight)}>"
            f"<title>{_e(text)}</title>{_e(short)}</text>"
        )

    def heading(self, text: str) -> None:
        self.y += 6
        self.label(text, bold=True)
        self.y += ROW

    def line(self, d1: float, d2: float, colour: str, width: float = 1, **attrs: object) -> str:
        x1, x2 = self.x(d1), self.x(d2)
        return _el(
            "line", x1=x1, y1=self.y, x2=x2, y2=self.y, stroke=colour, stroke_width=width, **attrs
        )


def _health_lane(c: _Canvas, spans: list[HealthSpan]) -> None:
    c.label("Health", bold=True)
    parts = []
    for s in spans:
        x1, x2 = c.x(s.start), c.x(s.end)
        parts.append(
            _el(
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
                fill=COLOURS.get(s.colour, COLOURS["unscored"]),
            )
        )
    c.add(_el("g", None, "".join(parts), class_="health"))
    c.y += ROW + 8


def _milestone_lanes(c: _Canvas, state: JourneyState, today: float) -> None:
    c.label(f"Onboarding ({state.track})", bold=True)
    c.y += ROW
    for m in state.milestones:
        c.label(m.title)
        due_x = c.x(m.due_day)
        marks = [
            c.line(0, m.due_day, COLOURS["grid"], 4),
            _el("line", x1=due_x, y1=c.y - 7, x2=due_x, y2=c.y + 7, stroke=COLOURS["axis"]),
        ]
        if m.status == "overdue" or (m.done_day is not None and m.done_day > m.due_day):
            late_to = m.done_day if m.done_day is not None else today
            marks.append(c.line(m.due_day, late_to, COLOURS["overdue"], 4, class_="late"))
        if m.done_day is not None:
            fill = COLOURS["overdue"] if m.late else COLOURS["done"]
            marks.append(_el("circle", cx=c.x(m.done_day), cy=c.y, r=5, fill=fill))
            done = f", done day {m.done_day:g}" + (" (late)" if m.late else "")
        else:
            marks.append(
                _el(
                    "circle",
                    cx=due_x,
                    cy=c.y,
                    r=5,
                    fill="white",
                    stroke=COLOURS[m.status],
                    stroke_width=2,
                )
            )
            done = ""
        title = f"{m.title}: {m.status}, due day {m.due_day:g}{done} (owner {m.owner})"
        c.add(
            _el(
                "g", title, "".join(marks), class_="milestone", data_key=m.key, data_status=m.status
            )
        )
        c.y += ROW


def _recurring_lanes(c: _Canvas, state: JourneyState, timeline: Sequence[TimelineRow]) -> None:
    if not state.recurring:
        return
    c.heading("Recurring")
    marks = _recurring_marks(state, timeline)
    for r in state.recurring:
        c.label(f"{r.title} (every {r.every_days:g}d)")
        items = []
        for day, kind, why in marks.get(r.key, []):
            if day > c.hi:
                continue
            x = c.x(day)
            fill = {"done": COLOURS["done"], "due": COLOURS["pending"]}.get(kind, "white")
            items.append(
                _el(
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
                f"<text {_attrs(x=c.x(c.hi) - 4, y=c.y + 4, font_size=10, text_anchor='end')}>"
                f"next: day {r.next_due_day:g} →</text>"
            )
        nxt = f"; next due day {r.next_due_day:g}" if r.next_due_day is not None else ""
        title = f"{r.title}: every {r.every_days:g} days{nxt}"
        c.add(_el("g", title, "".join(items), class_="recurring", data_key=r.key))
        c.y += ROW


def _play_lanes(c: _Canvas, bars: list[PlayBar], today: float) -> None:
    c.heading("Plays")
    if not bars:
        c.add(f"<text {_attrs(x=LABEL_WIDTH, y=c.y - 16, font_size=11)}>none</text>")
    for b in bars:
        c.label(b.title)
        x1, x2 = c.x(b.start), c.x(b.end if b.end is not None else today)
        colour = COLOURS["play"] if b.end is None else COLOURS["play_ended"]
        shapes = _el("rect", x=x1, y=c.y - 6, width=max(x2 - x1, 3), height=12, rx=3, fill=colour)
        if b.cause and x2 - x1 > 80:  # which milestone, persona or contact it is about
            where = _attrs(x=x1 + 5, y=c.y + 4, font_size=10, fill="white")
            shapes += f"<text {where}>{_e(b.cause[:40])}</text>"
        if b.end is None:  # still running: an arrow into the future
            points = f"{x2},{c.y - 7} {x2 + 8},{c.y} {x2},{c.y + 7}"
            shapes += _el("polygon", points=points, fill=colour)
        ended = f"ended day {b.end:g} ({b.status})" if b.end is not None else "still running"
        title = f"{b.title}: started day {b.start:g}, {ended}. Why: {b.why}"
        c.add(_el("g", title, shapes, class_="play", data_play_id=b.play_id, data_status=b.status))
        c.y += ROW


def _trigger_lane(c: _Canvas, state: JourneyState) -> None:
    triggers = [t for t in state.triggers if t.day <= c.hi]
    if not triggers:
        return
    c.y += 6
    c.label("Triggers", bold=True)
    for t in triggers:
        x = c.x(t.day)
        points = f"{x},{c.y - 7} {x + 6},{c.y + 5} {x - 6},{c.y + 5}"
        shape = _el("polygon", points=points, fill=COLOURS["axis"])
        c.add(_el("g", f"day {t.day:g}: {t.summary}", shape, class_="trigger", data_kind=t.kind))
    c.y += ROW


def _axis(c: _Canvas, clock: JourneyClock, bottom: float) -> None:
    """Day numbers with their journey dates, and a grid line per tick (drawn under the rest)."""
    ticks = []
    for d in range(0, int(c.hi) + 1, _nice_step(c.hi)):
        x = c.x(d)
        on = clock.time_of(d).date().isoformat()
        ticks.append(
            _el("line", x1=x, y1=34, x2=x, y2=bottom, stroke=COLOURS["grid"])
            + f"<text {_attrs(x=x, y=18, text_anchor='middle')}>day {d}</text>"
            + f"<text {_attrs(x=x, y=30, text_anchor='middle', font_size=9)}>{on}</text>"
        )
    c.parts[:0] = [
        _el("g", None, "".join(ticks), class_="axis", font_size=11, fill=COLOURS["axis"])
    ]


def _today_and_renewal(c: _Canvas, state: JourneyState, today: float, bottom: float) -> None:
    clock = _clock(state)
    if state.contract_end is not None:
        end_day = clock.day_of(midnight(state.contract_end, state.started_at))
        if end_day <= c.hi:
            x = c.x(end_day)
            c.add(
                _el(
                    "g",
                    f"Contract ends {state.contract_end}",
                    _el(
                        "line",
                        x1=x,
                        y1=34,
                        x2=x,
                        y2=bottom,
                        stroke=COLOURS["red"],
                        stroke_dasharray="2 3",
                    )
                    + f"<text {_attrs(x=x, y=bottom + 14, font_size=11, text_anchor='middle')}>"
                    "renewal</text>",
                    class_="renewal",
                )
            )
        else:
            # A line below "today", so the two never overlap at the right edge.
            where = _attrs(
                class_="renewal", x=c.width - 24, y=bottom + 30, font_size=11, text_anchor="end"
            )
            c.add(f"<text {where}>renewal {state.contract_end} (day {end_day:g}) →</text>")
    x = c.x(today)
    line = _el(
        "line", x1=x, y1=34, x2=x, y2=bottom, stroke=COLOURS["today"], stroke_dasharray="4 3"
    )
    text = f"<text {_attrs(x=x, y=bottom + 14, font_size=11, text_anchor='middle')}>"
    c.add(
        _el(
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
    today = _today(state)
    spans = health_spans(state, timeline)
    bars = play_bars(state, plays)
    ends = [today, *(m.due_day for m in state.milestones)]
    ends += [m.done_day for m in state.milestones if m.done_day is not None]
    ends += [b.end or b.start for b in bars]
    c = _Canvas(max(1.0, max(ends) * 1.06), width)
    _health_lane(c, spans)
    _milestone_lanes(c, state, today)
    _recurring_lanes(c, state, timeline)
    _play_lanes(c, bars, today)
    _trigger_lane(c, state)
    bottom = c.y
    _axis(c, _clock(state), bottom)
    _today_and_renewal(c, state, today, bottom)
    height = int(bottom + 38)
    title = (
        f"Journey of {state.account_id}: day {today:g}, health {state.health_colour}, "
        f"stage {state.stage}"
    )
    return (
        f"<svg {_attrs(xmlns='http://www.w3.org/2000/svg', class_='journey-timeline')} "
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'font-family="system-ui, sans-serif"><title>{_e(title)}</title>'
        f'<rect width="{width}" height="{height}" fill="white"/>{"".join(c.parts)}</svg>'
    )
