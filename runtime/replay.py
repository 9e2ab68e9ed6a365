"""Replaying histories against today's workflow code: the saved ones in tests/histories/,
and exported production ones before a deploy (docs/operations.md)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import structlog
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, WorkflowRunner

from runtime.codec import PayloadKeys, with_encryption
from runtime.converter import waypost_data_converter

log = structlog.get_logger(__name__)


def build_replayer(
    workflows: Sequence[type], runner: WorkflowRunner, keys: PayloadKeys | None = None
) -> Replayer:
    """A replayer for `workflows`; with `keys`, histories exported encrypted too."""
    if keys is not None:
        # Replay only reads: histories may hold payloads from before encryption was on.
        keys = dataclasses.replace(keys, accept_plaintext=True)
    return Replayer(
        workflows=list(workflows),
        data_converter=with_encryption(waypost_data_converter, keys),
        workflow_runner=runner,
    )


async def replay_files(replayer: Replayer, paths: Sequence[Path]) -> int:
    """Replay exported histories (`temporal workflow show --output json`); how many break."""
    broken = 0
    for path in paths:
        history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is None:
            log.info("history replays", history=str(path))
        else:
            broken += 1
            log.error(
                "history does not replay", history=str(path), error=str(result.replay_failure)
            )
    return broken
