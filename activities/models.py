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
