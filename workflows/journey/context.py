"""What every part of a running journey shares: its account, pinned policy, state and clock,
the waits on journey time that end early when the journey does, and the state it shows.

Runs in the workflow (it calls `workflow.*`); the decisions it serves stay in pure modules.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.clock import JourneyClock
    from workflows.journey.onboarding import next_timers
    from workflows.journey.state import JourneyState
    from workflows.models import Account
    from workflows.policy import Policy


@dataclass
class JourneyContext:
    account: Account
    policy: Policy
    state: JourneyState
    clock: JourneyClock
    # The first run's id: it names this journey's timeline rows and is the journey_run its
    # plays report back with, the same across continue-as-new, another for a later journey.
    chain: str
    # Whether this run has the forking branches (patches.FORKING), set once as it starts; None
    # before that, while handlers of messages that came with the run's first task run.
    forking: bool | None = None

    @property
    def ended(self) -> bool:
        return self.state.ended is not None

    def day(self) -> float:
        """Today's journey day, to the hundredth, as days are shown and recorded."""
        return round(self.clock.day(workflow.now()), 2)

    async def sleep_until(self, day: float, summary: str) -> bool:
        """Wait for journey day `day`; False if the journey ended first."""
        seconds = self.clock.seconds_until(day, workflow.now())
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self.ended,
                    timeout=timedelta(seconds=seconds),
                    timeout_summary=summary,
                )
        return not self.ended

    def snapshot(self) -> JourneyState:
        s, now = self.state, workflow.now()
        # Shallow: the copy is serialised at once and never mutated, and a deep copy of a
        # large state on every query is what makes a busy worker fall behind.
        return s.model_copy(
            update={
                "journey_day": round(self.clock.day(now), 2),
                "today": self.clock.today(now),
                "next_timers": next_timers(s, self.clock),
            }
        )
