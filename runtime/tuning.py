"""How much one worker takes on (settings `WAYPOST_MAX_*`; README "Production")."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.settings import Settings


@dataclass(frozen=True)
class WorkerTuning:
    max_concurrent_workflow_tasks: int = 100
    max_cached_workflows: int = 1000
    max_concurrent_activities: int = 100
    graceful_shutdown_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerTuning:
        return cls(
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            max_cached_workflows=settings.max_cached_workflows,
            max_concurrent_activities=settings.max_concurrent_activities,
            graceful_shutdown_seconds=settings.graceful_shutdown_seconds,
        )
