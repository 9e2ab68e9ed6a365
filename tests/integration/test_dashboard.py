"""The dashboard against the real Temporal dev server and Postgres: it shows nothing without
the token, and what it shows matches the journeys' own state."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from runtime.settings import Settings
from starter.api.app import create_app
from starter.api.dashboard.routes import COOKIE, session_value
from tests.browser.seed import DAY_SECONDS, START, Seeded
from tests.helpers import http_to

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "dashboard-test-token"
HTML = {"Accept": "text/html"}
AUTH = {"Authorization": f"Bearer {TOKEN}", **HTML}


def _app(task_queue: str, client: Client, pool: asyncpg.Pool, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "api_token": TOKEN,
        "task_queue": task_queue,
        "policy_file": ROOT / "policies" / "default.yaml",
        "day_seconds": DAY_SECONDS,
    }
    values.update(overrides)
    return create_app(Settings(**values), client, pool, run_relay=False)


@pytest.fixture
async def dash(
    client: Client, pool: asyncpg.Pool, task_queue: str, seeded: Seeded
) -> AsyncIterator[httpx.AsyncClient]:
    async with http_to(_app(task_queue, client, pool)) as http:
        yield http


def _grid(body: str) -> dict[tuple[str, str], int]:
    cells = re.findall(
        r'<td class="cell num" data-stage="([^"]+)" data-health="([^"]+)">'
        r'<a [^>]*data-count="(\d+)"',
        body,
    )
    return {(stage, health): int(n) for stage, health, n in cells}


def _accounts(body: str) -> list[str]:
    return re.findall(r'<tr data-account="([^"]+)"', body.split('id="accounts"', 1)[1])


async def test_shows_nothing_without_the_token(dash: httpx.AsyncClient, seeded: Seeded) -> None:
    some_id = seeded.accounts["yellow_1"].account_id
    for path in ("/", f"/journeys/{some_id}", f"/journeys/{some_id}/timeline.svg"):
        page = await dash.get(path, headers=HTML)
        assert page.status_code == 303, path
        assert page.headers["location"].startswith("/login?next=")
        bare = await dash.get(path)
        assert bare.status_code == 401
        assert bare.headers["www-authenticate"] == "Bearer"
        wrong = await dash.get(path, headers={"Authorization": "Bearer nope", **HTML})
        assert wrong.status_code == 303
        for response in (page, bare, wrong):
            assert some_id not in response.text

    form = await dash.get("/login?next=/journeys/x")
    assert form.status_code == 200
    assert 'name="token"' in form.text and 'value="/journeys/x"' in form.text

    refused = await dash.post("/login", data={"token": "guess", "next": "/"})
    assert refused.status_code == 401
    assert COOKIE not in refused.headers.get("set-cookie", "")

    # An offsite `next` is never followed (no open redirect).
    login = await dash.post("/login", data={"token": TOKEN, "next": "//evil.example/"})
    assert login.status_code == 303
    assert login.headers["location"] == "/"
    cookie = login.cookies[COOKIE]
    assert TOKEN not in cookie
    assert "httponly" in login.headers["set-cookie"].lower()
    assert "samesite=strict" in login.headers["set-cookie"].lower()

    # The client's jar now holds the session cookie, as a browser's would.
    with_cookie = await dash.get("/", headers=HTML)
    assert with_cookie.status_code == 200
    assert some_id in with_cookie.text

    forged = cookie.split(".")[0] + ".0000"
    expired = session_value(TOKEN, now=datetime.now(UTC).timestamp() - 13 * 3600)
    other = session_value("another-token")
    for bad in (forged, expired, other, "garbage"):
        dash.cookies.clear()
        dash.cookies.set(COOKIE, bad)
        response = await dash.get("/", headers=HTML)
        assert response.status_code == 303, bad

    dash.cookies.clear()
    dash.cookies.set(COOKIE, cookie)
    out = await dash.post("/logout")
    assert out.status_code == 303
    assert f'{COOKIE}=""' in out.headers["set-cookie"]
    dash.cookies.clear()


async def test_without_a_configured_token_the_dashboard_is_closed(
    client: Client, pool: asyncpg.Pool, task_queue: str
) -> None:
    async with http_to(_app(task_queue, client, pool, api_token=None)) as http:
        page = await http.get("/", headers=AUTH)
        assert page.status_code == 503
        assert "WAYPOST_API_TOKEN" in page.text
        login = await http.post("/login", data={"token": ""})
        assert login.status_code == 503


async def test_portfolio_counts_match_the_journeys(
    dash: httpx.AsyncClient, seeded: Seeded, pool: asyncpg.Pool
) -> None:
    # An overdue task for one of these accounts, as a play would have left it.
    red = seeded.accounts["red"]
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO tasks (idempotency_key, play_id, account_id, step, title,
                                  assignee_role, csm, due_at)
               VALUES ($1, $2, $3, 'call', 'Call the sponsor', 'csm', 'sam', $4)""",
            f"test-overdue-{red.account_id}",
            f"play-{red.account_id}-test-x",
            red.account_id,
            datetime.now(UTC) - timedelta(days=2),
        )

    page = await dash.get("/", headers=AUTH)
    assert page.status_code == 200, page.text
    body = page.text

    want = Counter((s.stage, s.health_colour) for s in seeded.states.values())
    assert _grid(body) == dict(want)
    assert f'<td class="num" id="total">{len(seeded.states)}</td>' in body
    assert sorted(_accounts(body)) == sorted(seeded.colours)

    plays = Counter(p.title for s in seeded.states.values() for p in s.open_plays.values())
    assert plays["Recover from yellow health"] == 2 and plays["Red health"] == 1
    for title, n in plays.items():
        assert re.search(
            rf'<tr data-play="{re.escape(title)}"><td>[^<]+</td><td class="num">{n}</td>', body
        )
    # Play tasks count only once overdue; the one inserted above is two days late.
    assert re.search(r'<tr data-csm="sam"><td>sam</td><td class="num">1</td>', body)

    renewals = body.split('id="renewals"', 1)[1].split("</section>", 1)[0]
    assert re.findall(r'data-account="([^"]+)"', renewals) == [
        seeded.accounts["unscored"].account_id
    ]
    # Names and other text are escaped, never markup.
    assert "<test>" not in body


async def test_two_clicks_answer_which_enterprise_accounts_turned_yellow(
    dash: httpx.AsyncClient, seeded: Seeded
) -> None:
    home = (await dash.get("/", headers=AUTH)).text
    enterprise = re.search(r'<a href="([^"]+)" class="[^"]*" data-segment="enterprise">', home)
    assert enterprise, "no enterprise tab"
    first = await dash.get(enterprise.group(1).replace("&amp;", "&"), headers=AUTH)
    assert sorted(_accounts(first.text)) == seeded.ids("yellow_1", "yellow_2", "green")

    total = re.search(
        r'<td class="cell num total" data-health="yellow"><a class="h-yellow" href="([^"]+)"',
        first.text,
    )
    assert total, "no yellow total to click"
    second = await dash.get(total.group(1).replace("&amp;", "&"), headers=AUTH)
    body = second.text
    assert sorted(_accounts(body)) == seeded.ids("yellow_1", "yellow_2")
    assert '<b id="this-quarter">2</b>' in body
    for role, note in (("yellow_1", "3 escalations in 30 days"), ("yellow_2", "renewal doubts")):
        account_id = seeded.accounts[role].account_id
        row = body.split(f'<tr data-account="{account_id}" data-this-quarter="yes">', 1)[1]
        row = row.split("</tr>", 1)[0]
        assert "Health green→yellow" in row and note in row

    later = await dash.get("/?segment=enterprise&health=yellow&since=2099-01-01", headers=AUTH)
    assert _accounts(later.text) == []


@pytest.mark.parametrize(
    "query",
    ["health=purple", "segment=x%27%20OR%201%3D1", "since=yesterday", "csm=%22dana%22"],
)
async def test_a_bad_filter_is_a_400_page(dash: httpx.AsyncClient, query: str) -> None:
    page = await dash.get(f"/?{query}", headers=AUTH)
    assert page.status_code == 400
    assert "Bad filter" in page.text


async def test_one_journey_as_a_picture(dash: httpx.AsyncClient, seeded: Seeded) -> None:
    account_id = seeded.accounts["yellow_1"].account_id
    state = seeded.states[account_id]
    page = await dash.get(f"/journeys/{account_id}", headers=AUTH)
    assert page.status_code == 200, page.text
    body = page.text
    assert '<span class="badge h-yellow" id="health">yellow</span>' in body
    assert "3 escalations in 30 days" in body
    assert "Find the measure that dropped and why" in body  # the play's open task
    assert "why-record" in body and "score_health" in body
    # Plays and tasks are kept in real time; the page gives them as journey days and dates,
    # like the rest of it (journeys here start on START, with 30-second days).
    real_today = datetime.now(UTC).date().isoformat()
    for section in ("plays", "tasks"):
        html = body.split(f'<section class="card" id="{section}">', 1)[1].split("</section>", 1)[0]
        shown = re.findall(r'<td class="when">day [\d.]+ \((\d{4}-\d\d-\d\d)\)</td>', html)
        assert shown, section
        assert all(START <= date.fromisoformat(d) < START + timedelta(days=365) for d in shown)
        assert real_today not in html

    svg_text = body.split("<svg", 1)[1].split("</svg>", 1)[0]
    svg = ET.fromstring(f"<svg{svg_text}</svg>")
    ns = "{http://www.w3.org/2000/svg}"
    milestones = [g for g in svg.iter(f"{ns}g") if g.get("class") == "milestone"]
    assert [g.get("data-key") for g in milestones] == [m.key for m in state.milestones]
    spans = [r.get("data-colour") for r in svg.iter(f"{ns}rect") if r.get("class") == "health-span"]
    assert spans == ["green", "yellow"]
    plays = [g.get("data-play-id") for g in svg.iter(f"{ns}g") if g.get("class") == "play"]
    assert plays == list(state.open_plays)

    picture = await dash.get(f"/journeys/{account_id}/timeline.svg", headers=AUTH)
    assert picture.headers["content-type"].startswith("image/svg+xml")
    ET.fromstring(picture.text)

    missing = await dash.get("/journeys/no-such-account", headers=AUTH)
    assert missing.status_code == 404
    assert "no journey for account" in missing.text


async def test_the_dashboard_stays_out_of_the_openapi_schema(dash: httpx.AsyncClient) -> None:
    paths = (await dash.get("/openapi.json")).json()["paths"]
    assert not {"/", "/login", "/logout"} & set(paths)
    assert not any(p.startswith("/journeys") for p in paths)
