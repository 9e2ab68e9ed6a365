"""Playbook tasks: `GET /tasks` and `POST /tasks/{id}/done`, through the task store the API
was built with (starter/tasks.py `PlayTaskStore` under `waypost api`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from starter.api.body import StrictJson
from starter.api.calls import db_call
from starter.api.deps import Authorized, ServicesDep
from starter.api.errors import ApiError, responses
from starter.tasks import TaskNotFound
from workflows.models import ID_PATTERN

router = APIRouter(
    route_class=StrictJson,
    dependencies=[Authorized],
    responses=responses(401, 404, 422, 503),
)


class TaskDone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(default=None, min_length=1, max_length=200)


@router.get("/tasks", summary="Playbook tasks")
async def get_tasks(
    services: ServicesDep,
    account_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    status: Annotated[str | None, Query(pattern=r"^[a-z_]{1,30}$")] = None,
    csm: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    overdue: bool = False,
) -> JSONResponse:
    if services.tasks is None:
        return JSONResponse(
            {"tasks": [], "note": "no task store is configured yet (playbook tasks)"}
        )
    found = await db_call(
        services.tasks.list_tasks(account_id=account_id, status=status, csm=csm, overdue=overdue)
    )
    return JSONResponse({"tasks": found})


@router.post("/tasks/{task_id}/done", summary="Mark a playbook task done")
async def post_task_done(
    task_id: Annotated[str, Path(min_length=1, max_length=200)],
    services: ServicesDep,
    done: TaskDone | None = None,
) -> JSONResponse:
    if services.tasks is None:
        raise ApiError(404, "unknown_task", f"no task '{task_id}': no task store is configured yet")
    try:
        task = await db_call(services.tasks.mark_done(task_id, by=done.by if done else None))
    except TaskNotFound:
        raise ApiError(
            404, "unknown_task", f"no task '{task_id}' (list them: GET /tasks)"
        ) from None
    return JSONResponse(task)
