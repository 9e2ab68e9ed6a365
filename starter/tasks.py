"""Tasks from the CSM's side: list them, and mark one done (which tells its play)."""

from __future__ import annotations

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.models import TaskClose, TaskRow
from activities.plays import PlayActivities, fetch_task
from starter.journeys import JourneyError
from workflows.play_messages import TaskDone


async def mark_task_done(client: Client, pool: asyncpg.Pool, task_id: int, by: str) -> TaskRow:
    """Tell the task's play it is done; the play closes the row (one writer per task)."""
    task = await fetch_task(pool, task_id)
    if task is None:
        raise JourneyError("unknown_task", f"no task {task_id} (see `waypost tasks`)")
    if task.status != "open":
        return task
    try:
        play = client.get_workflow_handle(task.play_id)
        await play.signal("task_done", TaskDone(task_id=task_id, by=by))
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        # The play has ended (exited, or its journey closed): close the row ourselves.
        await PlayActivities(pool).close_task(TaskClose(task_id=task_id, status="done", by=by))
    return task
