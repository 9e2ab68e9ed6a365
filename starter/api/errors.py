"""The API's one error shape, and the handlers that give every refusal that shape.

`{"error": kind, "detail": what is wrong and how to fix it, "fields": [{"path", "message"}]}`:
400/422 name the field, 401 a missing token or signature, 404 an unknown account, task or
route, 409 a conflict, 413 a body too large, 503 (with Retry-After where a retry helps) when
Postgres or Temporal is away.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from starter.ingress.events import BadBody, Problem, field_path


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

    @classmethod
    def from_bad_body(cls, err: BadBody) -> ApiError:
        fields = [FieldError(path=p.path, message=p.message) for p in err.problems]
        return cls(err.status, err.error, err.detail, fields)


RETRY_AFTER = "5"  # seconds: Postgres or Temporal away is usually a restart, not an outage


def error_response(err: ApiError) -> JSONResponse:
    body = ErrorBody(error=err.error, detail=err.detail, fields=err.fields)
    headers = dict(err.headers or {})
    if err.status == 503 and err.error != "not_configured":  # configuration needs a person
        headers.setdefault("Retry-After", RETRY_AFTER)
    return JSONResponse(body.model_dump(), status_code=err.status, headers=headers or None)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error codes, all in the one shape."""
    return {code: {"model": ErrorBody} for code in codes}


def _request_error(exc: RequestValidationError) -> ApiError:
    problems: list[Problem] = []
    in_body = False
    for e in exc.errors():
        loc = list(e["loc"])
        if loc[:1] == ["body"]:
            in_body = True
            if len(loc) == 1 and e["type"] == "missing":
                return ApiError(400, "malformed_json", "the body is empty; send a JSON document")
        where = field_path([p for p in loc[1:] if isinstance(p, int | str)])
        problems.append(Problem(path=where, message=str(e["msg"])))
    fields = [FieldError(path=p.path, message=p.message) for p in problems]
    summary = "; ".join(f"{f.path}: {f.message}" for f in fields[:5])
    if in_body:
        return ApiError(
            422, "invalid_body", f"the body does not match its schema: {summary}", fields
        )
    return ApiError(422, "invalid_request", summary, fields)


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def bad_body(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BadBody)
        return error_response(ApiError.from_bad_body(exc))

    async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(_request_error(exc))

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
        return error_response(err)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(BadBody, bad_body)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


__all__ = [
    "ApiError",
    "ErrorBody",
    "FieldError",
    "error_response",
    "install_error_handlers",
    "responses",
]
