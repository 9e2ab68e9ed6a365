"""A task's deadline is kept in real time; what a CSM reads is on the journey's clock."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from rich.console import Console

from activities.models import TaskRow
from starter.cli.tasks import tasks_table
from starter.journeys import journey_when
from workflows.clock import JourneyClock

REAL0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
CLOCK = JourneyClock(REAL0, EPOCH, day_seconds=2.0)  # a journey day every two real seconds


def _task(**fields: object) -> TaskRow:
    return TaskRow.model_validate(
        {
            "id": 7,
            "idempotency_key": "play-a/r1/call",
            "play_id": "play-a",
            "account_id": "a",
            "step": "call",
            "title": "Call the sponsor",
            "assignee_role": "csm",
            "csm": "dana",
            "status": "open",
            "due_at": REAL0 + timedelta(seconds=10),
            "created_at": REAL0 + timedelta(seconds=4),
            **fields,
        }
    )


def test_a_real_instant_reads_as_journey_day_and_date() -> None:
    assert journey_when(CLOCK, REAL0 + timedelta(seconds=10)) == "day 5 (2026-01-06)"
    assert journey_when(CLOCK, REAL0 + timedelta(seconds=3)) == "day 1.5 (2026-01-02)"
    assert journey_when(CLOCK, REAL0) == "day 0 (2026-01-01)"


def test_the_task_table_reads_on_each_journeys_clock_and_marks_real_time() -> None:
    known, unknown = _task(), _task(id=8, account_id="b")
    console = Console(record=True, width=200, file=io.StringIO(), color_system=None)
    console.print(tasks_table([known, unknown], {"a": CLOCK}))
    lines = console.export_text().splitlines()
    assert "day 5 (2026-01-06)" in next(ln for ln in lines if "│ 7 " in ln)
    assert "2026-12-02 12:00 (real time)" in next(ln for ln in lines if "│ 8 " in ln)
