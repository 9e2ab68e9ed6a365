"""Where a reaction's time went, read from the journey's history: from the CRM's webhook to
the play's child workflow started, split by what the server records along the way."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

E = EventType
STAGES = (
    "webhook to signal recorded",
    "workflow task waits for a worker",
    "workflow task runs",
    "activity waits for a worker",
    "activity runs",
    "child workflow starts",
)


def _t(event: HistoryEvent) -> float:
    return event.event_time.ToMicroseconds() / 1e6


def reaction_path(
    events: Sequence[HistoryEvent], signal_name: str, posted_at: float
) -> dict[str, float] | None:
    """Seconds spent in each stage between `posted_at` (epoch seconds, when the webhook was
    sent) and the first child workflow started after the `signal_name` signal; None if the
    history holds no such pair. Stages run one after another on this path, so they add up to
    the time until the child started."""
    start = next(
        (
            i
            for i, e in enumerate(events)
            if e.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
            and e.workflow_execution_signaled_event_attributes.signal_name == signal_name
        ),
        None,
    )
    if start is None:
        return None
    spent: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    spent[STAGES[0]] = _t(events[start]) - posted_at
    by_id = {e.event_id: e for e in events}
    for e in events[start + 1 :]:
        kind = e.event_type
        if kind == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            scheduled = by_id[e.workflow_task_started_event_attributes.scheduled_event_id]
            spent[STAGES[1]] += _t(e) - max(_t(scheduled), _t(events[start]))
        elif kind == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            started = by_id[e.workflow_task_completed_event_attributes.started_event_id]
            spent[STAGES[2]] += _t(e) - _t(started)
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            scheduled = by_id[e.activity_task_started_event_attributes.scheduled_event_id]
            spent[STAGES[3]] += _t(e) - _t(scheduled)
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            started = by_id[e.activity_task_completed_event_attributes.started_event_id]
            spent[STAGES[4]] += _t(e) - _t(started)
        elif kind == E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            initiated = by_id[
                e.child_workflow_execution_started_event_attributes.initiated_event_id
            ]
            spent[STAGES[5]] += _t(e) - _t(initiated)
            return spent
    return None
