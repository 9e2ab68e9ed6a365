"""Messages between a journey and its plays, and what a play shows when asked."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from workflows.policy import Play, Template
from workflows.rules import JourneyFacts
from workflows.rules.why import Why


class PlaybookInput(BaseModel):
    play_id: str
    account_id: str
    csm: str
    journey_workflow_id: str = Field(description="Signalled by id (not run) when the play ends.")
    journey_run: str | None = Field(
        default=None,
        description="The journey's first run id: a later journey for the same account (after "
        "churn and a new contract) ignores the end of a play it did not start.",
    )
    play: Play
    templates: dict[str, Template] = {}
    policy_name: str
    policy_version: int
    cause: str
    trigger_summary: str = Field(description="The why, in one line a CSM understands.")
    why: Why | None = None
    day_seconds: float = Field(gt=0)
    journey_time: AwareDatetime = Field(description="Journey time when the play started.")
    facts: JourneyFacts = Field(default_factory=JourneyFacts)
    values: dict[str, str] = Field(default_factory=dict, description="Template placeholders.")


class TaskDone(BaseModel):
    """Signal `task_done` to a play: one of its tasks was done."""

    model_config = ConfigDict(extra="forbid")

    task_id: int
    by: str | None = None


class FactsChanged(BaseModel):
    """Signal `journey_facts` from the journey to its open plays."""

    facts: JourneyFacts


StepStatus = Literal["pending", "running", "done", "escalated", "timed_out", "skipped"]


class StepState(BaseModel):
    key: str
    kind: str
    status: StepStatus = "pending"
    task_id: int | None = None
    note: str | None = None


class PlayEnded(BaseModel):
    """Signal `play_ended` from a play to its journey."""

    play_id: str
    journey_run: str | None = None
    play: str
    cause: str
    outcome: Literal["completed", "exited"]
    reason: str
    at: datetime


class PlayState(BaseModel):
    play_id: str
    play: str
    title: str
    cause: str
    why: str
    status: Literal["running", "completed", "exited"] = "running"
    steps: list[StepState]
    open_tasks: dict[int, str] = Field(default_factory=dict, description="task id → step key")
    facts: JourneyFacts
    ended_reason: str | None = None
