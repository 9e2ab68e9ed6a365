"""A small client of the API, signing events as a CRM would (the demo, the bench, tests)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import httpx

from starter.ingress.signatures import waypost_signature
from workflows.models import Account


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


class ApiClient:
    def __init__(self, base_url: str, *, token: str, webhook_secret: str) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=10.0)
        self._token, self._secret = token, webhook_secret

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._http.aclose()

    async def post_contract(self, account: Account, **extra: Any) -> dict[str, Any]:
        """POST /contracts; `extra` adds `policy` or `hubspot`."""
        body = {"account": account.model_dump(mode="json"), **extra}
        r = await self._http.post(
            "/contracts", json=body, headers={"Authorization": f"Bearer {self._token}"}
        )
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    async def send_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST /webhooks/events: each item `{"account_id", "kind", "event": {...}}`."""
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


__all__ = ["ApiClient"]
