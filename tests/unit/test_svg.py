"""The journey picture, drawn from data alone: what each mark says, and that it is valid SVG
whatever the names contain."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import get_args

import pytest

from activities.models import TimelineRow
from starter.api.dashboard.marks import health_spans, play_bars
from starter.api.dashboard.palette import HEALTH_FILLS, STATUS_FILLS
from starter.api.dashboard.svg import journey_svg
from store.plays import PlayRecord
from workflows.journey.state import (
    JourneyState,
    MilestoneState,
    MilestoneStatus,
    OpenPlay,
    RecurringState,
    TriggerRecord,
)
from workflows.models import HEALTH_LABELS
from workflows.policy import Policy, load_policy
from workflows.rules import score_health

ROOT = Path(__file__).resolve().parents[2]
NS = "{http://www.w3.org/2000/svg}"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
STARTED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # real time of day 0
DAY_SECONDS = 10.0


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(ROOT / "policies" / "default.yaml")


def _at(day: float) -> datetime:
    return EPOCH + timedelta(days=day)


def _real(day: float) -> datetime:
    return STARTED + timedelta(seconds=day * DAY_SECONDS)


def _state(policy: Policy, **changes: object) -> JourneyState:
    green = score_health({"support": 90}, policy)
    yellow = score_health({"support": 50}, policy, green, trigger="support measured 50")
    milestones = [
        MilestoneState(
            key="kickoff",
            title="Kickoff <call> & co",
            owner="csm",
            due_day=5,
            due_at=_at(5),
            status="done",
            done_day=4,
            done_at=_at(4),
        ),
        MilestoneState(
            key="setup",
            title="Admin setup",
            owner="customer",
            due_day=14,
            due_at=_at(14),
            status="done",
            done_day=20,
            done_at=_at(20),
            late=True,
        ),
        MilestoneState(
            key="live",
            title="Go live",
            owner="customer",
            due_day=30,
            due_at=_at(30),
            status="overdue",
        ),
        MilestoneState(key="review", title="Value review", owner="csm", due_day=90, due_at=_at(90)),
    ]
    values: dict[str, object] = {
        "account_id": "acme",
        "segment": "enterprise",
        "tier": "premium",
        "csm": "dana",
        "contract_start": date(2026, 1, 1),
        "contract_end": date(2026, 4, 1),
        "policy_name": policy.name,
        "policy_version": policy.version,
        "track": "enterprise_rollout",
        "track_reason": "segment is enterprise",
        "touch": "high",
        "day_seconds": DAY_SECONDS,
        "started_at": STARTED,
        "epoch": EPOCH,
        "journey_day": 40.0,
        "milestones": milestones,
        "recurring": [
            RecurringState(
                key="goal_review",
                title="Goal review",
                owner="csm",
                every_days=30,
                occurrence=1,
                due_day=30,
                next_due_day=60,
                next_due_at=_at(60),
            )
        ],
        "health": yellow,
        "triggers": [
            TriggerRecord(
                kind="health_changed",
                cause="health",
                day=25,
                at=_at(25),
                summary="Health green→yellow: support 50/100 (3 escalations)",
                why=yellow.why,
            )
        ],
        "open_plays": {
            "play-acme-health_recovery-x": OpenPlay(
                play_id="play-acme-health_recovery-x",
                play="health_recovery",
                title="Recover from yellow health",
                cause="health",
                why="Health green→yellow: support 50/100 (3 escalations)",
                started_day=25,
            )
        },
    }
    values.update(changes)
    return JourneyState.model_validate(values)


def _svg(text: str) -> ET.Element:
    return ET.fromstring(text)  # raises on anything that is not well-formed XML


def _groups(svg: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in svg.iter() if g.get("class") == cls]


def test_milestones_show_done_late_overdue_and_pending(policy: Policy) -> None:
    svg = _svg(journey_svg(_state(policy)))
    marks = {g.get("data-key"): g for g in _groups(svg, "milestone")}
    assert {k: g.get("data-status") for k, g in marks.items()} == {
        "kickoff": "done",
        "setup": "done",
        "live": "overdue",
        "review": "pending",
    }
    # Late and overdue draw a red stretch past the due date; on time and pending do not.
    late = {k for k, g in marks.items() if any(e.get("class") == "late" for e in g)}
    assert late == {"setup", "live"}
    title = marks["kickoff"].find(f"{NS}title")
    assert title is not None and title.text is not None
    assert title.text.startswith("Kickoff <call> & co: done, due day 5, done day 4")


def test_health_colour_over_time_comes_from_the_changes(policy: Policy) -> None:
    state = _state(policy)
    spans = health_spans(state)
    assert [(s.start, s.end, s.colour) for s in spans] == [(0, 25, "green"), (25, 40, "yellow")]
    assert "3 escalations" in spans[1].why

    # The timeline's trigger rows win over the state's (which keeps only recent ones).
    why = state.triggers[0].why
    assert why is not None
    rows = [
        TimelineRow(
            id=1,
            idempotency_key="k1",
            account_id="acme",
            workflow_id="journey-acme",
            kind="trigger",
            subject="health_changed:health:e1",
            summary="Health green→yellow: support 50/100",
            details={"why": why.model_dump(mode="json")},
            occurred_at=_at(10),
            recorded_at=_real(10),
        )
    ]
    assert [(s.start, s.colour) for s in health_spans(state, rows)] == [
        (0, "green"),
        (10, "yellow"),
    ]


def test_a_journey_never_scored_is_one_grey_span(policy: Policy) -> None:
    state = _state(policy, health=None, triggers=[], open_plays={})
    svg = _svg(journey_svg(state))
    assert [r.get("data-colour") for r in _groups(svg, "health-span")] == ["unscored"]
    assert _groups(svg, "play") == []


def test_plays_run_from_start_to_end_with_their_why(policy: Policy) -> None:
    state = _state(policy)
    record = PlayRecord(
        play_id="play-acme-new_stakeholder-c1",
        run_id="r1",
        play="new_stakeholder",
        cause="c1",
        title="Bring a new stakeholder in",
        why="Key contact c1 left",
        why_record={},
        status="completed",
        outcome="all tasks done",
        started_at=_real(8),
        ended_at=_real(22),
    )
    bars = play_bars(state, [record])
    assert [(b.start, b.end, b.status) for b in bars] == [(8, 22, "completed")]
    svg = _svg(journey_svg(state, plays=[record]))
    [bar] = _groups(svg, "play")
    assert bar.get("data-status") == "completed"
    title = bar.find(f"{NS}title")
    assert title is not None and "Why: Key contact c1 left" in (title.text or "")

    # Without records, the open plays from the state are drawn, still running.
    [open_bar] = _groups(_svg(journey_svg(state)), "play")
    assert open_bar.get("data-status") == "running"


def test_today_recurring_triggers_and_renewal_are_marked(policy: Policy) -> None:
    svg = _svg(journey_svg(_state(policy)))
    [today] = _groups(svg, "today")
    assert today.get("data-day") == "40"
    [recurring] = _groups(svg, "recurring")
    kinds = [o.get("data-kind") for o in recurring if o.get("class") == "occurrence"]
    assert kinds == ["due", "next"]  # occurrence 1 fell due on day 30, the next is on day 60
    assert [t.get("data-kind") for t in _groups(svg, "trigger")] == ["health_changed"]
    assert _groups(svg, "renewal")  # contract ends on day 90, inside the picture


def test_any_text_is_escaped(policy: Policy) -> None:
    hostile = '"><script>alert(1)</script>'
    state = _state(policy, account_id="acme", track=hostile)
    text = journey_svg(state)
    assert "<script>" not in text
    _svg(text)


def test_every_health_colour_and_milestone_status_has_a_fill() -> None:
    # A word without a fill would be drawn in the unscored grey (or fail a page's template).
    assert list(HEALTH_FILLS) == list(HEALTH_LABELS)
    assert set(STATUS_FILLS) == set(get_args(MilestoneStatus))
