"""Client-side operations on journeys, shared by the CLI, the demo and (later) the API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import TypeVar

import structlog
from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from workflows.clock import DAY_SECONDS, JourneyClock
from workflows.journey import names
from workflows.journey.messages import SIGNALS, EndJourney, JourneyInput, MilestoneDone
from workflows.journey.state import Completed, JourneyState
from workflows.journey.workflow import CustomerJourney, journey_id
from workflows.models import Account
from workflows.policy import Policy

log = structlog.get_logger(__name__)

R = TypeVar("R")


class JourneyError(Exception):
    """A request about a journey was refused; `kind` is stable, the message says what to do."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Started:
    workflow_id: str
    run_id: str
    created: bool


async def start_journey(
    client: Client,
    account: Account,
    policy: Policy,
    *,
    task_queue: str,
    day_seconds: float,
) -> Started:
    """Start the account's journey, or find the one already running (never two at once)."""
    wid = journey_id(account.account_id)
    # In compressed time a journey begins on its contract's first day, so tenure, recurring
    # milestones and renewal fall where the contract puts them. In real time it begins now.
    epoch = (
        datetime.combine(account.contract_start, time(), tzinfo=UTC)
        if day_seconds < DAY_SECONDS
        else None
    )
    try:
        handle = await client.start_workflow(
            CustomerJourney.run,
            JourneyInput(account=account, policy=policy, day_seconds=day_seconds, epoch=epoch),
            id=wid,
            task_queue=task_queue,
            # A closed journey (churned, then won back) may start again; a running one is
            # found, not duplicated.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=f"Customer journey: {account.segment}/{account.tier}",
        )
        return Started(wid, handle.result_run_id or "", created=True)
    except WorkflowAlreadyStartedError as err:
        return Started(wid, err.run_id or "", created=False)


async def _running_handle(
    client: Client, account_id: str
) -> WorkflowHandle[CustomerJourney, JourneyState]:
    handle = client.get_workflow_handle_for(CustomerJourney.run, journey_id(account_id))
    try:
        await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise JourneyError(
                "unknown_account",
                f"no journey for account '{account_id}' "
                "(start one with `waypost start <account.json>`)",
            ) from None
        raise
    return handle


async def journey_state(client: Client, account_id: str) -> JourneyState:
    handle = await _running_handle(client, account_id)
    try:
        state = await handle.query(CustomerJourney.state)
    except WorkflowQueryFailedError as err:
        raise JourneyError("query_failed", f"journey '{account_id}': {err}") from None
    if state.ended is not None:
        return state
    # A query sees workflow time as of the journey's last task, which stands still while it
    # sleeps on a long timer; the journey's own clock says where it is now.
    clock = state.clock()
    now = datetime.now(UTC)
    return state.model_copy(
        update={"journey_day": round(clock.day(now), 2), "today": clock.today(now)}
    )


async def journey_states(
    client: Client,
    account_ids: Iterable[str],
    *,
    concurrency: int = 16,
    per_journey_seconds: float = 5.0,
) -> dict[str, JourneyState | str]:
    """Each journey's state, a few at a time and each bounded (without a worker a query would
    hang); a journey that does not answer gives why, as text, so one stuck journey never
    hides the rest."""
    gate = asyncio.Semaphore(concurrency)

    async def one(account_id: str) -> tuple[str, JourneyState | str]:
        async with gate:
            try:
                async with asyncio.timeout(per_journey_seconds):
                    return account_id, await journey_state(client, account_id)
            except (JourneyError, RPCError, TimeoutError) as err:
                detail = str(err) or type(err).__name__
                log.warning("journey state unavailable", account_id=account_id, error=detail)
                return account_id, detail

    return dict(await asyncio.gather(*(one(a) for a in sorted(set(account_ids)))))


def journey_when(clock: JourneyClock, real: datetime) -> str:
    """A real instant as a CSM reads it: journey day and journey date."""
    return f"day {round(clock.day(real), 2) + 0.0:g} ({clock.today(real)})"  # never "-0"


async def is_running(client: Client, account_id: str) -> bool:
    handle = await _running_handle(client, account_id)
    desc = await handle.describe()
    return desc.status == WorkflowExecutionStatus.RUNNING


async def complete_milestone(
    client: Client, account_id: str, key: str, by: str | None = None
) -> Completed:
    return await _update(
        client, account_id, names.COMPLETE_MILESTONE, MilestoneDone(key=key, by=by), Completed
    )


async def end_journey(client: Client, account_id: str, outcome: str, reason: str) -> JourneyState:
    ended = EndJourney.model_validate({"outcome": outcome, "reason": reason})
    return await _update(client, account_id, names.END_JOURNEY, ended, JourneyState)


async def _update(
    client: Client, account_id: str, name: str, arg: BaseModel, result_type: type[R]
) -> R:
    """An update of the account's running journey; a refusal or an ended journey is a
    JourneyError."""
    handle = await _running_handle(client, account_id)
    try:
        # By name: the SDK's typing of async update methods trips mypy (result is a coroutine).
        result: R = await handle.execute_update(name, arg, result_type=result_type)
        return result
    except WorkflowUpdateFailedError as err:
        raise _refused(err) from None
    except RPCError as err:
        raise _closed(account_id, err) from None


async def send_event(client: Client, account_id: str, kind: str, event: BaseModel) -> None:
    """Signal an external event (`kind` is one of messages.SIGNALS) to a running journey.

    Raises JourneyError `unknown_account` when the account never had a journey and
    `journey_closed` when its journey has ended, so callers can park or record the event.
    """
    if kind not in SIGNALS or not isinstance(event, SIGNALS[kind]):
        raise JourneyError("bad_event", f"'{kind}' is not a journey signal ({', '.join(SIGNALS)})")
    # One call on the hot path (a webhook per event): signal first, and only when Temporal
    # finds no running journey ask which case it is, never or no longer.
    handle = client.get_workflow_handle_for(CustomerJourney.run, journey_id(account_id))
    try:
        await handle.signal(kind, event)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise _closed(account_id, err) from None
        await _running_handle(client, account_id)  # raises unknown_account if there never was one
        raise _closed(account_id, err) from None


def _refused(err: WorkflowUpdateFailedError) -> JourneyError:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return JourneyError(cause.type or "refused", cause.message)
    return JourneyError("refused", str(cause or err))


def _closed(account_id: str, err: RPCError) -> JourneyError:
    if err.status == RPCStatusCode.NOT_FOUND:
        return JourneyError("journey_closed", f"the journey for '{account_id}' has already ended")
    return JourneyError("temporal_error", f"{err.status.name if err.status else ''} {err}")
