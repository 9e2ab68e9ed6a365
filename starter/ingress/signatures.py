"""Webhook signatures: HubSpot's v3 scheme and Waypost's own HMAC scheme for any CRM.

Pure functions: the caller passes the raw body, the headers' values, the secrets and the time.
Both schemes refuse a timestamp more than five minutes old or from the future (a few seconds of
clock skew aside), so a captured request cannot be replayed later, and both compare in constant
time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import urlsplit

MAX_AGE_SECONDS = 300.0
# Clocks disagree by a little; a request "from the future" by more than this is refused.
FUTURE_SKEW_SECONDS = 5.0

# HubSpot signs the URI with these escapes decoded (and only these); see "Validating requests"
# in HubSpot's developer documentation.
_HUBSPOT_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


class SignatureError(Exception):
    """The request is not signed as it must be; `kind` is stable, the message says why."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _check_age(sent_at: float, now: float, header: str) -> None:
    age = now - sent_at
    if age > MAX_AGE_SECONDS:
        raise SignatureError(
            "stale_timestamp",
            f"{header} is {age:.0f} s old; requests older than {MAX_AGE_SECONDS:.0f} s are "
            "refused (a replay, or a clock far behind)",
        )
    if age < -FUTURE_SKEW_SECONDS:
        raise SignatureError(
            "future_timestamp", f"{header} is {-age:.0f} s in the future; check the sender's clock"
        )


def _timestamp(value: str | None, header: str, *, per_second: int) -> float:
    if not value:
        raise SignatureError("missing_signature", f"the {header} header is missing")
    if not value.isascii() or not value.isdigit() or len(value) > 16:
        unit = "milliseconds" if per_second == 1000 else "seconds"
        raise SignatureError(
            "bad_timestamp", f"{header} must be a Unix time in {unit}, got {value[:40]!r}"
        )
    return int(value) / per_second


# ---- HubSpot v3 --------------------------------------------------------------------------------


def hubspot_signed_uri(request_url: str, public_base_url: str | None = None) -> str:
    """The URI HubSpot signed: the external one (behind a proxy, `public_base_url` + path and
    query), with HubSpot's short list of escapes decoded."""
    parts = urlsplit(request_url)
    if public_base_url:
        base = public_base_url.rstrip("/")
        uri = base + parts.path + (f"?{parts.query}" if parts.query else "")
    else:
        uri = request_url
    for escaped, char in _HUBSPOT_DECODE.items():
        uri = uri.replace(escaped, char).replace(escaped.lower(), char)
    return uri


def hubspot_v3_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """base64(HMAC-SHA256(client secret, method + URI + body + timestamp))."""
    message = method.upper().encode() + uri.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_hubspot_v3(
    *,
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float,
) -> None:
    """Raise SignatureError unless `signature` is HubSpot's v3 signature of this request.

    `timestamp` is X-HubSpot-Request-Timestamp (Unix milliseconds); `now` is Unix seconds.
    """
    if not signature:
        raise SignatureError("missing_signature", "the X-HubSpot-Signature-v3 header is missing")
    sent_at = _timestamp(timestamp, "X-HubSpot-Request-Timestamp", per_second=1000)
    _check_age(sent_at, now, "X-HubSpot-Request-Timestamp")
    assert timestamp is not None  # _timestamp refused an empty one
    expected = hubspot_v3_signature(secret, method, uri, body, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace")):
        raise SignatureError(
            "bad_signature",
            "X-HubSpot-Signature-v3 does not match: check the app's client secret and that the "
            "public base URL is the one HubSpot calls",
        )


# ---- Waypost generic ---------------------------------------------------------------------------


def waypost_signature(secret: str, timestamp: str, body: bytes) -> str:
    """hex(HMAC-SHA256(secret, "<timestamp>.<raw body>")), sent as `sha256=<hex>`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return digest.hexdigest()


def verify_waypost(
    *,
    secrets: Sequence[str],
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: float,
) -> None:
    """Raise SignatureError unless `signature` (X-Waypost-Signature: `sha256=<hex>` or bare hex)
    signs `<timestamp>.<body>` with one of `secrets` (the current one and, while rotating, the
    previous one). `timestamp` is X-Waypost-Timestamp in Unix seconds."""
    if not signature:
        raise SignatureError("missing_signature", "the X-Waypost-Signature header is missing")
    sent_at = _timestamp(timestamp, "X-Waypost-Timestamp", per_second=1)
    _check_age(sent_at, now, "X-Waypost-Timestamp")
    assert timestamp is not None
    given = signature.strip().removeprefix("sha256=").lower().encode("utf-8", "replace")
    matched = False
    for secret in secrets:
        # Every secret is tried, so timing does not tell which one matched.
        matched |= hmac.compare_digest(waypost_signature(secret, timestamp, body).encode(), given)
    if not matched:
        raise SignatureError(
            "bad_signature",
            "X-Waypost-Signature does not match: sign '<X-Waypost-Timestamp>.<raw body>' with "
            "HMAC-SHA256 and the shared secret, hex-encoded, as 'sha256=<hex>'",
        )
