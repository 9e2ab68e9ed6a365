"""Which external events a journey applies: each event once, and never one older than what
it already applied for the same thing.

CRMs deliver at least once and not in order. Keeping the ids seen and the newest time applied
per stream (a contact, a health measure, a ticket) makes any burst of duplicate and reordered
deliveries end in the state the in-order stream gives.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, PrivateAttr

Verdict = Literal["apply", "duplicate", "stale"]

# Enough to cover any realistic redelivery window (HubSpot retries for a day) many times over,
# small enough that carrying it across continue-as-new costs little (~40 bytes an id).
MAX_SEEN = 2000


class EventLedger(BaseModel):
    seen: list[str] = Field(default_factory=list, description="Recent event ids, oldest first.")
    last_applied: dict[str, datetime] = Field(default_factory=dict)
    applied: int = 0
    duplicates: int = 0
    stale: int = 0
    max_seen: int = MAX_SEEN

    _index: set[str] = PrivateAttr(default_factory=set)
    _order: deque[str] = PrivateAttr(default_factory=deque)

    def model_post_init(self, _context: object) -> None:
        self._order = deque(self.seen)
        self._index = set(self.seen)

    def admit(self, event_id: str, stream: str | None, occurred_at: datetime) -> Verdict:
        """Record the event and say what to do with it.

        `stream` names what the event sets (e.g. "health:support"); None for events whose
        order does not matter (usage on a day, an incident), which are only de-duplicated.
        """
        if event_id in self._index:
            self.duplicates += 1
            return "duplicate"
        self._remember(event_id)
        if stream is not None:
            last = self.last_applied.get(stream)
            if last is not None and occurred_at < last:
                self.stale += 1
                return "stale"
            self.last_applied[stream] = occurred_at
        self.applied += 1
        return "apply"

    def _remember(self, event_id: str) -> None:
        self._order.append(event_id)
        self._index.add(event_id)
        while len(self._order) > self.max_seen:
            self._index.discard(self._order.popleft())
        self.seen = list(self._order)
