"""The floor's workflows: what bare Temporal costs with nothing of Waypost's in it.

Kept apart from the worker wiring (bench/baseline.py) so the sandbox, which re-imports a
workflow's module for every run, re-imports only this: temporalio and pydantic, both passed
through, as Waypost's own dependencies are.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from temporalio import workflow

NOOP = "BenchNoop"
WAITER = "BenchWaiter"


class WaiterState(BaseModel):
    signals: int = 0
    probes: list[str] = []


@workflow.defn(name=NOOP)
class BenchNoop:
    """The start-throughput floor: one workflow task, then done."""

    @workflow.run
    async def run(self) -> None:
        return None


@workflow.defn(name=WAITER)
class BenchWaiter:
    """The event-throughput and memory floor: waits, and counts what it is sent.

    `ping` takes the same event payload a journey gets, so both sides move the same bytes.
    """

    def __init__(self) -> None:
        self._state = WaiterState()
        self._finished = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self._finished)
        return self._state.signals

    @workflow.signal(name="ping")
    def ping(self, _event: dict[str, Any]) -> None:
        self._state.signals += 1

    @workflow.signal(name="probe")
    def probe(self, probe_id: str) -> None:
        self._state.signals += 1
        self._state.probes.append(probe_id)

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self._finished = True

    @workflow.query(name="state")
    def state(self) -> WaiterState:
        return self._state
