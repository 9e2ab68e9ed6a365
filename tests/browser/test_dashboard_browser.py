"""The dashboard in a real browser: log in, read the portfolio, click through to the accounts
that turned yellow and to one journey's picture, and check each against the journeys' state.
Screenshots of every page land in tests/artifacts/browser/."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, Page
from temporalio.client import Client

from runtime.settings import Settings
from starter.api.app import create_app
from starter.api.serve import running
from tests.browser.seed import DAY_SECONDS, seed_portfolio
from tests.helpers import Journeys
from workflows.journey.workflow import journey_id
from workflows.models import Account

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "browser-test-token"
TIMEOUT_MS = 10_000


async def _texts(page: Page, selector: str, attribute: str) -> list[str]:
    values = await page.locator(selector).evaluate_all(
        f"(els) => els.map((e) => e.getAttribute({attribute!r}))"
    )
    return [str(v) for v in values]


async def test_dashboard_matches_the_journeys(
    browser: Browser,
    artifacts: Path,
    client: Client,
    pool: asyncpg.Pool,
    task_queue: str,
    worker: object,
    journeys: Journeys,
    make_account: Callable[..., Account],
) -> None:
    seeded = await seed_portfolio(journeys, make_account)
    settings = Settings(
        api_token=TOKEN,
        task_queue=task_queue,
        policy_file=ROOT / "policies" / "default.yaml",
        day_seconds=DAY_SECONDS,
    )
    app = create_app(settings, client, pool, run_relay=False)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    try:
        async with running(app) as url:
            # Nothing without the token: the portfolio sends us to the login form.
            await page.goto(f"{url}/")
            await page.wait_for_url("**/login?next=*")
            assert await page.inner_text("main h1") == "Log in"
            assert await page.is_visible("#token")
            # After logging in, the form sends us back to the page we asked for.
            assert await page.input_value('form.login input[name="next"]') == "/"
            for account_id in seeded.colours:
                assert account_id not in await page.content()
            await page.screenshot(path=artifacts / "login.png")
            await page.fill("#token", TOKEN)
            await page.click("button[type=submit]")
            await page.wait_for_selector("#grid")

            # Stage × health: every count the page shows is the journeys' own.
            want = Counter((s.stage, s.health_colour) for s in seeded.states.values())
            cells = page.locator("td.cell[data-stage] a[data-count]")
            shown: dict[tuple[str, str], int] = {}
            for i in range(await cells.count()):
                cell = cells.nth(i)
                td = cell.locator("xpath=..")
                key = (
                    str(await td.get_attribute("data-stage")),
                    str(await td.get_attribute("data-health")),
                )
                shown[key] = int(await cell.inner_text())
            assert shown == dict(want)
            assert await page.inner_text("#total") == str(len(seeded.states))
            plays = Counter(p.title for s in seeded.states.values() for p in s.open_plays.values())
            for title, n in plays.items():
                row = page.locator(f'#plays tr[data-play="{title}"] td.num')
                assert await row.inner_text() == str(n)
            await page.screenshot(path=artifacts / "portfolio.png", full_page=True)

            # Two clicks: the enterprise segment, then its yellow total.
            await page.click('nav.tabs a[data-segment="enterprise"]')
            await page.wait_for_url("**segment=enterprise*")
            await page.click('td.total[data-health="yellow"] a')
            await page.wait_for_url("**health=yellow*")
            await page.wait_for_selector("#quarter-note")
            listed = await _texts(page, "#accounts tr[data-account]", "data-account")
            assert sorted(listed) == seeded.ids("yellow_1", "yellow_2")
            assert await page.inner_text("#this-quarter") == "2"
            for account_id in listed:
                why = await page.inner_text(f'#accounts tr[data-account="{account_id}"] td.why')
                change = seeded.states[account_id].triggers[-1]
                assert change.kind == "health_changed"
                assert why == change.summary
            await page.screenshot(path=artifacts / "enterprise-yellow.png", full_page=True)

            # One account: the picture against its state.
            account_id = seeded.accounts["yellow_1"].account_id
            state = seeded.states[account_id]
            await page.click(f'#accounts tr[data-account="{account_id}"] a')
            await page.wait_for_selector("svg.journey-timeline")
            assert await page.inner_text("#health") == state.health_colour
            assert await page.inner_text("#stage") == state.stage
            keys = await _texts(page, "svg g.milestone", "data-key")
            assert keys == [m.key for m in state.milestones]
            statuses = await _texts(page, "svg g.milestone", "data-status")
            assert statuses == [m.status for m in state.milestones]
            colours = await _texts(page, "svg rect.health-span", "data-colour")
            assert colours == ["green", "yellow"]
            bars = await _texts(page, "svg g.play", "data-play-id")
            assert bars == list(state.open_plays)
            # Play starts and task deadlines (kept real) read as journey days in January 2026.
            whens = await page.locator("#plays td.when, #tasks td.when").all_inner_texts()
            assert any(re.fullmatch(r"day [\d.]+ \(2026-01-\d\d\)", w) for w in whens)
            assert all(re.fullmatch(r"day [\d.]+ \(2026-01-\d\d\)|—", w) for w in whens)
            link = await page.get_attribute("#temporal-ui", "href")
            assert link is not None and link.endswith(f"/workflows/{journey_id(account_id)}")
            await page.screenshot(path=artifacts / "journey.png", full_page=True)
    finally:
        await context.close()
