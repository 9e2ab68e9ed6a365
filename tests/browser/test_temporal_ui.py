"""The Temporal UI reads like the journey: journeys filtered by `WaypostHealth`, screenshotted
for the README (docs/images/temporal-ui-health-yellow.png) and the test artifacts.

Set WAYPOST_UPDATE_SCREENSHOTS=1 to refresh the README's copy. The session's Temporal server
is headless, so this test starts one of its own with the UI,
runs a worker and the seeded journeys on it, and opens the UI's workflow list with a
visibility query."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import quote

import asyncpg
import pytest
from playwright.async_api import Browser
from temporalio.client import Client

from devtools.infra import TemporalServer, free_port
from runtime.temporal import connect
from tests.browser.seed import seed_portfolio
from tests.helpers import Journeys
from worker import build_worker
from workflows.journey.workflow import journey_id
from workflows.models import Account
from workflows.policy import Policy

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
README_IMAGE = ROOT / "docs" / "images" / "temporal-ui-health-yellow.png"


@pytest.fixture
async def ui_server(tmp_path: Path) -> AsyncIterator[tuple[TemporalServer, Client]]:
    server = TemporalServer.start(
        port=free_port(), ui_port=free_port(), db_file=None, log_file=tmp_path / "temporal.log"
    )
    try:
        yield server, await connect(server.address)
    finally:
        server.stop()


async def test_temporal_ui_lists_journeys_by_health(
    browser: Browser,
    artifacts: Path,
    ui_server: tuple[TemporalServer, Client],
    pool: asyncpg.Pool,
    policy: Policy,
    make_account: Callable[..., Account],
) -> None:
    server, client = ui_server
    assert server.ui_url is not None
    task_queue = f"waypost-ui-{uuid.uuid4().hex[:8]}"
    query = quote('WaypostHealth="yellow"', safe="")
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    shot = artifacts / "temporal-ui-health-yellow.png"
    try:
        page = await context.new_page()
        # The worker stays up while the UI looks: current details come from a query it answers.
        async with build_worker(client, pool, task_queue):
            # Not ended after: the server is this test's own, and stops with it.
            journeys = Journeys(client, pool, task_queue, policy)
            seeded = await seed_portfolio(journeys, make_account)
            yellow = [journey_id(a) for a in seeded.ids("yellow_1", "yellow_2")]
            others = [journey_id(a) for a in seeded.colours if journey_id(a) not in yellow]
            await page.goto(f"{server.ui_url}/namespaces/default/workflows?query={query}")
            for wid in yellow:
                await page.get_by_role("link", name=wid).first.wait_for()
            content = await page.content()
            assert not [w for w in others if w in content], "the filter let others through"
            await page.screenshot(path=shot)

            # One journey: its timers carry summaries, so the timeline reads like the journey,
            await page.goto(f"{server.ui_url}/namespaces/default/workflows/{yellow[0]}")
            await page.get_by_text("Kickoff call due (day 5)").first.wait_for()
            # and its current details say what it waits for.
            await page.get_by_text("User Metadata").first.click()
            # The UI renders user metadata (markdown) inside sandboxed frames.
            details = page.frame_locator("iframe").last
            await details.get_by_text("waiting for Kickoff call").first.wait_for()
            await page.screenshot(path=artifacts / "temporal-ui-journey.png", full_page=True)
    finally:
        await context.close()
    # The README's copy is written when missing or asked for, so `make test` does not leave
    # a changed picture in the work tree on every run.
    if not README_IMAGE.exists() or os.environ.get("WAYPOST_UPDATE_SCREENSHOTS") == "1":
        README_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_IMAGE)
