"""(4) History growth: years of journey in compressed time, then every run's history read back.

Each customer's CRM reports a weekly usage rollup (its three personas in one signal), a
health measure a month (a dip to yellow now and then), a new champion a year; its CSM
completes onboarding milestones and recurring reviews when due and renews the contract each
year. Plays start as they would.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError

from bench.actions import EXTERNAL, MAPPING, billable_actions
from bench.common import CONTRACT_START, Bench, make_account
from bench.models import HistoryResult, RunHistory
from starter.journeys import JourneyError, complete_milestone, end_journey, start_journey
from workflows.journey import names
from workflows.journey.messages import SIGNALS, RenewContract
from workflows.journey.prose import ADOPTION_CHECK
from workflows.journey.state import JourneyState
from workflows.journey.workflow import CustomerJourney, journey_id
from workflows.models import Account
from workflows.policy import Policy
from workflows.rules import select_track

DAYS_A_YEAR = 365
ADOPTION_TIMER = ADOPTION_CHECK.encode()  # in the adoption branch's timer summaries
USAGE_DAYS = {"admin": 4, "champion": 3, "end_user": 2}  # active days a week, per persona


@dataclass(frozen=True, order=True)
class Step:
    day: float
    kind: str
    fields: tuple[tuple[str, Any], ...] = field(compare=False)


def script(account: Account, policy: Policy, years: int) -> list[Step]:
    """What happens to one customer over `years`, by journey day."""
    horizon = years * DAYS_A_YEAR
    track = select_track(account, policy).track
    onboarding = [(m.due_days, m.key) for m in track.milestones]
    onboarding += [(s.due_days, s.key) for s in track.rollout_stages]
    # Two days early, in due order (which respects `after`): a day is a few milliseconds here.
    steps = [
        Step(max(0.2, day - 2), "complete", (("key", key),)) for day, key in sorted(onboarding)
    ]
    for week in range(1, horizon // 7 + 1):
        # One rollup for the account, as product analytics exports it (one signal a week).
        by_persona = {
            persona: [
                (CONTRACT_START + timedelta(days=d)).isoformat()
                for d in range(7 * week - 7, 7 * week - 7 + active)
            ]
            for persona, active in USAGE_DAYS.items()
        }
        steps.append(Step(7 * week - 1.5, names.USAGE_REPORTED, (("by_persona", by_persona),)))
    for month in range(1, years * 12 + 1):
        measure = "support" if month % 2 else "sentiment"
        value = 30 if month % 40 == 20 else 85 + month % 7  # a dip to yellow every 40 months
        note = "3 escalations in 30 days" if value < 50 else "steady"
        steps.append(
            Step(
                month * 30.4 - 10,
                names.HEALTH_MEASURED,
                (("measure", measure), ("value", value), ("note", note)),
            )
        )
    for year in range(1, years + 1):
        contact = f"{account.account_id}-champ-y{year}"
        steps.append(
            Step(
                year * DAYS_A_YEAR - 120,
                names.KEY_CONTACT_CHANGED,
                (("contact_id", contact), ("change", "joined"), ("persona", "champion")),
            )
        )
        renewed = CONTRACT_START + timedelta(days=DAYS_A_YEAR * (year + 1))
        steps.append(Step(year * DAYS_A_YEAR - 30, "renew", (("contract_end", renewed),)))
    for r in policy.maturity.recurring:
        due = r.every_days if r.first_after_days is None else r.first_after_days
        while due <= horizon - 5:
            steps.append(Step(due + 5, "complete", (("key", r.key),)))
            due += r.every_days
    return sorted(s for s in steps if s.day < horizon)


@dataclass
class Driven:
    account: Account
    sent: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    ended: JourneyState | None = None


async def drive(
    client: Client, policy: Policy, account: Account, queue: str, years: int, day_seconds: float
) -> Driven:
    """Play the script on schedule: each step is sent at its journey day, without waiting for
    the ones before it (an update waits on the worker; the calendar does not)."""
    out = Driven(account)
    await start_journey(client, account, policy, task_queue=queue, day_seconds=day_seconds)
    t0 = time.monotonic()
    handle = client.get_workflow_handle_for(CustomerJourney.run, journey_id(account.account_id))

    async def perform(n: int, step: Step) -> None:
        fields = dict(step.fields)
        try:
            if step.kind == "complete":
                await complete_milestone(client, account.account_id, fields["key"], by="bench")
            elif step.kind == "renew":
                await handle.execute_update(
                    names.RENEW_CONTRACT, RenewContract(contract_end=fields["contract_end"])
                )
            else:
                event_id = f"hist-{account.account_id}-{n}"
                event = SIGNALS[step.kind].model_validate(
                    {"event_id": event_id, "occurred_at": datetime.now(UTC), **fields}
                )
                await handle.signal(step.kind, event)
            out.sent[step.kind] += 1
        except JourneyError as err:  # e.g. a review not due yet on a journey running behind
            out.refused[err.kind] += 1
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            out.refused[getattr(cause, "type", None) or type(cause).__name__] += 1
        except RPCError as err:
            out.refused[f"rpc:{err.status.name if err.status else '?'}"] += 1

    sent = []
    for n, step in enumerate(script(account, policy, years)):
        await asyncio.sleep(max(0.0, t0 + step.day * day_seconds - time.monotonic()))
        sent.append(asyncio.create_task(perform(n, step)))
    await asyncio.gather(*sent)
    await asyncio.sleep(max(0.0, t0 + years * DAYS_A_YEAR * day_seconds - time.monotonic()))
    out.ended = await end_journey(client, account.account_id, "ended", "bench over")
    return out


async def _executions(client: Client, queue: str) -> list[WorkflowExecution]:
    return [wf async for wf in client.list_workflows(f"TaskQueue = '{queue}'")]


async def history_growth(
    bench: Bench, customers: int, years: int, day_seconds: float
) -> HistoryResult:
    client = bench.client
    # One per segment in turn, the richest first: enterprise, smb, mid_market.
    accounts = [make_account(bench.account_id("h", i), i + 2) for i in range(customers)]
    horizon = years * DAYS_A_YEAR * day_seconds
    async with bench.worker("waypost", "history") as proc:
        queue = proc.env["WAYPOST_TASK_QUEUE"]
        with bench.steps.phase(
            f"(4) history: {customers}×{years} years in compressed time", int(horizon) + 1
        ) as bar:
            bench.profiler.attach(proc, "history")
            t0 = time.monotonic()
            runs = [
                asyncio.create_task(drive(client, bench.policy, a, queue, years, day_seconds))
                for a in accounts
            ]
            while not all(r.done() for r in runs):
                bar.set(int(time.monotonic() - t0))
                await asyncio.wait(runs, timeout=1.0)
            driven = [await r for r in runs]
            wall = time.monotonic() - t0
            bar.set(int(horizon) + 1)
        # Every run closed (the journey ended; its plays were told to stop) and listed.
        expected = sum(d.ended.runs if d.ended else 1 for d in driven)
        deadline = time.monotonic() + 120
        while True:
            found = await _executions(client, queue)
            journeys = [wf for wf in found if wf.workflow_type == "CustomerJourney"]
            still = [wf for wf in found if wf.status == WorkflowExecutionStatus.RUNNING]
            if (len(journeys) >= expected and not still) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        return await _tally(bench, driven, found, years, day_seconds, wall)


async def _tally(
    bench: Bench,
    driven: list[Driven],
    executions: list[WorkflowExecution],
    years: int,
    day_seconds: float,
    wall: float,
) -> HistoryResult:
    client = bench.client
    kinds: Counter[str] = Counter()
    adoption_timers = 0
    rows: list[RunHistory] = []
    per_customer_runs: Counter[str] = Counter()
    for wf in executions:
        history = await client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
        actions = billable_actions(history.events)
        suggested = next(
            (
                e.event_id
                for e in history.events
                if e.workflow_task_started_event_attributes.suggest_continue_as_new
            ),
            None,
        )
        kinds.update(actions)
        rows.append(
            RunHistory(
                workflow_id=wf.id,
                run_id=wf.run_id,
                workflow_type=wf.workflow_type,
                events=len(history.events),
                actions=sum(actions.values()),
                continue_as_new_suggested_at=suggested,
            )
        )
        if wf.workflow_type == "CustomerJourney":
            per_customer_runs[wf.id] += 1
            adoption_timers += sum(
                e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
                and ADOPTION_TIMER in e.user_metadata.summary.data
                for e in history.events
            )
    lived = [d.ended.journey_day / DAYS_A_YEAR for d in driven if d.ended is not None]
    customer_years = len(driven) * years  # the script's years: what the customers did
    journey_rows = [r for r in rows if r.workflow_type == "CustomerJourney"]
    # In compressed time a branch that wakes late catches up without a timer; in real days
    # every adoption check waits on one. Count the ones skipped back in.
    expected = customer_years * DAYS_A_YEAR / bench.policy.adoption.check_every_days
    skipped = max(0.0, expected - adoption_timers) / customer_years
    total = sum(kinds.values()) / customer_years
    mix: Counter[str] = Counter()
    for d in driven:
        mix.update(d.sent)
    return HistoryResult(
        customers=len(driven),
        years=years,
        journey_years_lived=round(sum(lived) / max(1, len(lived)), 2),
        day_seconds=day_seconds,
        wall_seconds=round(wall, 1),
        event_mix=dict(sorted(mix.items())),
        refused=dict(sum((d.refused for d in driven), Counter[str]())),
        journey_runs=len(journey_rows),
        max_runs_per_customer=max(per_customer_runs.values(), default=0),
        play_runs=len(rows) - len(journey_rows),
        max_events_per_run=max((r.events for r in rows), default=0),
        events_per_customer_year=round(sum(r.events for r in rows) / customer_years, 1),
        journey_events_per_customer_year=round(
            sum(r.events for r in journey_rows) / customer_years, 1
        ),
        actions_per_customer_year=round(total + skipped, 1),
        actions_measured_per_customer_year=round(total, 1),
        adoption_timers_skipped_per_customer_year=round(skipped, 1),
        external_actions_per_customer_year=round(
            sum(v for k, v in kinds.items() if k in EXTERNAL) / customer_years, 1
        ),
        waypost_actions_per_customer_year=round(
            sum(v for k, v in kinds.items() if k not in EXTERNAL) / customer_years + skipped, 1
        ),
        actions_by_kind_per_customer_year={
            k: round(v / customer_years, 1) for k, v in kinds.most_common()
        },
        largest_runs=sorted(rows, key=lambda r: -r.events)[:5],
        action_mapping=MAPPING,
    )
