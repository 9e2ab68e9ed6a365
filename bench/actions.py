"""Temporal Cloud actions read from workflow histories (docs.temporal.io/cloud/actions).

An estimate, as Temporal's own page says history-based counts are; it is exact for what
Waypost does. Each history event type maps to at most one kind of action:

| history event                               | action kind       | actions                  |
| ------------------------------------------- | ----------------- | ------------------------ |
| WorkflowExecutionStarted (client start)     | start             | 1                        |
| WorkflowExecutionStarted (continued-as-new) | continue_as_new   | 1 (the new run)          |
| WorkflowExecutionStarted (a child)          | -                 | 0 (see the next line)    |
| StartChildWorkflowExecutionInitiated        | child_workflow    | 2 (intent + start)       |
| WorkflowExecutionSignaled (from a client)   | signal            | 1                        |
| WorkflowExecutionSignaled (from a workflow) | workflow_signal   | 1                        |
| SignalExternalWorkflowExecutionInitiated    | -                 | 0 (billed where it lands) |
| WorkflowExecutionUpdateAccepted             | update            | 1                        |
| TimerStarted                                | timer             | 1                        |
| ActivityTaskScheduled                       | activity          | 1                        |
| ActivityTaskStarted with attempt n > 1      | activity_retry    | n - 1                    |
| UpsertWorkflowSearchAttributes              | search_attributes | 1 (0: version only)      |
| MarkerRecorded (patches, local activities)  | marker            | 1 a workflow task        |
| WorkflowExecutionOptionsUpdated             | options           | 1                        |

Not in any history, so not counted: queries (1 action each in Cloud: every `waypost status`,
API read or dashboard refresh of a journey costs one), rejected updates, and heartbeats.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

E = EventType
_ONE = {
    E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update",
    E.EVENT_TYPE_TIMER_STARTED: "timer",
    E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED: "options",
}
VERSION_ATTRIBUTE = "TemporalChangeVersion"

MAPPING: dict[str, str] = {
    "WorkflowExecutionStarted": "start (client) or continue_as_new: 1; a child's: 0",
    "StartChildWorkflowExecutionInitiated": "child_workflow: 2",
    "WorkflowExecutionSignaled": "signal (from a client) or workflow_signal: 1",
    "SignalExternalWorkflowExecutionInitiated": "0 (counted where it lands)",
    "WorkflowExecutionUpdateAccepted": "update: 1",
    "TimerStarted": "timer: 1",
    "ActivityTaskScheduled": "activity: 1",
    "ActivityTaskStarted": "activity_retry: attempt - 1",
    "UpsertWorkflowSearchAttributes": "search_attributes: 1 (0 if only TemporalChangeVersion)",
    "MarkerRecorded": "marker: 1 per workflow task recording any",
    "WorkflowExecutionOptionsUpdated": "options: 1",
    "(queries, rejected updates, heartbeats)": "not in history: not counted",
}


# What the outside world sends (the CRM's events, the CSM's updates, the contract's start): the
# event mix decides these. Everything else is what Waypost itself adds per customer.
EXTERNAL = frozenset({"start", "signal", "update"})


def billable_actions(events: Iterable[HistoryEvent]) -> Counter[str]:
    """Actions by kind for one run's history."""
    actions: Counter[str] = Counter()
    marker_tasks: set[int] = set()
    for event in events:
        if event.event_type == E.EVENT_TYPE_MARKER_RECORDED:
            # Markers are billed per workflow task that records any, not per marker.
            task = event.marker_recorded_event_attributes.workflow_task_completed_event_id
            if task not in marker_tasks:
                marker_tasks.add(task)
                actions["marker"] += 1
            continue
        kind, count = _actions_of(event)
        if count > 0:
            actions[kind] += count
    return actions


def _actions_of(event: HistoryEvent) -> tuple[str, int]:
    """The kind and number of actions one event (not a marker) is billed as."""
    kind = event.event_type
    if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        attrs = event.workflow_execution_started_event_attributes
        if attrs.HasField("parent_workflow_execution"):
            return "", 0  # billed as the parent's StartChildWorkflowExecutionInitiated
        return ("continue_as_new" if attrs.continued_execution_run_id else "start"), 1
    if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        attrs_s = event.workflow_execution_signaled_event_attributes
        from_workflow = attrs_s.HasField("external_workflow_execution")
        return ("workflow_signal" if from_workflow else "signal"), 1
    if kind == E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
        return "child_workflow", 2
    if kind == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
        return "activity_retry", event.activity_task_started_event_attributes.attempt - 1
    if kind == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        return "search_attributes", int(bool(set(fields.indexed_fields) - {VERSION_ATTRIBUTE}))
    return _ONE.get(kind, ""), int(kind in _ONE)
