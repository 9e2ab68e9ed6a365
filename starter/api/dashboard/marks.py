"""What the journey picture shows, in journey days: health spans, play bars, recurring marks.

Pure, like the picture (`svg.py` draws these; `canvas.py` maps days to pixels): the journey's
`state`, its timeline rows and its play records go in, plain values come out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from activities.models import TimelineRow
from store.plays import PlayRecord
from workflows.journey.state import JourneyState
from workflows.models import UNSCORED


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


def last_day(state: JourneyState) -> float:
    """The journey day the picture ends at: today, or the day the journey ended."""
    if state.ended is not None:
        return max(state.journey_day, state.clock().day_of(state.ended.at))
    return state.journey_day


def health_spans(state: JourneyState, timeline: Sequence[TimelineRow] = ()) -> list[HealthSpan]:
    """The health colour from day 0 to today, one span per colour.

    Colour changes come from the timeline's `health_changed` trigger rows (complete), or from
    the state's recent triggers when the timeline is not at hand. Before the first change the
    colour is that change's `previous`; a journey never scored is one grey span.
    """
    today = last_day(state)
    changes = _colour_changes(state, timeline)
    if not changes:
        if state.health is None:
            return [HealthSpan(0.0, today, UNSCORED, "not scored yet")]
        return [HealthSpan(0.0, today, state.health.colour, state.health.reason)]
    spans: list[HealthSpan] = []
    first_colour = changes[0][1] or UNSCORED
    spans.append(
        HealthSpan(0.0, changes[0][0], first_colour, f"{first_colour} until day {changes[0][0]:g}")
    )
    for i, (day, _previous, colour, why) in enumerate(changes):
        end = changes[i + 1][0] if i + 1 < len(changes) else max(today, day)
        spans.append(HealthSpan(day, end, colour, why))
    return [s for s in spans if s.end > s.start or s is spans[-1]]


_Change = tuple[float, str | None, str, str]  # day, previous colour, colour, why


def _colour_changes(state: JourneyState, timeline: Sequence[TimelineRow]) -> list[_Change]:
    """Health colour changes by day: from the timeline, else from the state's triggers."""
    clock = state.clock()
    changes: list[_Change] = []
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
    return changes


def play_bars(state: JourneyState, plays: Sequence[PlayRecord] = ()) -> list[PlayBar]:
    """Play runs from the `plays` table (real times, mapped onto journey days), or the state's
    open plays when there are no records."""
    clock = state.clock()
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


def recurring_marks(
    state: JourneyState, timeline: Sequence[TimelineRow]
) -> dict[str, list[tuple[float, str, str]]]:
    """Per recurring key: (day, 'due' | 'done' | 'next', label)."""
    clock = state.clock()
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
