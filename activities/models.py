"""Inputs and results of activities. Imported by workflows, so free of I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TimelineEntry(BaseModel):
    """One row of an account's timeline, keyed so a retry writes it once."""

    model_config = ConfigDict(frozen=True)

    idempotency_key: str = Field(min_length=1)
    account_id: str
    workflow_id: str
    kind: str
    subject: str | None = None
    summary: str
    details: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime


class TimelineRow(TimelineEntry):
    id: int
    recorded_at: datetime


class PlayStarted(BaseModel):
    play_id: str
    run_id: str
    account_id: str
    play: str
    cause: str
    title: str
    why: str
    why_record: dict[str, Any] = Field(default_factory=dict)
    started_at: datetime
    timeline: TimelineEntry | None = Field(
        default=None, description="Written in the same transaction: one activity, not two."
    )


class PlayFinished(BaseModel):
    play_id: str
    run_id: str
    status: str  # completed | exited
    outcome: str
    ended_at: datetime
    timeline: TimelineEntry | None = Field(
        default=None, description="Written in the same transaction: one activity, not two."
    )


class TaskFields(BaseModel):
    """A task as the `tasks` table keeps it: every time in it is real (see docs/architecture.md,
    "Time"); a page that shows a journey date converts with the journey's clock."""

    idempotency_key: str
    play_id: str
    account_id: str
    step: str
    title: str
    assignee_role: str
    csm: str
    due_at: datetime = Field(description="Real instant the task falls due (what overdue means).")
    escalation_of: int | None = None


class TaskSpec(TaskFields):
    """A task a play asks someone to do; `idempotency_key` is derived from play id and step."""

    due_real_at: datetime | None = Field(
        default=None,
        description="Older plays' shape: `due_at` was then journey time and this the real "
        "deadline. Kept so a retry scheduled before the change still decodes; drop in the next "
        "release.",
    )

    def deadline(self) -> datetime:
        """The real instant the task falls due, whichever shape the play sent."""
        return self.due_real_at or self.due_at


class TaskRow(TaskFields):
    id: int
    status: str
    created_at: datetime
    closed_at: datetime | None = None
    closed_by: str | None = None


class TaskClose(BaseModel):
    task_id: int
    status: str  # done | resolved_by_exit
    by: str | None = None


class TasksClose(BaseModel):
    """Close every task of `task_ids` still open, e.g. all of a play's when it exits."""

    task_ids: list[int] = Field(min_length=1)
    status: str  # resolved_by_exit
    by: str | None = None


class OutboxMessage(BaseModel):
    idempotency_key: str
    play_id: str
    account_id: str
    recipient: str
    subject: str
    body: str
