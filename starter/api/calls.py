"""Calls to Postgres and Temporal from a route: a failure or a hang is a 503 the client can
retry, and a journey's own refusals (unknown, closed) their 404 and 409."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import structlog

from starter.api.errors import ApiError
from starter.journeys import JourneyError
from store.errors import DB_ERRORS

log = structlog.get_logger(__name__)


async def db_call(call: Awaitable[Any]) -> Any:
    """A Postgres call whose failure is a 503 (retry), not a 500."""
    try:
        return await call
    except DB_ERRORS as err:
        log.warning("postgres call failed", error=str(err))
        raise ApiError(503, "unavailable", "Postgres did not answer; retry shortly") from None


async def bounded(seconds: float, call: Awaitable[Any], what: str) -> Any:
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


def journey_error(err: JourneyError) -> ApiError:
    if err.kind == "unknown_account":
        return ApiError(404, "unknown_account", str(err))
    if err.kind == "journey_closed":
        return ApiError(409, "journey_closed", str(err))
    return ApiError(503, err.kind, f"{err} (is a worker running?)")


__all__ = ["bounded", "db_call", "journey_error"]
