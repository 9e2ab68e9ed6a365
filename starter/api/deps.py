"""The API's dependencies: its configuration, its Temporal client and Postgres pool, and the
bearer token check, each a FastAPI dependency routes declare in their signature.

Configuration is one object: the process's `Settings` (every `WAYPOST_*` value), plus
`ApiOptions`, the few knobs only the API has (timeouts, the HubSpot mapping). Both live on
`app.state`, set once by `create_app`; nothing copies them field by field.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client

from runtime.settings import Settings
from starter.api.errors import ApiError
from starter.ingress.hubspot import HubSpotMapping


class ApiOptions(BaseModel):
    """What only the API reads (tests shorten the timeouts)."""

    model_config = ConfigDict(frozen=True)

    delivery_timeout: float = Field(default=2.0, gt=0, description="Per event, inline.")
    temporal_timeout: float = Field(default=5.0, gt=0, description="Start, state, timeline.")
    relay_interval: float = Field(default=1.0, gt=0)
    hubspot: HubSpotMapping = HubSpotMapping()


class TaskStore(Protocol):
    """The playbook tasks as the API needs them (starter/tasks.py `PlayTaskStore`)."""

    async def list_tasks(
        self, *, account_id: str | None, status: str | None, csm: str | None, overdue: bool
    ) -> list[dict[str, Any]]: ...

    async def mark_done(self, task_id: str, *, by: str | None) -> dict[str, Any]:
        """The task, now done; raise starter.tasks.TaskNotFound for an unknown id."""
        ...


@dataclass
class Services:
    """What the API talks to. The lifespan may connect the client and pool after the app is
    built (tests pass theirs), so routes read them at request time."""

    client: Client | None
    pool: asyncpg.Pool | None
    tasks: TaskStore | None

    # Called in a route's body, not declared as dependencies: a route checks its input first.
    def need_client(self) -> Client:
        if self.client is None:
            raise ApiError(503, "unavailable", "Temporal is not connected yet; retry shortly")
        return self.client

    def need_pool(self) -> asyncpg.Pool:
        if self.pool is None:
            raise ApiError(503, "unavailable", "Postgres is not configured (DATABASE_URL)")
        return self.pool


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_options(request: Request) -> ApiOptions:
    options: ApiOptions = request.app.state.options
    return options


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


SettingsDep = Annotated[Settings, Depends(get_settings)]
OptionsDep = Annotated[ApiOptions, Depends(get_options)]
ServicesDep = Annotated[Services, Depends(get_services)]


# ---- the token -----------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="WAYPOST_API_TOKEN")


def settings_token(request: Request) -> str | None:
    return get_settings(request).api_token


def token_matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


class RequireToken:
    """The one check of `WAYPOST_API_TOKEN`: `Depends(require_token)` on every non-webhook
    route and `/metrics`; the dashboard and the codec server build theirs with the options
    below. No token configured is a 503 (these routes are never open); a wrong or missing
    one a 401 with a challenge.

    - `basic`: also the token as an HTTP Basic password (the Temporal UI can only send the
      credentials a browser holds for the codec server's origin).
    - `session`: also a valid dashboard session cookie (`session(token, cookie_value)`).
    """

    def __init__(
        self,
        token: Callable[[Request], str | None] = settings_token,
        *,
        basic: bool = False,
        session: tuple[str, Callable[[str, str], bool]] | None = None,
        challenge: str = "Bearer",
    ) -> None:
        self.token, self.basic, self.session, self.challenge = token, basic, session, challenge

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        token = self.token(request)
        if not token:
            raise ApiError(
                503, "not_configured", "set WAYPOST_API_TOKEN to use this route (it is never open)"
            )
        if self._given(request, credentials, token):
            return
        how = " (or sign in with it as password)" if self.basic else ""
        raise ApiError(
            401,
            "unauthorized",
            f"send 'Authorization: Bearer <WAYPOST_API_TOKEN>'{how}",
            headers={"WWW-Authenticate": self.challenge},
        )

    def _given(
        self, request: Request, credentials: HTTPAuthorizationCredentials | None, token: str
    ) -> bool:
        if credentials is not None and token_matches(token, credentials.credentials):
            return True
        if self.basic:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    decoded = ""
                password = decoded.partition(":")[2]
                if password and token_matches(token, password):
                    return True
        if self.session is not None:
            cookie, valid = self.session
            return valid(token, request.cookies.get(cookie, ""))
        return False


require_token = RequireToken()
Authorized = Depends(require_token)

__all__ = [
    "ApiOptions",
    "Authorized",
    "OptionsDep",
    "RequireToken",
    "Services",
    "ServicesDep",
    "SettingsDep",
    "TaskStore",
    "require_token",
]
