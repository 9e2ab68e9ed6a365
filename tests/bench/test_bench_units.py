"""The harness's own arithmetic: billable actions, percentiles, load plans, profiles, sizing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload, SearchAttributes, WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import (
    ActivityTaskStartedEventAttributes,
    ChildWorkflowExecutionStartedEventAttributes,
    HistoryEvent,
    MarkerRecordedEventAttributes,
    UpsertWorkflowSearchAttributesEventAttributes,
    WorkflowExecutionSignaledEventAttributes,
    WorkflowExecutionStartedEventAttributes,
    WorkflowTaskCompletedEventAttributes,
    WorkflowTaskStartedEventAttributes,
)
from temporalio.client import Client

from bench.actions import billable_actions
from bench.baseline import build_baseline_worker, waypost_worker_config
from bench.common import make_account, percentiles
from bench.history import DAYS_A_YEAR, script
from bench.memory import CHUNK, affordable
from bench.models import MemoryPoint, MemoryResult, ResumeResult
from bench.profile import summarize
from bench.report import projected_rss
from bench.scenarios import load_plan, work_items
from bench.trace import reaction_path
from workflows.policy import Policy

E = EventType


def test_actions_follow_temporal_clouds_definition() -> None:
    started = HistoryEvent(
        event_type=E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        workflow_execution_started_event_attributes=WorkflowExecutionStartedEventAttributes(),
    )
    carried = HistoryEvent(
        event_type=E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        workflow_execution_started_event_attributes=WorkflowExecutionStartedEventAttributes(
            continued_execution_run_id="r1"
        ),
    )
    child = HistoryEvent(
        event_type=E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        workflow_execution_started_event_attributes=WorkflowExecutionStartedEventAttributes(
            parent_workflow_execution=WorkflowExecution(workflow_id="journey-a")
        ),
    )
    from_client = HistoryEvent(
        event_type=E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        workflow_execution_signaled_event_attributes=WorkflowExecutionSignaledEventAttributes(),
    )
    from_play = HistoryEvent(
        event_type=E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        workflow_execution_signaled_event_attributes=WorkflowExecutionSignaledEventAttributes(
            external_workflow_execution=WorkflowExecution(workflow_id="play-a")
        ),
    )
    retried = HistoryEvent(
        event_type=E.EVENT_TYPE_ACTIVITY_TASK_STARTED,
        activity_task_started_event_attributes=ActivityTaskStartedEventAttributes(attempt=3),
    )

    def upsert(*names: str) -> HistoryEvent:
        fields = {n: Payload(data=b'"x"') for n in names}
        return HistoryEvent(
            event_type=E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
            upsert_workflow_search_attributes_event_attributes=(
                UpsertWorkflowSearchAttributesEventAttributes(
                    search_attributes=SearchAttributes(indexed_fields=fields)
                )
            ),
        )

    def marker(task: int) -> HistoryEvent:
        return HistoryEvent(
            event_type=E.EVENT_TYPE_MARKER_RECORDED,
            marker_recorded_event_attributes=MarkerRecordedEventAttributes(
                workflow_task_completed_event_id=task
            ),
        )

    plain = [
        HistoryEvent(event_type=t)
        for t in (
            E.EVENT_TYPE_TIMER_STARTED,
            E.EVENT_TYPE_TIMER_FIRED,
            E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
            E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
            E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
            E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
            E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
        )
    ]
    events = [started, carried, child, from_client, from_play, retried, *plain]
    events += [upsert("WaypostStage"), upsert("TemporalChangeVersion"), marker(4), marker(4)]
    events += [marker(9)]
    assert billable_actions(events) == {
        "start": 1,
        "continue_as_new": 1,
        "signal": 1,
        "workflow_signal": 1,
        "activity_retry": 2,
        "timer": 1,
        "activity": 1,
        "child_workflow": 2,
        "update": 1,
        "search_attributes": 1,
        "marker": 2,
    }


def test_percentiles_are_nearest_rank() -> None:
    stats = percentiles([i / 100 for i in range(1, 101)])
    assert (stats.p50, stats.p95, stats.p99, stats.max) == (0.5, 0.95, 0.99, 1.0)
    assert stats.samples == 100
    assert percentiles([]).samples == 0


def test_a_load_plan_spreads_probes_one_journey_each() -> None:
    plan = load_plan(events=1000, journeys=50, probes=20)
    probes = [s for s in plan if s.probe]
    assert len(plan) == 1020 and len(probes) == 20
    assert sorted(s.target for s in probes) == list(range(20))
    assert probes[0].seq < 100 and probes[-1].seq > 900  # through the whole load
    assert {s.target for s in plan if not s.probe} == set(range(50))
    later = load_plan(events=100, journeys=50, probes=5, first_probe=20)
    assert [s.target for s in later if s.probe] == [20, 21, 22, 23, 24]


def test_requests_carry_batches_and_probes_go_alone() -> None:
    plan = load_plan(events=10, journeys=5, probes=2)
    items = work_items(plan, per_request=4)
    assert [len(i) for i in items] == [1, 4, 4, 1, 2]
    assert all(len(i) == 1 for i in items if any(s.probe for s in i))
    assert [s for i in items for s in i if not s.probe] == [s for s in plan if not s.probe]


def test_a_year_of_script_is_the_documented_mix(policy: Policy) -> None:
    steps = script(make_account("acct-1", 0), policy, years=1)
    kinds = [s.kind for s in steps]
    usage = [dict(s.fields) for s in steps if s.kind == "usage_reported"]
    assert len(usage) == DAYS_A_YEAR // 7  # one account rollup a week, all personas in it
    assert all(set(u["by_persona"]) == {"admin", "champion", "end_user"} for u in usage)
    assert kinds.count("health_measured") == 12
    assert kinds.count("key_contact_changed") == 1 and kinds.count("renew") == 1
    assert [s.day for s in steps] == sorted(s.day for s in steps)
    assert all(s.day < DAYS_A_YEAR for s in steps)


def test_open_journeys_are_sized_to_the_budget() -> None:
    # 10 ms a journey to start, 12.5 to resume: 10,000 take 90 + 125 s (and 30 s of slack).
    assert affordable(10_000, 0.01, remaining=600) == 10_000
    assert affordable(10_000, 0.01, remaining=100) == 3_000
    assert affordable(10_000, 1.0, remaining=10) == CHUNK


def test_a_profile_reads_as_shares_of_samples(tmp_path: Path) -> None:
    raw = tmp_path / "p.txt"
    raw.write_text(
        "main (starter/cli/main.py:3);run (workflows/journey/workflow.py:10);"
        "dumps (json/encoder.py:5) 3\n"
        "main (starter/cli/main.py:3);check (workflows/policy/checks.py:7) 1\n"
    )
    s = summarize("worker", "start", raw)
    assert s.samples == 4
    assert s.top_self[0] == ("dumps (json/encoder.py)", 75.0)
    assert dict(s.by_package) == {"json": 75.0, "workflows": 25.0}
    assert dict(s.waypost_inclusive) == {
        "run (workflows/journey/workflow.py)": 75.0,
        "check (workflows/policy/checks.py)": 25.0,
    }


@pytest.mark.integration
async def test_the_floor_runs_with_waypost_worker_settings(client: Client) -> None:
    waypost = waypost_worker_config(client, "bench-settings-check")
    floor = build_baseline_worker(client, "bench-settings-check-floor").config()
    differ = {"task_queue", "workflows", "activities"}
    assert {k: v for k, v in floor.items() if k not in differ} == {
        k: v for k, v in waypost.items() if k not in differ
    }


def test_rss_past_the_workflow_cache_is_projected_from_the_last_slope() -> None:
    def at(n: int, rss: float) -> MemoryPoint:
        return MemoryPoint(open_journeys=n, rss_mib=rss, per_journey_kib=0)

    resumed = ResumeResult(
        journeys=3000, ready_seconds=1, all_answered_seconds=9, rss_mib_after=600
    )
    memory = MemoryResult(
        idle_rss_mib=100,
        warmup_journeys=20,
        warm_rss_mib=120,
        points=[at(1000, 580), at(2000, 600), at(3000, 610)],
        max_cached_workflows=1000,
        resume=resumed,
        baseline_points=[],
        baseline_resume=resumed,
    )
    assert projected_rss(memory) == pytest.approx(680.0)  # 10 MiB a thousand past 3,000


def test_a_reaction_is_split_into_the_stages_its_history_records() -> None:
    def at(event_id: int, seconds: float, kind: EventType.ValueType, **attrs: Any) -> HistoryEvent:
        event = HistoryEvent(event_id=event_id, event_type=kind, **attrs)
        event.event_time.FromMicroseconds(int(seconds * 1e6))
        return event

    events = [
        at(
            5,
            10.1,
            E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
            workflow_execution_signaled_event_attributes=WorkflowExecutionSignaledEventAttributes(
                signal_name="key_contact_changed"
            ),
        ),
        at(6, 10.1, E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
        at(
            7,
            10.4,
            E.EVENT_TYPE_WORKFLOW_TASK_STARTED,
            workflow_task_started_event_attributes=WorkflowTaskStartedEventAttributes(
                scheduled_event_id=6
            ),
        ),
        at(
            8,
            10.5,
            E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            workflow_task_completed_event_attributes=WorkflowTaskCompletedEventAttributes(
                started_event_id=7
            ),
        ),
        at(9, 10.5, E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED),
        at(
            10,
            10.7,
            E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED,
            child_workflow_execution_started_event_attributes=(
                ChildWorkflowExecutionStartedEventAttributes(initiated_event_id=9)
            ),
        ),
    ]
    path = reaction_path(events, "key_contact_changed", posted_at=10.0)
    assert path is not None
    assert {k: round(v, 3) for k, v in path.items() if v} == {
        "webhook to signal recorded": 0.1,
        "workflow task waits for a worker": 0.3,
        "workflow task runs": 0.1,
        "child workflow starts": 0.2,
    }
    assert reaction_path(events, "usage_reported", posted_at=10.0) is None
