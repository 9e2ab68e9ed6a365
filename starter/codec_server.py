"""`waypost codec-server`: lets people with the key read encrypted payloads in the Temporal UI.

The UI (and `temporal --codec-endpoint`) POSTs `{"payloads": [...]}` (protobuf JSON) to
`/decode` to show a payload and to `/encode` to send one. Without this server the UI shows
ciphertext, which is the point: only someone holding `WAYPOST_API_TOKEN` gets plaintext.

- Auth: `Authorization: Bearer <token>` (the CLI: `--codec-auth "Bearer $WAYPOST_API_TOKEN"`),
  or HTTP Basic with the token as password. The UI cannot send a fixed header, but with
  `TEMPORAL_CODEC_INCLUDE_CREDENTIALS=true` the browser sends Basic credentials it holds for
  this origin: open the codec server's URL once, sign in with any user name and the token.
- CORS: only the configured UI origin (`WAYPOST_TEMPORAL_UI_URL`), with credentials.
- `/decode` passes unencrypted payloads through (histories written before a key was set
  still display); a payload under an unknown key is an error naming the key id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from urllib.parse import urlsplit

import structlog
from fastapi import Depends, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from runtime.codec import EncryptionCodec, PayloadKeyError, PayloadKeys, PayloadRefused
from runtime.errors import SetupError
from runtime.settings import Settings
from starter.api.deps import RequireToken
from starter.api.errors import install_error_handlers

log = structlog.get_logger(__name__)

MAX_BODY = 8 * 1024 * 1024  # Temporal refuses payloads over 2 MiB; a batch holds a few
REALM = 'Basic realm="Waypost codec server", charset="UTF-8"'


class CodecServerError(SetupError):
    """The codec server cannot start as configured; the message says what to set."""


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL: what a browser sends as `Origin`."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        raise CodecServerError(f"{url!r} is not a URL like http://localhost:8233")
    return f"{parts.scheme}://{parts.netloc}"


def create_codec_app(keys: PayloadKeys, *, token: str, ui_origins: Sequence[str]) -> FastAPI:
    """The codec server's app; `ui_origins` are the only origins browsers may call it from."""
    if not token:
        raise CodecServerError("set WAYPOST_API_TOKEN: the codec server is never open")
    # Lenient on the way in to the UI: plaintext from before encryption was on is shown.
    codec = EncryptionCodec(keys, accept_plaintext=True)
    # The API's token check, taking the token as a Basic password too (see above).
    signed_in = RequireToken(lambda _request: token, basic=True, challenge=REALM)
    app = FastAPI(
        title="Waypost codec server",
        dependencies=[Depends(signed_in)],
        description="Encrypts and decrypts Temporal payloads for the Temporal UI and CLI.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(ui_origins),
        allow_credentials=True,
        allow_methods=["GET", "POST"],
        allow_headers=["authorization", "content-type", "x-namespace"],
        max_age=600,
    )

    install_error_handlers(app)

    @app.get("/")
    async def index() -> Response:
        return JSONResponse(
            {"status": "ok", "key_ids": list(codec.key_ids), "endpoints": ["/encode", "/decode"]}
        )

    @app.post("/encode")
    async def encode(request: Request) -> Response:
        return await _transform(request, codec, encrypt=True)

    @app.post("/decode")
    async def decode(request: Request) -> Response:
        return await _transform(request, codec, encrypt=False)

    return app


async def _transform(request: Request, codec: EncryptionCodec, *, encrypt: bool) -> Response:
    body = await request.body()
    if len(body) > MAX_BODY:
        return _error(413, "body_too_large", f"the body is over {MAX_BODY // 1024 // 1024} MiB")
    try:
        payloads = json_format.Parse(body or b"{}", Payloads())
    except json_format.ParseError as err:
        return _error(400, "malformed_payloads", f"expected {{'payloads': [...]}}: {err}")
    try:
        out = [codec.encrypt(p) if encrypt else codec.decrypt(p) for p in payloads.payloads]
    except PayloadRefused as err:
        log.warning("codec server refused a payload", error=str(err))
        return _error(422, "payload_refused", str(err))
    return Response(
        json_format.MessageToJson(Payloads(payloads=out), indent=None),
        media_type="application/json",
    )


def _error(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "detail": detail, "fields": []}, status_code=status, headers=headers
    )


def app_from_settings(settings: Settings) -> FastAPI:
    try:
        keys = PayloadKeys.from_settings(settings)
    except PayloadKeyError as err:
        raise CodecServerError(str(err)) from None
    if keys is None:
        raise CodecServerError(
            "set WAYPOST_PAYLOAD_KEY (and _PREVIOUS during a rotation): without a key there "
            "is nothing to decode"
        )
    origin = origin_of(settings.temporal_ui_url or settings.ui_url)
    return create_codec_app(keys, token=settings.api_token or "", ui_origins=[origin])


async def serve_codec(settings: Settings, *, host: str = "127.0.0.1", port: int = 8081) -> None:
    """Serve the codec server under uvicorn until SIGINT/SIGTERM."""
    import uvicorn

    app = app_from_settings(settings)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None))
    log.info(
        "codec server listening",
        url=f"http://{host}:{port}",
        ui_origin=settings.temporal_ui_url or settings.ui_url,
    )
    await server.serve()


def main() -> None:
    """`python -m starter.codec_server` (what `waypost codec-server` runs)."""
    import argparse

    from runtime.logs import configure_logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    try:
        asyncio.run(serve_codec(settings, host=args.host, port=args.port))
    except CodecServerError as err:
        log.error("codec server not started", error=str(err))
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
