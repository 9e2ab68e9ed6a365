"""The dashboard, served by the API at `/`: the portfolio at a glance and one journey as a
picture. Server-rendered (Jinja2 templates in starter/templates, SVG from starter/svg.py):
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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs, urlencode

import asyncpg
import structlog
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from temporalio.client import Client
from temporalio.service import RPCError

from activities.models import TaskRow, TimelineRow
from runtime.temporal import ui_link
from starter.api.dashboard.svg import COLOURS, journey_svg
from starter.journeys import JourneyError, journey_state
from starter.portfolio import (
    HEALTH_COLOURS,
    FilterError,
    Filters,
    changed_since,
    find_journeys,
    load_portfolio,
    quarter_start,
    visibility_query,
)
from store.plays import PlayRecord, fetch_plays
from store.tasks import list_tasks
from store.timeline import fetch_timeline
from workflows.journey.state import JourneyState
from workflows.journey.workflow import journey_id
from workflows.models import ID_PATTERN
from workflows.policy import Policy, PolicyError, load_policy

if TYPE_CHECKING:  # api.py includes this router: a runtime import would be circular
    from starter.api.app import ApiConfig

log = structlog.get_logger(__name__)

COOKIE = "waypost_session"
SESSION_SECONDS = 12 * 3600
TEMPLATES = Path(__file__).parent / "templates"
FILTER_NAMES = ("segment", "stage", "health", "csm", "since")
DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(frozen=True)
class DashboardConfig:
    api_token: str | None
    namespace: str = "default"
    task_queue: str | None = None
    ui_url: str | None = None
    policy_file: Path | None = None
    temporal_timeout: float = 5.0

    @classmethod
    def from_api(cls, cfg: ApiConfig, ui_url: str | None) -> DashboardConfig:
        """The API's settings: same token, namespace and task queue (the portfolio is the
        journeys on the API's task queue, so one deployment's, or one test's)."""
        return cls(
            api_token=cfg.api_token,
            namespace=cfg.namespace,
            task_queue=cfg.task_queue,
            ui_url=ui_url,
            policy_file=cfg.policy_file,
            temporal_timeout=cfg.temporal_timeout,
        )


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


def _authorised(cfg: DashboardConfig, request: Request) -> bool:
    token = cfg.api_token
    if not token:
        raise _Refused(
            503, "Not configured", "Set WAYPOST_API_TOKEN to use the dashboard (it is never open)."
        )
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), token.encode()
    ):
        return True
    return session_valid(token, request.cookies.get(COOKIE, ""))


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


# ---- the router ----------------------------------------------------------------------------------


def dashboard_router(
    cfg: DashboardConfig,
    client: Callable[[], Client | None],
    pool: Callable[[], asyncpg.Pool | None],
) -> APIRouter:
    """`/` (portfolio), `/journeys/{id}` (one account), its SVG, and the login form.

    `client` and `pool` are getters: the API's lifespan may connect them after this is built.
    """
    router = APIRouter(include_in_schema=False)  # pages, not API: kept out of OpenAPI

    def need_client() -> Client:
        c = client()
        if c is None:
            raise _Refused(503, "Temporal unavailable", "Temporal is not connected yet; retry.")
        return c

    async def guarded(request: Request, render: Callable[[], Any]) -> Response:
        try:
            if not _authorised(cfg, request):
                return _login_redirect(request)
            response: Response = await render()
            return response
        except _Refused as err:
            return _page("error.html", err.status, title=err.title, detail=err.detail)

    @router.get("/login")
    async def login_form(next: str | None = None) -> Response:
        return _page("login.html", next=_safe_next(next), failed=False)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0]
        target = _safe_next((form.get("next") or ["/"])[0])
        token = cfg.api_token
        if not token:
            return _page(
                "error.html", 503, title="Not configured", detail="Set WAYPOST_API_TOKEN first."
            )
        if not hmac.compare_digest(given.encode("utf-8", "replace"), token.encode()):
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

    @router.post("/logout")
    async def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @router.get("/")
    async def portfolio_page(request: Request) -> Response:
        async def render() -> Response:
            f = _filters(request, cfg)
            c = need_client()
            policy = _policy(cfg.policy_file)
            try:
                async with asyncio.timeout(cfg.temporal_timeout * 4):
                    seen, _ = await find_journeys(c, Filters(task_queue=cfg.task_queue), limit=1000)
                    folio = await load_portfolio(c, pool(), f, policy=policy)
            except (RPCError, TimeoutError) as err:
                raise _temporal_down(err) from None
            quarter = quarter_start(folio.as_of)
            return _page(
                "portfolio.html",
                folio=folio,
                f=f,
                segments=sorted({r.segment for r in seen if r.segment}),
                health_colours=HEALTH_COLOURS,
                quarter=quarter,
                recent={r.account_id for r in changed_since(folio.rows, quarter)},
                link=lambda **changes: _link(f, **changes),
                ui=_ui_list_link(cfg, f),
            )

        return await guarded(request, render)

    @router.get("/journeys/{account_id}")
    async def journey_page(
        request: Request, account_id: Annotated[str, PathParam(pattern=ID_PATTERN)]
    ) -> Response:
        async def render() -> Response:
            state, timeline, plays, tasks = await _journey(cfg, need_client(), pool, account_id)
            return _page(
                "journey.html",
                s=state,
                svg=Markup(journey_svg(state, timeline, plays)),  # svg.py escapes every text
                plays=plays,
                tasks=tasks,
                triggers=list(reversed(state.triggers[-12:])),
                ui=ui_link(cfg.ui_url, cfg.namespace, journey_id(account_id)),
            )

        return await guarded(request, render)

    @router.get("/journeys/{account_id}/timeline.svg")
    async def journey_picture(
        request: Request, account_id: Annotated[str, PathParam(pattern=ID_PATTERN)]
    ) -> Response:
        async def render() -> Response:
            state, timeline, plays, _ = await _journey(cfg, need_client(), pool, account_id)
            return Response(
                journey_svg(state, timeline, plays),
                media_type="image/svg+xml",
                headers={"Cache-Control": "no-store"},
            )

        return await guarded(request, render)

    return router


async def _journey(
    cfg: DashboardConfig,
    client: Client,
    pool: Callable[[], asyncpg.Pool | None],
    account_id: str,
) -> tuple[JourneyState, list[TimelineRow], list[PlayRecord], list[TaskRow]]:
    """State from Temporal; timeline, plays and open tasks from Postgres (empty if it is away:
    the picture then draws from the state alone)."""
    try:
        async with asyncio.timeout(cfg.temporal_timeout):
            state = await journey_state(client, account_id)
    except JourneyError as err:
        if err.kind == "unknown_account":
            raise _Refused(404, "Unknown account", str(err)) from None
        raise _Refused(503, "Journey unavailable", f"{err} (is a worker running?)") from None
    except (RPCError, TimeoutError) as err:
        raise _temporal_down(err) from None
    db = pool()
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


def _filters(request: Request, cfg: DashboardConfig) -> Filters:
    q = request.query_params
    values: dict[str, Any] = {k: q.get(k) or None for k in ("segment", "stage", "health", "csm")}
    since = q.get("since") or ""
    try:
        values["since"] = date.fromisoformat(since) if since else None
    except ValueError:
        message = f"since: '{since[:20]}' is not a date (YYYY-MM-DD)"
        raise _Refused(400, "Bad filter", message) from None
    f = Filters(**values, task_queue=cfg.task_queue)
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


def _ui_list_link(cfg: DashboardConfig, f: Filters) -> str | None:
    """The same journeys in the Temporal UI's workflow list (its query box takes our query)."""
    if not cfg.ui_url:
        return None
    query = visibility_query(f.model_copy(update={"task_queue": None}))
    return f"{cfg.ui_url}/namespaces/{cfg.namespace}/workflows?{urlencode({'query': query})}"


@cache
def _load(path: Path) -> Policy | None:
    try:
        return load_policy(path)
    except (PolicyError, OSError) as err:
        log.warning("policy unreadable; stages shown in found order", error=str(err))
        return None


def _policy(path: Path | None) -> Policy | None:
    return _load(path.resolve()) if path else None


__all__ = ["DashboardConfig", "dashboard_router", "session_valid", "session_value"]
