"""Tasks from the CSM's side: list them, and mark one done (which tells its play)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import asyncpg
import structlog
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.models import TaskRow
from starter.journeys import JourneyError, journey_states
from store.tasks import close_task, fetch_task, list_tasks
from workflows.clock import JourneyClock
from workflows.playbook import names as play_names
from workflows.playbook.messages import TaskDone

log = structlog.get_logger(__name__)


async def journey_clocks(client: Client, account_ids: Iterable[str]) -> dict[str, JourneyClock]:
    """The clocks of these accounts' journeys (one state query each), so a person reads a
    task's real deadline as a journey date (`waypost tasks`); machine-readable outputs (the
    API, `--json`) keep the real instants Postgres holds. An account whose journey cannot be
    read now (gone past retention, no worker, Temporal away) is left out."""
    states = await journey_states(client, account_ids)
    return {a: s.clock() for a, s in states.items() if not isinstance(s, str)}


class TaskNotFound(LookupError):
    """No task with this id (the API answers 404)."""


async def mark_task_done(client: Client, pool: asyncpg.Pool, task_id: int, by: str) -> TaskRow:
    """Tell the task's play it is done; the play closes the row (one writer per task)."""
    task = await fetch_task(pool, task_id)
    if task is None:
        raise JourneyError("unknown_task", f"no task {task_id} (see `waypost tasks`)")
    if task.status != "open":
        return task
    try:
        play = client.get_workflow_handle(task.play_id)
        await play.signal(play_names.TASK_DONE, TaskDone(task_id=task_id, by=by))
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        # The play has ended (exited, or its journey closed): close the row ourselves.
        await close_task(pool, task_id, "done", by)
    return task


class PlayTaskStore:
    """Tasks for the HTTP API (GET /tasks, POST /tasks/{id}/done)."""

    def __init__(self, pool: asyncpg.Pool, client: Client) -> None:
        self._pool, self._client = pool, client

    async def list_tasks(
        self, *, account_id: str | None, status: str | None, csm: str | None, overdue: bool
    ) -> list[dict[str, Any]]:
        rows = await list_tasks(
            self._pool, account_id=account_id, csm=csm, status=status, overdue=overdue
        )
        return [r.model_dump(mode="json") for r in rows]

    async def mark_done(self, task_id: str, *, by: str | None) -> dict[str, Any]:
        # Task ids are Postgres bigints: anything else names no task (404, not a 503 from
        # the driver refusing the number).
        if not task_id.isdigit() or int(task_id) >= 2**63:
            raise TaskNotFound(task_id)
        try:
            task = await mark_task_done(self._client, self._pool, int(task_id), by or "api")
        except JourneyError as err:
            if err.kind == "unknown_task":
                raise TaskNotFound(task_id) from None
            raise
        return task.model_dump(mode="json") | {"status": "done"}
