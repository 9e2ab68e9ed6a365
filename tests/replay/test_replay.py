"""Every saved history must replay against today's code.

A failure here means a change would break journeys already running in production: guard the
change with `workflow.patched(...)` instead. Histories are saved by the integration tests when
WAYPOST_SAVE_HISTORIES=1 (see tests/histories/README.md).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from worker import build_replayer

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay() -> None:
    assert HISTORIES, "tests/histories/ is empty: run the integration tests to save some"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    result = await build_replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
