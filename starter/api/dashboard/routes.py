"""The dashboard, served by the API at `/`: the portfolio at a glance and one journey as a
picture. Server-rendered (Jinja2 templates in templates/ beside this module, SVG from svg.py):
no front-end build step, no JavaScript needed.

It needs the API's bearer token, sent as `Authorization: Bearer …` or typed once into the
login form, which sets a signed session cookie (the token itself is never stored in it).
Without either it shows nothing but the login form.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import date
from functools import cache, partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

import asyncpg
import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from temporalio.client import Client
from temporalio.service import RPCError

from activities.models import TaskRow, TimelineRow
from runtime.settings import Settings
from runtime.temporal import ui_link
from starter.api.dashboard.palette import COLOURS
from starter.api.dashboard.svg import journey_svg
from starter.api.deps import OptionsDep, RequireToken, ServicesDep, SettingsDep, token_matches
from starter.api.errors import ApiError
from starter.journeys import JourneyError, journey_state, journey_when
from starter.portfolio import (
    FilterError,
    Filters,
    changed_since,
    find_journeys,
    load_portfolio,
    quarter_start,
    visibility_query,
)
from store.errors import DB_ERRORS
from store.plays import PlayRecord, fetch_plays
from store.tasks import list_tasks
from store.timeline import fetch_timeline
from workflows.journey.state import JourneyState
from workflows.journey.workflow import journey_id
from workflows.models import HEALTH_LABELS, ID_PATTERN
from workflows.policy import Policy, PolicyError, load_policy

log = structlog.get_logger(__name__)

COOKIE = "waypost_session"
SESSION_SECONDS = 12 * 3600
TEMPLATES = Path(__file__).parent / "templates"
FILTER_NAMES = ("segment", "stage", "health", "csm", "since")
AccountId = Annotated[str, PathParam(pattern=ID_PATTERN)]
NO_TOKEN = "Set WAYPOST_API_TOKEN to use the dashboard (it is never open)."


@dataclass(frozen=True)
class _View:
    """What a page reads from the API's configuration and services (starter/api/deps.py)."""

    settings: Settings
    timeout: float
    client: Client | None
    pool: asyncpg.Pool | None

    def need_client(self) -> Client:
        if self.client is None:
            raise _Refused(503, "Temporal unavailable", "Temporal is not connected yet; retry.")
        return self.client


def _view(settings: SettingsDep, options: OptionsDep, services: ServicesDep) -> _View:
    # The portfolio is the journeys on the API's task queue: one deployment's, or one test's.
    return _View(settings, options.temporal_timeout, services.client, services.pool)


View = Annotated[_View, Depends(_view)]


class _Refused(Exception):
    """A page that cannot be shown; rendered as an error page with `status`."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


@cache
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a typo in a template fails its test, not silently blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["colours"] = COLOURS
    env.filters["num"] = lambda x: f"{x:g}" if isinstance(x, int | float) else x  # 5, not 5.0
    return env


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env().get_template(name).render(**context)
    # No caching of pages that need a token; no framing (clickjacking) and no sniffing.
    headers = {
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    return HTMLResponse(html, status_code=status, headers=headers)


# ---- sessions ------------------------------------------------------------------------------------


def _mac(token: str, expires: int) -> str:
    return hmac.new(
        token.encode(), f"waypost-dashboard-session:{expires}".encode(), hashlib.sha256
    ).hexdigest()


def session_value(token: str, now: float | None = None) -> str:
    """A cookie value that proves the token was typed, until it expires (or the token changes)."""
    expires = int((now or time.time()) + SESSION_SECONDS)
    return f"{expires}.{_mac(token, expires)}"


def session_valid(token: str, value: str, now: float | None = None) -> bool:
    expires, _, mac = value.partition(".")
    if not expires.isdigit() or int(expires) < (now or time.time()):
        return False
    return hmac.compare_digest(mac.encode(), _mac(token, int(expires)).encode())


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never another host (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
    return Response(
        "send 'Authorization: Bearer <WAYPOST_API_TOKEN>' or log in at /login\n",
        status_code=401,
        headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"},
        media_type="text/plain",
    )


# ---- the pages ----------------------------------------------------------------------------------


class _Page(APIRoute):
    """A page route: a refusal (from the token check or the page itself) is a page, or the
    login form, never the JSON API's error body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handle(request)
            except ApiError as err:  # from the token check
                if err.status == 401:
                    return _login_redirect(request)
                return _page("error.html", err.status, title="Not configured", detail=NO_TOKEN)
            except _Refused as err:
                return _page("error.html", err.status, title=err.title, detail=err.detail)

        return page


# The API's token check, also taking the session cookie the login form sets.
_signed_in = RequireToken(session=(COOKIE, session_valid))
# Pages, not API: kept out of OpenAPI.
login_router = APIRouter(include_in_schema=False, route_class=_Page)
router = APIRouter(include_in_schema=False, route_class=_Page, dependencies=[Depends(_signed_in)])


def add_dashboard(app: FastAPI) -> None:
    """`/` (portfolio), `/journeys/{id}` (one account), its SVG, and the login form."""
    app.include_router(login_router)
    app.include_router(router)


@login_router.get("/login")
async def login_form(next: str | None = None) -> Response:
    return _page("login.html", next=_safe_next(next), failed=False)


@login_router.post("/login")
async def login(request: Request, settings: SettingsDep) -> Response:
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    given = (form.get("token") or [""])[0]
    target = _safe_next((form.get("next") or ["/"])[0])
    token = settings.api_token
    if not token:
        return _page(
            "error.html", 503, title="Not configured", detail="Set WAYPOST_API_TOKEN first."
        )
    if not token_matches(token, given):
        log.info("dashboard login refused")
        return _page("login.html", 401, next=target, failed=True)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        session_value(token),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@login_router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/")
async def portfolio_page(request: Request, view: View) -> Response:
    f = _filters(request, view.settings.task_queue)
    client = view.need_client()
    policy = _policy(view.settings.policy_file)
    try:
        async with asyncio.timeout(view.timeout * 4):
            seen, _ = await find_journeys(
                client, Filters(task_queue=view.settings.task_queue), limit=1000
            )
            folio = await load_portfolio(client, view.pool, f, policy=policy)
    except (RPCError, TimeoutError) as err:
        raise _temporal_down(err) from None
    quarter = quarter_start(folio.as_of)
    return _page(
        "portfolio.html",
        folio=folio,
        f=f,
        segments=sorted({r.segment for r in seen if r.segment}),
        health_colours=HEALTH_LABELS,
        quarter=quarter,
        recent={r.account_id for r in changed_since(folio.rows, quarter)},
        link=lambda **changes: _link(f, **changes),
        ui=_ui_list_link(view.settings, f),
    )


@router.get("/journeys/{account_id}")
async def journey_page(account_id: AccountId, view: View) -> Response:
    state, timeline, plays, tasks = await _journey(view, account_id)
    return _page(
        "journey.html",
        s=state,
        svg=Markup(journey_svg(state, timeline, plays)),  # svg.py escapes every text
        plays=plays,
        tasks=tasks,
        # Plays and tasks are kept in real time; the page speaks the journey's days and dates.
        when=partial(journey_when, state.clock()),
        triggers=list(reversed(state.triggers[-12:])),
        ui=ui_link(view.settings.ui_url, view.settings.namespace, journey_id(account_id)),
    )


@router.get("/journeys/{account_id}/timeline.svg")
async def journey_picture(account_id: AccountId, view: View) -> Response:
    state, timeline, plays, _ = await _journey(view, account_id)
    return Response(
        journey_svg(state, timeline, plays),
        media_type="image/svg+xml",
        headers={"Cache-Control": "no-store"},
    )


async def _journey(
    view: _View, account_id: str
) -> tuple[JourneyState, list[TimelineRow], list[PlayRecord], list[TaskRow]]:
    """State from Temporal; timeline, plays and open tasks from Postgres (empty if it is away:
    the picture then draws from the state alone)."""
    try:
        async with asyncio.timeout(view.timeout):
            state = await journey_state(view.need_client(), account_id)
    except JourneyError as err:
        if err.kind == "unknown_account":
            raise _Refused(404, "Unknown account", str(err)) from None
        raise _Refused(503, "Journey unavailable", f"{err} (is a worker running?)") from None
    except (RPCError, TimeoutError) as err:
        raise _temporal_down(err) from None
    db = view.pool
    timeline: list[TimelineRow] = []
    plays: list[PlayRecord] = []
    tasks: list[TaskRow] = []
    if db is not None:
        try:
            timeline = await fetch_timeline(db, account_id)
            plays = await fetch_plays(db, account_id)
            tasks = await list_tasks(db, account_id=account_id, status="open")
        except DB_ERRORS as err:
            log.warning("postgres unavailable for the journey page", error=str(err))
    return state, timeline, plays, tasks


def _temporal_down(err: Exception) -> _Refused:
    log.warning("temporal call failed", error=f"{type(err).__name__}: {err}")
    return _Refused(503, "Temporal unavailable", "Temporal did not answer; retry shortly.")


def _filters(request: Request, task_queue: str) -> Filters:
    q = request.query_params
    values: dict[str, Any] = {k: q.get(k) or None for k in ("segment", "stage", "health", "csm")}
    since = q.get("since") or ""
    try:
        values["since"] = date.fromisoformat(since) if since else None
    except ValueError:
        message = f"since: '{since[:20]}' is not a date (YYYY-MM-DD)"
        raise _Refused(400, "Bad filter", message) from None
    f = Filters(**values, task_queue=task_queue)
    try:
        visibility_query(f)
    except FilterError as err:
        raise _Refused(400, "Bad filter", str(err)) from None
    return f


def _link(f: Filters, **changes: str | None) -> str:
    """The portfolio URL for `f` with some filters changed (None removes one)."""
    current = {k: getattr(f, k) for k in FILTER_NAMES}
    current.update(changes)
    query = {k: str(v) for k, v in current.items() if v is not None}
    return "/" + (f"?{urlencode(query)}" if query else "")


def _ui_list_link(settings: Settings, f: Filters) -> str:
    """The same journeys in the Temporal UI's workflow list (its query box takes our query)."""
    query = visibility_query(f.model_copy(update={"task_queue": None}))
    return (
        f"{settings.ui_url}/namespaces/{settings.namespace}/workflows?{urlencode({'query': query})}"
    )


@cache
def _load(path: Path) -> Policy | None:
    try:
        return load_policy(path)
    except (PolicyError, OSError) as err:
        log.warning("policy unreadable; stages shown in found order", error=str(err))
        return None


def _policy(path: Path) -> Policy | None:
    return _load(path.resolve())


__all__ = ["COOKIE", "add_dashboard", "session_valid", "session_value"]
