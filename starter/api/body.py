"""What a request body may be, checked before any route reads it: at most `MAX_BODY` bytes
(`BodyLimit`), and strict JSON for routes with a body model (`StrictJson`)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import Depends, Request, Response, params
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starter.api.errors import ErrorBody
from starter.ingress.events import BadBody, parse_json

MAX_BODY = 256 * 1024


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


_REFUSED = "waypost.bad_body"


class StrictJson(APIRoute):
    """A route whose JSON body is checked as the webhooks check theirs: NaN, infinities and
    text Postgres cannot store are a 400/422 naming the place (Python's `json`, which FastAPI
    uses, takes NaN, and Postgres would refuse the NUL later). Any Content-Type is read as
    JSON, as the API always has.

    FastAPI decodes a body before it runs dependencies, so a refused body is set aside here
    and raised by `refuse_bad_body`, a dependency this route adds after the router's token
    check: without the token the answer is 401 whatever the body.
    """

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        dependencies: Sequence[params.Depends] | None = None,
        **kwargs: Any,
    ) -> None:
        # Last, so after the router's own (the token check).
        checks = [*(dependencies or ()), Depends(refuse_bad_body)]
        super().__init__(path, endpoint, dependencies=checks, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def strict(request: Request) -> Response:
            body = await request.body()
            if not body.strip():
                return await handle(request)
            try:
                parse_json(body)
            except BadBody as err:
                request.scope[_REFUSED] = err
                return await handle(Request(request.scope, _replay(b"", request.receive)))
            headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
            request.scope["headers"] = [*headers, (b"content-type", b"application/json")]
            return await handle(Request(request.scope, _replay(body, request.receive)))

        return strict


def refuse_bad_body(request: Request) -> None:
    err = request.scope.get(_REFUSED)
    if isinstance(err, BadBody):
        raise err


def _replay(body: bytes, then: Receive) -> Receive:
    """`body` once, then what the client sends next (a disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await then()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


__all__ = ["MAX_BODY", "BodyLimit", "StrictJson"]
