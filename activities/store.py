"""Timeline activities. The pool is built by the worker and handed in (no global state)."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from activities.models import TimelineEntry
from store import timeline


class StoreActivities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="record_timeline")
    async def record_timeline(self, entry: TimelineEntry) -> bool:
        """Write one timeline row; True if this call wrote it, False if it was already there."""
        return await timeline.record(self._pool, entry)
