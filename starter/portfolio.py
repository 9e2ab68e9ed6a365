"""The portfolio: which journeys there are, found by Temporal visibility queries over the
search attributes, each enriched with what its `state` query says, and summed up.

Shared by `waypost list` and the dashboard, so both count the same way. Filtering happens in
Temporal (a visibility query), never by listing everything and filtering here; only what the
search attributes cannot say (the next due item, why health last changed) asks each journey.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from activities.models import TaskRow
from starter.journeys import journey_states
from store.tasks import list_tasks
from workflows import attributes
from workflows.journey.names import WORKFLOW as WORKFLOW_NAME
from workflows.journey.state import JourneyState, TriggerRecord
from workflows.models import HEALTH_COLOURS, HEALTH_LABELS, UNSCORED
from workflows.policy import Policy

log = structlog.get_logger(__name__)

RENEWAL_HORIZON_DAYS = 90
# Filter values go into a visibility query; refusing anything but plain words keeps quoting
# out of the question (no value can close its string and add a clause).
_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.@-]{0,99}$")
_PREFIX = "journey-"


class Filters(BaseModel):
    """What to list. Every field narrows; none set lists every running journey."""

    model_config = ConfigDict(frozen=True)

    health: str | None = None
    stage: str | None = None
    segment: str | None = None
    tier: str | None = None
    csm: str | None = None
    since: date | None = Field(
        default=None, description="Only journeys whose health last changed on or after this."
    )
    include_closed: bool = False
    task_queue: str | None = Field(
        default=None, description="Only journeys on this task queue (one deployment's)."
    )


class FilterError(ValueError):
    """A filter value that cannot be queried; the message names the filter."""


def visibility_query(f: Filters) -> str:
    """The Temporal visibility query for `f` (the same text works in the Temporal UI)."""
    clauses = [f"WorkflowType = '{WORKFLOW_NAME}'"]
    if not f.include_closed:
        clauses.append("ExecutionStatus = 'Running'")
    if f.task_queue:
        clauses.append(f"TaskQueue = {_quoted('task_queue', f.task_queue)}")
    if f.health == UNSCORED:
        clauses.append(f"{attributes.HEALTH.name} IS NULL")
    elif f.health is not None:
        if f.health not in HEALTH_LABELS:
            raise FilterError(f"health: '{f.health}' is not one of {', '.join(HEALTH_LABELS)}")
        clauses.append(f"{attributes.HEALTH.name} = '{f.health}'")
    for name, key, value in (
        ("stage", attributes.STAGE, f.stage),
        ("segment", attributes.SEGMENT, f.segment),
        ("tier", attributes.TIER, f.tier),
        ("csm", attributes.CSM, f.csm),
    ):
        if value is not None:
            clauses.append(f"{key.name} = {_quoted(name, value)}")
    return " AND ".join(clauses)


def _quoted(name: str, value: str) -> str:
    if not _VALUE.match(value):
        raise FilterError(
            f"{name}: '{value[:40]}' is not a plain value "
            "(letters, digits, space, _ . @ -; at most 100)"
        )
    return f"'{value}'"


# ---- one row per journey -------------------------------------------------------------------------


class JourneyRow(BaseModel):
    """A journey as the portfolio shows it: search attributes, then what its state adds."""

    account_id: str
    workflow_id: str
    running: bool
    segment: str | None = None
    tier: str | None = None
    stage: str | None = None
    health: str = UNSCORED
    csm: str | None = None
    renewal_date: date | None = None
    open_plays: int = 0
    # From the journey's `state` query (None when it did not answer: see state_error).
    today: date | None = Field(default=None, description="The journey's own date (journey time).")
    next_due: str | None = None
    next_due_at: datetime | None = None
    health_changed_at: datetime | None = Field(
        default=None, description="Journey time of the latest colour change."
    )
    health_changed_day: float | None = None
    health_why: str | None = Field(default=None, description="That change's summary: the why.")
    open_play_titles: list[str] = []
    state_error: str | None = None

    @property
    def days_to_renewal(self) -> int | None:
        """Journey days until the contract ends, counted from the journey's own today."""
        if self.renewal_date is None:
            return None
        return (self.renewal_date - (self.today or datetime.now(UTC).date())).days


def row_from_execution(wf: WorkflowExecution) -> JourneyRow:
    sa = wf.typed_search_attributes
    renewal = sa.get(attributes.RENEWAL_DATE)
    return JourneyRow(
        account_id=wf.id.removeprefix(_PREFIX),
        workflow_id=wf.id,
        running=wf.status == WorkflowExecutionStatus.RUNNING,
        segment=sa.get(attributes.SEGMENT),
        tier=sa.get(attributes.TIER),
        stage=sa.get(attributes.STAGE),
        health=sa.get(attributes.HEALTH) or UNSCORED,
        csm=sa.get(attributes.CSM),
        renewal_date=renewal.date() if renewal else None,
        open_plays=sa.get(attributes.OPEN_PLAYS) or 0,
    )


def latest_health_change(state: JourneyState) -> TriggerRecord | None:
    """The trigger that set the current colour (None while it never changed)."""
    return next((t for t in reversed(state.triggers) if t.kind == "health_changed"), None)


def with_state(row: JourneyRow, state: JourneyState) -> JourneyRow:
    """`row` with what the journey's state says; the state wins where both know a value,
    since visibility is eventually consistent and the query is not."""
    change = latest_health_change(state)
    # The next thing someone owes (a milestone or recurring item falling due), not the
    # journey's own housekeeping (adoption checks, stage changes), unless that is all there is.
    due = [t for t in state.next_timers if t.what.endswith(" due")] or state.next_timers
    nxt = min(due, key=lambda t: t.at, default=None)
    return row.model_copy(
        update={
            "stage": state.stage,
            "health": state.health_colour,
            "renewal_date": state.contract_end or row.renewal_date,
            "open_plays": len(state.open_plays),
            "today": state.today,
            "next_due": nxt.what if nxt else None,
            "next_due_at": nxt.at if nxt else None,
            "health_changed_at": change.at if change else None,
            "health_changed_day": change.day if change else None,
            "health_why": change.summary if change else None,
            "open_play_titles": [p.title for p in state.open_plays.values()],
        }
    )


async def find_journeys(
    client: Client, f: Filters, *, limit: int = 1000
) -> tuple[list[JourneyRow], bool]:
    """Journeys matching `f` by visibility query, newest first; True when over `limit`."""
    rows: list[JourneyRow] = []
    async for wf in client.list_workflows(visibility_query(f), limit=limit + 1):
        rows.append(row_from_execution(wf))
    return rows[:limit], len(rows) > limit


async def enrich(
    client: Client,
    rows: list[JourneyRow],
    *,
    concurrency: int = 16,
    per_journey_seconds: float = 5.0,
) -> tuple[list[JourneyRow], dict[str, JourneyState]]:
    """Ask each running journey for its state (a few at a time, each bounded).

    A journey that does not answer keeps its search attributes and says why in
    `state_error`: one stuck journey must not hide the portfolio.
    """
    found = await journey_states(
        client,
        (r.account_id for r in rows if r.running),
        concurrency=concurrency,
        per_journey_seconds=per_journey_seconds,
    )
    states = {a: s for a, s in found.items() if not isinstance(s, str)}

    def one(row: JourneyRow) -> JourneyRow:
        if not row.running:
            return row
        state = found[row.account_id]
        if isinstance(state, str):
            return row.model_copy(update={"state_error": state})
        return with_state(row, state)

    return [one(r) for r in rows], states


def changed_since(rows: Iterable[JourneyRow], since: date | None) -> list[JourneyRow]:
    """Rows whose health last changed on or after `since` (journey date); all when None.

    The latest change always lands on the current colour, so with a health filter this reads
    "turned yellow since …".
    """
    if since is None:
        return list(rows)
    return [r for r in rows if r.health_changed_at and r.health_changed_at.date() >= since]


async def list_portfolio(
    client: Client, f: Filters, *, limit: int = 1000, details: bool = True
) -> tuple[list[JourneyRow], bool]:
    """`waypost list`: the visibility query, each journey's state, then the `since` cut."""
    rows, truncated = await find_journeys(client, f, limit=limit)
    if details or f.since is not None:
        rows, _ = await enrich(client, rows)
    rows = changed_since(rows, f.since)
    return sorted(rows, key=_list_order), truncated


# Worst first; unscored after green: nothing says it needs anyone yet.
_WORST_FIRST = (*reversed(HEALTH_COLOURS), UNSCORED)
_SEVERITY: dict[str, int] = {colour: rank for rank, colour in enumerate(_WORST_FIRST)}


def _list_order(r: JourneyRow) -> tuple[int, str, str]:
    """Worst health first: the accounts that need someone come first."""
    return (_SEVERITY.get(r.health, len(_SEVERITY)), r.segment or "", r.account_id)


def quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


# ---- the portfolio at a glance -------------------------------------------------------------------


class RenewalRow(BaseModel):
    account_id: str
    renewal_date: date
    days: int
    health: str
    csm: str | None


class Portfolio(BaseModel):
    """What the dashboard's first page shows; every number traceable to `rows`."""

    rows: list[JourneyRow]
    truncated: bool = False
    stages: list[str]
    grid: dict[str, dict[str, int]] = Field(description="stage → health colour → journeys.")
    health_totals: dict[str, int]
    plays_by_kind: dict[str, int]
    overdue_by_csm: dict[str, int]
    renewals: list[RenewalRow]
    as_of: date = Field(description="The latest journey date seen (today in production).")
    unanswered: int = Field(description="Journeys whose state query failed.")


def stage_order(policy: Policy | None) -> list[str]:
    """Stages in the order a journey passes them; the tenure stages come from the policy."""
    tenure = [s.key for s in policy.maturity.stages] if policy else []
    return ["onboarding", "adoption", *tenure, "ended"]


def summarise(
    rows: list[JourneyRow],
    overdue: Iterable[TaskRow],
    *,
    order: list[str],
    truncated: bool = False,
    horizon_days: int = RENEWAL_HORIZON_DAYS,
) -> Portfolio:
    """Count the portfolio: stage × health, open plays by kind, overdue tasks by CSM, and the
    contracts that end within `horizon_days` of each journey's own today."""
    present = {r.stage or "unknown" for r in rows}
    stages = [s for s in order if s in present] + sorted(present - set(order))
    grid: dict[str, dict[str, int]] = {s: dict.fromkeys(HEALTH_LABELS, 0) for s in stages}
    for r in rows:
        grid[r.stage or "unknown"][r.health] += 1
    totals = {h: sum(grid[s][h] for s in stages) for h in HEALTH_LABELS}
    plays = Counter(t for r in rows for t in r.open_play_titles)
    ids = {r.account_id for r in rows}
    by_csm = Counter(t.csm for t in overdue if t.account_id in ids)
    renewals = sorted(
        (
            RenewalRow(
                account_id=r.account_id,
                renewal_date=r.renewal_date,
                days=days,
                health=r.health,
                csm=r.csm,
            )
            for r in rows
            if r.renewal_date is not None
            and (days := r.days_to_renewal) is not None
            and 0 <= days <= horizon_days
        ),
        key=lambda x: (x.days, x.account_id),
    )
    today = datetime.now(UTC).date()
    return Portfolio(
        rows=rows,
        truncated=truncated,
        stages=stages,
        grid=grid,
        health_totals=totals,
        plays_by_kind=dict(plays.most_common()),
        overdue_by_csm=dict(by_csm.most_common()),
        renewals=renewals,
        as_of=max((r.today for r in rows if r.today), default=today),
        unanswered=sum(r.state_error is not None for r in rows),
    )


async def load_portfolio(
    client: Client, pool: asyncpg.Pool | None, f: Filters, *, policy: Policy | None = None
) -> Portfolio:
    """The dashboard's portfolio: journeys by visibility query, their states, overdue tasks."""
    rows, truncated = await find_journeys(client, f)
    rows, _ = await enrich(client, rows)
    rows = changed_since(rows, f.since)
    overdue = await list_tasks(pool, overdue=True) if pool is not None else []
    return summarise(
        sorted(rows, key=_list_order), overdue, order=stage_order(policy), truncated=truncated
    )
