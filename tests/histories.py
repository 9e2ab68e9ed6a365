"""Saving workflow histories for the replay tests."""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import Client

DIR = Path(__file__).parent / "histories"


async def save_history(
    client: Client, workflow_id: str, name: str, run_id: str | None = None
) -> None:
    """Keep this run's history as tests/histories/<name>.json when asked to.

    Off by default so an ordinary test run never rewrites the committed histories: they are
    the record of what older code did, which is the point of replaying them.
    """
    if os.environ.get("WAYPOST_SAVE_HISTORIES") != "1":
        return
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    DIR.mkdir(exist_ok=True)
    (DIR / f"{name}.json").write_text(history.to_json())
