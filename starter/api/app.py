"""The HTTP API (DESIGN §7): start journeys from contracts, turn CRM webhooks into signals.

Webhooks are verified on the raw body, written to the inbox (starter/inbox.py), then delivered;
an accepted event is never lost, even when Temporal is away. Every 4xx has one shape:
`{"error": kind, "detail": what is wrong and how to fix it, "fields": [{"path", "message"}]}`.
`create_app` takes its client and pool (tests pass theirs) or builds them in its lifespan.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal, Protocol, Union

import asyncpg
import structlog
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from runtime.metrics import install_metrics
from runtime.settings import Settings
from runtime.temporal import converter_for
from starter.api.dashboard.routes import DashboardConfig, dashboard_router
from starter.ingress import inbox
from starter.ingress.hubspot import (
    Draft,
    HubSpotMapping,
    HubSpotPayload,
    interpret,
    link_updates,
)
from starter.ingress.signatures import (
    SignatureError,
    hubspot_signed_uri,
    verify_hubspot_v3,
    verify_waypost,
)
from starter.journeys import JourneyError, journey_state, start_journey
from store.timeline import fetch_timeline
from workflows.journey.messages import SIGNALS, JourneyInput
from workflows.journey.state import JourneyState
from workflows.journey.workflow import journey_id
from workflows.models import ID_PATTERN, Account
from workflows.policy import Policy, PolicyError, load_policy

log = structlog.get_logger(__name__)

MAX_BODY = 256 * 1024
POLICY_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}(\.ya?ml)?$"
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


# ---- configuration -------------------------------------------------------------------------------


class ApiConfig(BaseModel):
    """What the API reads, from Settings (plus overrides tests and `waypost api` pass)."""

    model_config = ConfigDict(frozen=True)

    api_token: str | None = None
    webhook_secret: str | None = None
    webhook_secret_previous: str | None = None
    hubspot_client_secret: str | None = None
    public_base_url: str | None = None
    task_queue: str
    namespace: str = "default"
    temporal_address: str
    database_url: str | None = None
    policy_file: FilePath
    day_seconds: float
    delivery_timeout: float = Field(default=2.0, gt=0, description="Per event, inline.")
    temporal_timeout: float = Field(default=5.0, gt=0, description="Start, state, timeline.")
    relay_interval: float = Field(default=1.0, gt=0)
    hubspot: HubSpotMapping = HubSpotMapping()

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ApiConfig:
        values: dict[str, Any] = {
            "api_token": settings.api_token,
            "webhook_secret": settings.webhook_secret,
            # Until Settings has these two fields, they come from overrides only.
            "webhook_secret_previous": getattr(settings, "webhook_secret_previous", None),
            "public_base_url": getattr(settings, "public_base_url", None),
            "hubspot_client_secret": settings.hubspot_client_secret,
            "task_queue": settings.task_queue,
            "namespace": settings.namespace,
            "temporal_address": settings.temporal_address or f"127.0.0.1:{settings.temporal_port}",
            "database_url": settings.database_url,
            "policy_file": settings.policy_file,
            "day_seconds": settings.day_seconds,
        }
        values.update(overrides)
        return cls.model_validate(values)


class TaskStore(Protocol):
    """The playbook tasks (issue 6) as the API needs them."""

    async def list_tasks(
        self, *, account_id: str | None, status: str | None, csm: str | None, overdue: bool
    ) -> list[dict[str, Any]]: ...

    async def mark_done(self, task_id: str, *, by: str | None) -> dict[str, Any]:
        """The task, now done; raise TaskNotFound for an unknown id."""
        ...


class TaskNotFound(LookupError):
    pass


# ---- errors --------------------------------------------------------------------------------------


class FieldError(BaseModel):
    path: str
    message: str


class ErrorBody(BaseModel):
    error: str
    detail: str
    fields: list[FieldError] = []


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        fields: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail
        self.fields, self.headers = list(fields), headers


def _error_response(err: ApiError) -> JSONResponse:
    body = ErrorBody(error=err.error, detail=err.detail, fields=err.fields)
    return JSONResponse(body.model_dump(), status_code=err.status, headers=err.headers)


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(body)"


def _field_errors(err: ValidationError) -> list[FieldError]:
    fields: list[FieldError] = []
    for item in err.errors(include_url=False):
        loc = list(item["loc"])
        # A tagged union puts the tag in the path ("usage_reported.event.x"); the reader
        # knows the kind they sent.
        loc = [
            p
            for i, p in enumerate(loc)
            if not (p in SIGNALS and (i == 0 or isinstance(loc[i - 1], int)))
        ]
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc.append("kind")
        fields.append(FieldError(path=_path(loc), message=item["msg"]))
    return fields


def _schema_error(err: ValidationError, what: str) -> ApiError:
    fields = _field_errors(err)
    summary = "; ".join(f"{f.path}: {f.message}" for f in fields[:5])
    return ApiError(422, "invalid_body", f"the {what} does not match its schema: {summary}", fields)


# ---- request bodies ------------------------------------------------------------------------------


class HubSpotLinks(BaseModel):
    """How the account appears in HubSpot, so HubSpot webhooks reach its journey."""

    model_config = ConfigDict(extra="forbid")

    company_id: str = Field(pattern=r"^[0-9]{1,20}$", description="The HubSpot company id.")
    contacts: dict[Annotated[str, Field(pattern=r"^[0-9]{1,20}$")], str] = Field(
        default_factory=dict,
        description="HubSpot contact id → the account's contact_id.",
        max_length=1000,
    )


class ContractRequest(BaseModel):
    """`POST /contracts`: a contract starts (or finds) the account's journey."""

    model_config = ConfigDict(extra="forbid")

    account: Account
    policy: str | None = Field(
        default=None,
        pattern=POLICY_NAME,
        description="A policy under policies/ by name (e.g. risk-management); default: settings.",
    )
    day_seconds: float | None = Field(
        default=None, ge=0.01, le=86400, allow_inf_nan=False, description="Seconds per day."
    )
    hubspot: HubSpotLinks | None = None


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(pattern=ID_PATTERN)


def _envelope_for(kind: str, model: type[BaseModel]) -> type[_Envelope]:
    return create_model(
        f"{model.__name__}Event",
        __base__=_Envelope,
        __doc__=f"A `{kind}` event for an account's journey.",
        kind=(Literal[kind], ...),  # type: ignore[arg-type]
        event=(model, ...),
    )


_ENVELOPES = tuple(_envelope_for(kind, model) for kind, model in SIGNALS.items())
# Built from SIGNALS, so a new signal is accepted here without a change.
_EVENT: Any = Annotated[Union[_ENVELOPES], Field(discriminator="kind")]  # noqa: UP007
_ONE_EVENT: TypeAdapter[Any] = TypeAdapter(_EVENT)
_EVENT_BATCH: TypeAdapter[list[Any]] = TypeAdapter(
    Annotated[list[_EVENT], Field(min_length=1, max_length=1000)]
)


class TaskDone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(default=None, min_length=1, max_length=200)


# ---- responses -----------------------------------------------------------------------------------

EventStatus = Literal[
    "delivered", "pending", "parked", "duplicate", "journey_closed", "ignored", "failed"
]


class EventResult(BaseModel):
    event_id: str
    status: EventStatus
    account_id: str | None = None
    kind: str | None = None
    detail: str | None = None


class WebhookResult(BaseModel):
    received: int
    results: list[EventResult]


class ContractResult(BaseModel):
    account_id: str
    workflow_id: str
    run_id: str
    created: bool
    parked_delivered: int = Field(description="Events that waited for this journey, now sent.")


_DETAIL: dict[str, str] = {
    "pending": "accepted, pending delivery: it is in the inbox and will be delivered as soon "
    "as Temporal answers",
    "duplicate": "already received; nothing changed",
}


# ---- body limit ----------------------------------------------------------------------------------


class BodyLimit:
    """413 for a body over `limit` bytes, before any route (or signature check) sees it.

    Checks Content-Length, then counts what is streamed (chunked uploads have no length), and
    hands the route the buffered body.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await self._refuse(send, 400, "bad_request", "Content-Length is not a number")
                return
            if int(length) > self.limit:
                await self._too_large(send)
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break  # disconnected: the app sees an empty body and the client is gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await self._refuse(
            send,
            413,
            "body_too_large",
            f"the body is over {self.limit // 1024} KiB; send fewer events per request",
        )

    async def _refuse(self, send: Send, status: int, error: str, detail: str) -> None:
        body = ErrorBody(error=error, detail=detail).model_dump_json().encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# ---- parsing -------------------------------------------------------------------------------------


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:30]} is out of range")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> Any:
    """The body as JSON, or ApiError 400 saying where it breaks."""
    if not body.strip():
        raise ApiError(400, "malformed_json", "the body is empty; send a JSON document")
    try:
        data = json.loads(body, parse_float=_finite, parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        raise ApiError(
            400,
            "malformed_json",
            f"the body is not JSON: {err.msg} at line {err.lineno} column {err.colno}",
        ) from None
    except (ValueError, RecursionError) as err:
        raise ApiError(400, "malformed_json", f"the body is not usable JSON: {err}") from None
    bad = _bad_text(data, [])
    if bad is not None:
        path, problem = bad
        raise ApiError(
            422,
            "invalid_body",
            f"{_path(path)}: {problem}",
            [FieldError(path=_path(path), message=problem)],
        )
    return data


def _bad_text(data: Any, path: list[int | str]) -> tuple[list[int | str], str] | None:
    """The first string Postgres cannot store (NUL, lone surrogates), with its path."""
    if isinstance(data, str):
        if "\x00" in data:
            return path, "text must not contain NUL (\\u0000)"
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            return path, "text is not valid Unicode (lone surrogate)"
        return None
    if isinstance(data, list):
        for i, item in enumerate(data):
            found = _bad_text(item, [*path, i])
            if found:
                return found
    if isinstance(data, dict):
        for key, item in data.items():
            found = _bad_text(key, [*path, key]) or _bad_text(item, [*path, key])
            if found:
                return found
    return None


def _check_time(at: datetime, path: str) -> None:
    if not EARLIEST <= at <= LATEST:
        message = "must be between 1970 and 2200"
        raise ApiError(
            422, "invalid_body", f"{path}: {message}", [FieldError(path=path, message=message)]
        )


def generic_events(data: Any) -> list[inbox.Incoming]:
    """`POST /webhooks/events` bodies: one event envelope, or an array of them."""
    batch = isinstance(data, list)
    try:
        envelopes = (
            _EVENT_BATCH.validate_python(data) if batch else [_ONE_EVENT.validate_python(data)]
        )
    except ValidationError as err:
        raise _schema_error(err, "event" + ("s" if batch else "")) from None
    items: list[inbox.Incoming] = []
    for i, env in enumerate(envelopes):
        event = env.event
        _check_time(event.occurred_at, f"[{i}].event.occurred_at" if batch else "event.occurred_at")
        items.append(
            inbox.Incoming(
                source=inbox.SOURCE_EVENTS,
                event_id=event.event_id,
                occurred_at=event.occurred_at,
                raw=data[i] if batch else data,
                account_id=env.account_id,
                kind=env.kind,
                payload=event.model_dump(mode="json"),
            )
        )
    return items


def hubspot_events(data: Any, mapping: HubSpotMapping) -> tuple[list[inbox.Incoming], list[Any]]:
    """`POST /webhooks/hubspot` bodies: HubSpot's array of events, interpreted."""
    try:
        payload = HubSpotPayload.model_validate(data)
    except ValidationError as err:
        raise _schema_error(err, "HubSpot payload") from None
    items: list[inbox.Incoming] = []
    links: list[Any] = []
    for event in payload.root:
        meaning = interpret(event, mapping)
        links.extend(link_updates(event, mapping))
        raw = event.model_dump(mode="json", by_alias=True)
        if isinstance(meaning, Draft):
            item = inbox.Incoming(
                source=inbox.SOURCE_HUBSPOT,
                event_id=event.inbox_id,
                occurred_at=event.occurred,
                raw=raw,
                ref=meaning.ref,
                kind=meaning.kind,
                payload=meaning.fields,
            )
        else:
            item = inbox.Incoming(
                source=inbox.SOURCE_HUBSPOT,
                event_id=event.inbox_id,
                occurred_at=event.occurred,
                raw=raw,
                ignored=meaning.reason,
            )
        items.append(item)
    return items, links


# ---- the app -------------------------------------------------------------------------------------


@dataclass
class _Deps:
    config: ApiConfig
    client: Client | None
    pool: asyncpg.Pool | None
    tasks: TaskStore | None

    def need_client(self) -> Client:
        if self.client is None:
            raise ApiError(503, "unavailable", "Temporal is not connected yet; retry shortly")
        return self.client

    def need_pool(self) -> asyncpg.Pool:
        if self.pool is None:
            raise ApiError(503, "unavailable", "Postgres is not configured (DATABASE_URL)")
        return self.pool


_bearer = HTTPBearer(auto_error=False, description="WAYPOST_API_TOKEN")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
AccountId = Annotated[str, Path(pattern=ID_PATTERN, description="The account's id.")]


def _json_body(name: str, *, required: bool = True) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{name}"}
    return {
        "requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}
    }


def _body_schemas() -> dict[str, Any]:
    """Request bodies the routes read themselves (after checking signatures), for OpenAPI."""
    ref = "#/components/schemas/{model}"
    adapters: dict[str, TypeAdapter[Any]] = {
        "ContractRequest": TypeAdapter(ContractRequest),
        "HubSpotPayload": TypeAdapter(HubSpotPayload),
        "GenericEvent": _ONE_EVENT,
        "TaskDone": TypeAdapter(TaskDone),
    }
    out: dict[str, Any] = {}
    for name, adapter in adapters.items():
        schema = adapter.json_schema(ref_template=ref, by_alias=True)
        out.update(schema.pop("$defs", {}))
        out[name] = schema
    out["GenericEvents"] = {
        "anyOf": [
            {"$ref": ref.format(model="GenericEvent")},
            {
                "type": "array",
                "items": {"$ref": ref.format(model="GenericEvent")},
                "minItems": 1,
                "maxItems": 1000,
            },
        ]
    }
    return out


def create_app(
    settings: Settings,
    client: Client | None = None,
    pool: asyncpg.Pool | None = None,
    *,
    task_queue: str | None = None,
    tasks: TaskStore | None = None,
    run_relay: bool = True,
    config: ApiConfig | None = None,
) -> FastAPI:
    """The API. Without `client`/`pool` its lifespan connects them from the settings; with
    `run_relay` the lifespan also runs the inbox relay until shutdown."""
    overrides = {"task_queue": task_queue} if task_queue else {}
    cfg = config or ApiConfig.from_settings(settings, **overrides)
    deps = _Deps(cfg, client, pool, tasks)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        own_pool = deps.pool is None and cfg.database_url is not None
        if own_pool:
            # min_size 0: the API starts (and says 503 where it must) while Postgres is away.
            deps.pool = await asyncpg.create_pool(cfg.database_url, min_size=0, max_size=10)
        if deps.client is None:
            deps.client = await Client.connect(
                cfg.temporal_address,
                namespace=cfg.namespace,
                data_converter=converter_for(settings),
                lazy=True,
            )
        stop = asyncio.Event()
        relay: asyncio.Task[None] | None = None
        if run_relay and deps.pool is not None:
            relay = asyncio.create_task(
                inbox.run_relay(
                    deps.pool,
                    deps.client,
                    stop=stop,
                    interval=cfg.relay_interval,
                    send_timeout=cfg.delivery_timeout,
                    mapping=cfg.hubspot,
                )
            )
        try:
            yield
        finally:
            stop.set()
            if relay is not None:
                await relay
            if own_pool and deps.pool is not None:
                await deps.pool.close()
                deps.pool = None

    app = FastAPI(
        title="Waypost",
        version="0.1.0",
        description="Customer journeys as durable Temporal workflows: contracts start "
        "journeys, CRM webhooks become signals.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    _install_error_handlers(app)
    _add_routes(app, deps)
    install_metrics(app, pool=lambda: deps.pool, token=cfg.api_token)
    # The dashboard (GET /, /journeys/…): getters, since the lifespan may connect them later.
    dash = DashboardConfig.from_api(cfg, ui_url=settings.ui_url)
    app.include_router(dashboard_router(dash, lambda: deps.client, lambda: deps.pool))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(_body_schemas())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _install_error_handlers(app: FastAPI) -> None:
    async def api_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return _error_response(exc)

    async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = [
            FieldError(
                path=_path([p for p in list(e["loc"])[1:] if isinstance(p, int | str)]),
                message=str(e["msg"]),
            )
            for e in exc.errors()
        ]
        summary = "; ".join(f"{f.path}: {f.message}" for f in fields[:5])
        return _error_response(ApiError(422, "invalid_request", summary, fields))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            err = ApiError(404, "not_found", f"no route {request.url.path}; see /docs")
        elif exc.status_code == 405:
            err = ApiError(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {request.url.path}; see /docs",
                headers=dict(exc.headers or {}),
            )
        else:
            err = ApiError(exc.status_code, "http_error", str(exc.detail))
        return _error_response(err)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _authorize(deps: _Deps, credentials: HTTPAuthorizationCredentials | None) -> None:
    token = deps.config.api_token
    if not token:
        raise ApiError(
            503, "not_configured", "set WAYPOST_API_TOKEN to use this route (it is never open)"
        )
    given = credentials.credentials if credentials else ""
    if not hmac.compare_digest(given.encode("utf-8", "replace"), token.encode()):
        raise ApiError(
            401,
            "unauthorized",
            "send 'Authorization: Bearer <WAYPOST_API_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def _bounded(seconds: float, call: Awaitable[Any], what: str) -> Any:
    """A Temporal call that gives up after `seconds`: 503 instead of a hung request."""
    try:
        async with asyncio.timeout(seconds):
            return await call
    except JourneyError:
        raise
    except Exception as err:
        log.warning("temporal call failed", what=what, error=f"{type(err).__name__}: {err}")
        raise ApiError(
            503, "temporal_unavailable", f"Temporal did not answer ({what}); retry shortly"
        ) from None


def _journey_error(err: JourneyError) -> ApiError:
    if err.kind == "unknown_account":
        return ApiError(404, "unknown_account", str(err))
    if err.kind == "journey_closed":
        return ApiError(409, "journey_closed", str(err))
    return ApiError(503, err.kind, f"{err} (is a worker running?)")


def _add_routes(app: FastAPI, deps: _Deps) -> None:
    cfg = deps.config
    webhook_responses: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody} for code in (400, 401, 413, 422, 503)
    }
    auth_responses: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody} for code in (401, 404, 503)
    }

    @app.post(
        "/contracts",
        status_code=201,
        response_model=ContractResult,
        responses={
            200: {"model": ContractResult},
            409: {"model": ErrorBody},
            422: {"model": ErrorBody},
            **auth_responses,
        },
        openapi_extra=_json_body("ContractRequest"),
        summary="Start the account's journey from its contract",
    )
    async def post_contract(request: Request, credentials: Credentials) -> JSONResponse:
        _authorize(deps, credentials)
        data = parse_json(await request.body())
        try:
            contract = ContractRequest.model_validate(data)
        except ValidationError as err:
            raise _schema_error(err, "contract") from None
        account = contract.account
        for name in ("contract_start", "contract_end"):
            _check_time(
                datetime.combine(getattr(account, name), datetime.min.time(), UTC),
                f"account.{name}",
            )
        with structlog.contextvars.bound_contextvars(account_id=account.account_id):
            policy = _policy(cfg, contract.policy)
            client, pool = deps.need_client(), deps.need_pool()
            started = await _bounded(
                cfg.temporal_timeout,
                start_journey(
                    client,
                    account,
                    policy,
                    task_queue=cfg.task_queue,
                    day_seconds=contract.day_seconds or cfg.day_seconds,
                ),
                "start journey",
            )
            if not started.created:
                await _check_same_contract(client, account, cfg.temporal_timeout)
            if contract.hubspot is not None:
                await inbox.link_hubspot(
                    pool, account, contract.hubspot.company_id, contract.hubspot.contacts
                )
            delivered = 0
            try:
                outcomes = await inbox.deliver(
                    pool,
                    client,
                    account_ids=[account.account_id],
                    unresolved=contract.hubspot is not None,
                    ignore_backoff=True,
                    send_timeout=cfg.delivery_timeout,
                    mapping=cfg.hubspot,
                )
                delivered = sum(o.status == "delivered" for o in outcomes)
            except inbox.DB_ERRORS as err:
                log.warning("parked events not delivered now; the relay will", error=str(err))
            log.info("contract received", created=started.created, parked_delivered=delivered)
        result = ContractResult(
            account_id=account.account_id,
            workflow_id=started.workflow_id,
            run_id=started.run_id,
            created=started.created,
            parked_delivered=delivered,
        )
        return JSONResponse(result.model_dump(), status_code=201 if started.created else 200)

    @app.post(
        "/webhooks/hubspot",
        response_model=WebhookResult,
        responses={202: {"model": WebhookResult}, **webhook_responses},
        openapi_extra=_json_body("HubSpotPayload"),
        summary="HubSpot webhook events (signature v3)",
    )
    async def hubspot_webhook(request: Request) -> JSONResponse:
        secret = cfg.hubspot_client_secret
        if not secret:
            raise ApiError(503, "not_configured", "set HUBSPOT_CLIENT_SECRET to receive HubSpot")
        body = await request.body()
        try:
            verify_hubspot_v3(
                secret=secret,
                method=request.method,
                uri=hubspot_signed_uri(str(request.url), cfg.public_base_url),
                body=body,
                timestamp=request.headers.get("x-hubspot-request-timestamp"),
                signature=request.headers.get("x-hubspot-signature-v3"),
                now=time.time(),
            )
        except SignatureError as err:
            raise _unsigned(err) from None
        return await _ingest(
            deps, inbox.SOURCE_HUBSPOT, body, lambda data: hubspot_events(data, cfg.hubspot)
        )

    @app.post(
        "/webhooks/events",
        response_model=WebhookResult,
        responses={202: {"model": WebhookResult}, **webhook_responses},
        openapi_extra=_json_body("GenericEvents"),
        summary="Generic signed events from any CRM or product",
    )
    async def events_webhook(request: Request) -> JSONResponse:
        if not cfg.webhook_secret:
            raise ApiError(503, "not_configured", "set WAYPOST_WEBHOOK_SECRET to receive events")
        secrets = [s for s in (cfg.webhook_secret, cfg.webhook_secret_previous) if s]
        body = await request.body()
        try:
            verify_waypost(
                secrets=secrets,
                body=body,
                timestamp=request.headers.get("x-waypost-timestamp"),
                signature=request.headers.get("x-waypost-signature"),
                now=time.time(),
            )
        except SignatureError as err:
            raise _unsigned(err) from None
        return await _ingest(deps, inbox.SOURCE_EVENTS, body, lambda d: (generic_events(d), []))

    @app.get(
        "/accounts/{account_id}",
        responses={200: {"model": JourneyState}, **auth_responses},
        summary="Where the account's journey stands",
    )
    async def get_account(account_id: AccountId, credentials: Credentials) -> JSONResponse:
        _authorize(deps, credentials)
        try:
            state: JourneyState = await _bounded(
                cfg.temporal_timeout, journey_state(deps.need_client(), account_id), "state"
            )
        except JourneyError as err:
            raise _journey_error(err) from None
        return JSONResponse(state.model_dump(mode="json"))

    @app.get(
        "/accounts/{account_id}/timeline",
        responses=auth_responses,
        summary="The account's timeline, oldest first",
    )
    async def get_timeline(account_id: AccountId, credentials: Credentials) -> JSONResponse:
        _authorize(deps, credentials)
        rows = await _db(fetch_timeline(deps.need_pool(), account_id))
        if not rows:
            try:
                await _bounded(
                    cfg.temporal_timeout, journey_state(deps.need_client(), account_id), "state"
                )
            except JourneyError as err:
                if err.kind == "unknown_account":
                    raise _journey_error(err) from None
            except ApiError:
                pass  # Temporal is away; an empty timeline is still the truth Postgres has
        events = [row.model_dump(mode="json") for row in rows]
        return JSONResponse({"account_id": account_id, "events": events})

    @app.get("/tasks", responses=auth_responses, summary="Playbook tasks")
    async def get_tasks(
        credentials: Credentials,
        account_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
        status: Annotated[str | None, Query(pattern=r"^[a-z_]{1,30}$")] = None,
        csm: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
        overdue: bool = False,
    ) -> JSONResponse:
        _authorize(deps, credentials)
        if deps.tasks is None:
            return JSONResponse(
                {"tasks": [], "note": "no task store is configured yet (playbook tasks)"}
            )
        found = await _db(
            deps.tasks.list_tasks(account_id=account_id, status=status, csm=csm, overdue=overdue)
        )
        return JSONResponse({"tasks": found})

    @app.post(
        "/tasks/{task_id}/done",
        responses=auth_responses,
        openapi_extra=_json_body("TaskDone", required=False),
        summary="Mark a playbook task done",
    )
    async def post_task_done(
        task_id: Annotated[str, Path(min_length=1, max_length=200)],
        request: Request,
        credentials: Credentials,
    ) -> JSONResponse:
        _authorize(deps, credentials)
        body = await request.body()
        by: str | None = None
        if body.strip():
            try:
                by = TaskDone.model_validate(parse_json(body)).by
            except ValidationError as err:
                raise _schema_error(err, "body") from None
        if deps.tasks is None:
            raise ApiError(
                404, "unknown_task", f"no task '{task_id}': no task store is configured yet"
            )
        try:
            task = await _db(deps.tasks.mark_done(task_id, by=by))
        except TaskNotFound:
            raise ApiError(
                404, "unknown_task", f"no task '{task_id}' (list them: GET /tasks)"
            ) from None
        return JSONResponse(task)

    @app.get("/healthz", responses=auth_responses, summary="Postgres, Temporal and the inbox")
    async def healthz(credentials: Credentials) -> JSONResponse:
        _authorize(deps, credentials)
        body: dict[str, Any] = {"postgres": "ok", "temporal": "ok"}
        try:
            body["inbox"] = await _inbox_summary(deps.need_pool())
        except (ApiError, *inbox.DB_ERRORS) as err:
            body["postgres"] = f"unreachable: {err}"
        try:
            async with asyncio.timeout(2):
                healthy = await deps.need_client().service_client.check_health(
                    timeout=timedelta(seconds=2)
                )
            body["temporal"] = "ok" if healthy else "not serving"
        except Exception as err:
            body["temporal"] = f"unreachable: {type(err).__name__}"
        up = body["postgres"] == "ok"
        body["status"] = ("ok" if body["temporal"] == "ok" else "degraded") if up else "down"
        return JSONResponse(body, status_code=200 if up else 503)


def _unsigned(err: SignatureError) -> ApiError:
    return ApiError(401, err.kind, str(err))


async def _db(call: Awaitable[Any]) -> Any:
    try:
        return await call
    except inbox.DB_ERRORS as err:
        log.warning("postgres call failed", error=str(err))
        raise ApiError(503, "unavailable", "Postgres did not answer; retry shortly") from None


async def _inbox_summary(pool: asyncpg.Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT status, count(*) AS n,
                      EXTRACT(EPOCH FROM now() - min(received_at)) AS oldest
                 FROM inbox_events WHERE status IN ('pending', 'parked') GROUP BY status"""
        )
    summary: dict[str, Any] = {"pending": 0, "parked": 0, "oldest_pending_seconds": None}
    for r in rows:
        summary[r["status"]] = r["n"]
        if r["status"] == "pending":
            summary["oldest_pending_seconds"] = float(r["oldest"])
    return summary


async def _ingest(
    deps: _Deps,
    source: str,
    body: bytes,
    parse: Callable[[Any], tuple[list[inbox.Incoming], list[Any]]],
) -> JSONResponse:
    """Parse, record (all or nothing), then try to deliver what is new at once."""
    pool = deps.need_pool()
    try:
        items, links = parse(parse_json(body))
    except ApiError as err:
        try:
            fields = [f.model_dump() for f in err.fields]
            await inbox.record_reject(pool, source, err.error, err.detail, fields, body)
        except inbox.DB_ERRORS as db_err:
            log.warning("rejected body not kept", error=str(db_err))
        raise
    try:
        recorded = await inbox.record(pool, items, links)
    except inbox.DB_ERRORS as err:
        log.error("inbox write failed; nothing accepted", source=source, error=str(err))
        raise ApiError(
            503, "unavailable", "could not record the events; nothing was accepted: retry"
        ) from None
    new = [r.id for r in recorded if not r.duplicate and r.status == "pending"]
    outcomes: dict[int, inbox.Outcome] = {}
    if new and deps.client is not None:
        try:
            delivered = await inbox.deliver(
                pool,
                deps.client,
                ids=new,
                limit=len(new),
                ignore_backoff=True,
                send_timeout=deps.config.delivery_timeout,
                mapping=deps.config.hubspot,
            )
            outcomes = {o.id: o for o in delivered}
        except inbox.DB_ERRORS as err:
            log.warning("inline delivery failed; the relay will deliver", error=str(err))
    results = [_result(r, outcomes.get(r.id)) for r in recorded]
    waiting = any(r.status in ("pending", "parked") for r in results)
    log.info(
        "webhook received",
        source=source,
        events=len(results),
        statuses=sorted({r.status for r in results}),
    )
    out = WebhookResult(received=len(results), results=results)
    return JSONResponse(out.model_dump(), status_code=202 if waiting else 200)


def _result(rec: inbox.Recorded, outcome: inbox.Outcome | None) -> EventResult:
    common = {"event_id": rec.event_id, "kind": rec.kind, "account_id": rec.account_id}
    if rec.duplicate:
        detail = f"{_DETAIL['duplicate']} (it is {rec.status})"
        return EventResult(**common, status="duplicate", detail=detail)
    if rec.status == "ignored":
        return EventResult(**common, status="ignored", detail=rec.note)
    if outcome is None or outcome.status == "pending":
        return EventResult(**common, status="pending", detail=_DETAIL["pending"])
    common["account_id"] = outcome.account_id
    if outcome.status == "delivered":
        return EventResult(**common, status="delivered")
    if outcome.status == "parked":
        detail = f"parked until the journey starts: {outcome.detail}"
        return EventResult(**common, status="parked", detail=detail)
    if outcome.status == "rejected_closed":
        detail = f"{outcome.detail}; the event is recorded and will not be delivered"
        return EventResult(**common, status="journey_closed", detail=detail)
    return EventResult(**common, status="failed", detail=outcome.detail)


# ---- contracts -----------------------------------------------------------------------------------


def _policy(cfg: ApiConfig, name: str | None) -> Policy:
    if name is None:
        return _load_policy(cfg.policy_file.resolve())
    directory = cfg.policy_file.parent.resolve()
    file = directory / (name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    if not file.is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.yaml")))
        message = f"no policy {name!r} (known: {known})"
        raise ApiError(422, "unknown_policy", message, [FieldError(path="policy", message=message)])
    try:
        return _load_policy(file)
    except PolicyError as err:
        message = f"policy {name!r} is invalid: {'; '.join(err.errors[:5])}"
        raise ApiError(
            422, "invalid_policy", message, [FieldError(path="policy", message=message)]
        ) from None


@cache
def _load_policy(file: FilePath) -> Policy:
    return load_policy(file)


_COMPARED = ("segment", "tier", "contract_start", "contract_end")


async def _check_same_contract(client: Client, account: Account, seconds: float) -> None:
    """409 unless the running journey was started with this contract (same segment, tier and
    dates). Compared with the account the journey pinned at start, read from its history (no
    worker needed); its live state when that cannot be read."""
    try:
        running = await _bounded(seconds, _running_contract(client, account.account_id), "contract")
    except JourneyError as err:
        raise _journey_error(err) from None
    diffs = [
        FieldError(
            path=f"account.{name}",
            message=f"the running journey has {running[name]}, not {getattr(account, name)}",
        )
        for name in _COMPARED
        if running.get(name) is not None and running[name] != getattr(account, name)
    ]
    if diffs:
        summary = "; ".join(f"{d.path.removeprefix('account.')}: {d.message}" for d in diffs)
        raise ApiError(
            409,
            "conflict",
            f"a journey for '{account.account_id}' is already running with another contract "
            f"({summary}); renew or end it instead of posting a new one",
            diffs,
        )


async def _running_contract(client: Client, account_id: str) -> dict[str, Any]:
    handle = client.get_workflow_handle(journey_id(account_id))
    try:
        async for event in handle.fetch_history_events(page_size=1):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [pinned] = await client.data_converter.decode(payloads, [JourneyInput])
            assert isinstance(pinned, JourneyInput)
            return {name: getattr(pinned.account, name) for name in _COMPARED}
    except (ValueError, TypeError, ValidationError, AssertionError) as err:
        log.info("journey input unreadable; comparing with its state", error=str(err))
    state = await journey_state(client, account_id)
    return {name: getattr(state, name, None) for name in _COMPARED}


# ---- serving -------------------------------------------------------------------------------------


async def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    tasks: Callable[[asyncpg.Pool, Client], TaskStore] | None = None,
) -> None:
    """`waypost api`: the API and its inbox relay under uvicorn, until SIGINT/SIGTERM.

    `tasks` builds the playbook task store from the pool (GET /tasks, POST /tasks/{id}/done).
    """
    import uvicorn

    from devtools.infra import ensure_infra
    from store import db

    infra = ensure_infra(settings, start=False)
    if infra.embedded_database:
        await db.ensure_database(infra.database_url)
    await db.migrate(infra.database_url)
    config = ApiConfig.from_settings(
        settings, temporal_address=infra.temporal_address, database_url=infra.database_url
    )
    client = await Client.connect(
        config.temporal_address,
        namespace=config.namespace,
        data_converter=converter_for(settings),
        lazy=True,  # the API starts, and records webhooks, while Temporal is away
    )
    # min_size 0: the API starts (and answers 503 where it must) while Postgres is away.
    async with asyncpg.create_pool(infra.database_url, min_size=0, max_size=10) as pool:
        app = create_app(
            settings, client, pool, config=config, tasks=tasks(pool, client) if tasks else None
        )
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_config=None, proxy_headers=True)
        )
        log.info("api listening", url=f"http://{host}:{port}", docs=f"http://{host}:{port}/docs")
        await server.serve()


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


@asynccontextmanager
async def running(app: FastAPI, *, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve `app` with uvicorn inside this event loop on a free port (the demo, tests);
    yields its base URL and stops it on exit."""
    import uvicorn

    from devtools.infra import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_config=None, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                await serving  # it failed to start: raise why
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await serving


class ApiClient:
    """A small client of this API, signing events as a CRM would (used by `waypost demo`)."""

    def __init__(self, base_url: str, *, token: str, webhook_secret: str) -> None:
        import httpx

        self._http = httpx.AsyncClient(base_url=base_url, timeout=10.0)
        self._token, self._secret = token, webhook_secret

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._http.aclose()

    async def post_contract(self, account: Account, **extra: Any) -> dict[str, Any]:
        body = {"account": account.model_dump(mode="json"), **extra}
        r = await self._http.post(
            "/contracts", json=body, headers={"Authorization": f"Bearer {self._token}"}
        )
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    async def send_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST /webhooks/events: each item `{"account_id", "kind", "event": {...}}`."""
        from starter.ingress.signatures import waypost_signature

        body = json.dumps(events, default=_iso).encode()
        ts = str(int(time.time()))
        r = await self._http.post(
            "/webhooks/events",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Waypost-Timestamp": ts,
                "X-Waypost-Signature": f"sha256={waypost_signature(self._secret, ts, body)}",
            },
        )
        r.raise_for_status()
        results: list[dict[str, Any]] = r.json()["results"]
        return results


__all__ = [
    "ApiClient",
    "ApiConfig",
    "ContractRequest",
    "TaskNotFound",
    "TaskStore",
    "create_app",
    "running",
    "serve",
]
