"""Webhook signatures, checked against signatures computed here from the published rules."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from starter.ingress.signatures import (
    SignatureError,
    hubspot_signed_uri,
    hubspot_v3_signature,
    verify_hubspot_v3,
    verify_waypost,
    waypost_signature,
)

SECRET = "hubspot-client-secret"
URI = "https://waypost.example.com/webhooks/hubspot"
BODY = b'[{"eventId":1,"subscriptionType":"company.propertyChange","occurredAt":1}]'
NOW = 1_780_000_000.0
NOW_MS = str(int(NOW * 1000))


def _hubspot(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    # The rule, written out independently of the code under test.
    source = f"{method}{uri}{body.decode()}{timestamp}".encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def _verify_hubspot(**overrides: object) -> None:
    args: dict[str, object] = {
        "secret": SECRET,
        "method": "POST",
        "uri": URI,
        "body": BODY,
        "timestamp": NOW_MS,
        "signature": _hubspot(SECRET, "POST", URI, BODY, NOW_MS),
        "now": NOW,
    }
    args.update(overrides)
    verify_hubspot_v3(**args)  # type: ignore[arg-type]


def test_hubspot_signature_follows_the_v3_rule() -> None:
    assert hubspot_v3_signature(SECRET, "POST", URI, BODY, NOW_MS) == _hubspot(
        SECRET, "POST", URI, BODY, NOW_MS
    )
    _verify_hubspot()


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({"signature": None}, "missing_signature"),
        ({"timestamp": None}, "missing_signature"),
        ({"timestamp": "yesterday"}, "bad_timestamp"),
        ({"signature": _hubspot("other-secret", "POST", URI, BODY, NOW_MS)}, "bad_signature"),
        ({"body": BODY + b" "}, "bad_signature"),
        ({"uri": URI + "?x=1"}, "bad_signature"),
        ({"method": "PUT"}, "bad_signature"),
    ],
)
def test_hubspot_signature_refuses_what_was_not_signed(
    overrides: dict[str, object], kind: str
) -> None:
    with pytest.raises(SignatureError) as refused:
        _verify_hubspot(**overrides)
    assert refused.value.kind == kind


def test_hubspot_timestamp_window_is_five_minutes_and_not_the_future() -> None:
    def signed_at(seconds_ago: float) -> dict[str, object]:
        ts = str(int((NOW - seconds_ago) * 1000))
        return {"timestamp": ts, "signature": _hubspot(SECRET, "POST", URI, BODY, ts)}

    _verify_hubspot(**signed_at(299))
    with pytest.raises(SignatureError) as stale:
        _verify_hubspot(**signed_at(301))
    assert stale.value.kind == "stale_timestamp"
    with pytest.raises(SignatureError) as future:
        _verify_hubspot(**signed_at(-60))
    assert future.value.kind == "future_timestamp"


def test_hubspot_uri_is_the_external_one_with_hubspots_escapes_decoded() -> None:
    internal = "http://10.0.0.7:8000/webhooks/hubspot?portal=1%3A2&q=a%20b"
    assert (
        hubspot_signed_uri(internal, "https://crm.example.com/")
        == "https://crm.example.com/webhooks/hubspot?portal=1:2&q=a%20b"
    )
    assert hubspot_signed_uri("http://h/webhooks/hubspot") == "http://h/webhooks/hubspot"


def _waypost(secret: str, ts: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{ts}.".encode() + body, "sha256").hexdigest()


def test_waypost_signature_accepts_either_active_secret() -> None:
    ts = str(int(NOW))
    assert "sha256=" + waypost_signature("new", ts, BODY) == _waypost("new", ts, BODY)
    for secret in ("new", "old"):
        verify_waypost(
            secrets=["new", "old"],
            body=BODY,
            timestamp=ts,
            signature=_waypost(secret, ts, BODY),
            now=NOW,
        )
    with pytest.raises(SignatureError) as retired:
        verify_waypost(
            secrets=["new"], body=BODY, timestamp=ts, signature=_waypost("old", ts, BODY), now=NOW
        )
    assert retired.value.kind == "bad_signature"


@pytest.mark.parametrize(
    ("seconds_ago", "kind"), [(301, "stale_timestamp"), (-30, "future_timestamp")]
)
def test_waypost_signature_refuses_old_and_future_timestamps(seconds_ago: int, kind: str) -> None:
    ts = str(int(NOW - seconds_ago))
    with pytest.raises(SignatureError) as refused:
        verify_waypost(
            secrets=["s"], body=BODY, timestamp=ts, signature=_waypost("s", ts, BODY), now=NOW
        )
    assert refused.value.kind == kind


def test_waypost_signature_must_cover_the_timestamp_it_came_with() -> None:
    signed = _waypost("s", str(int(NOW) - 400), BODY)  # an old request, re-sent with a new time
    with pytest.raises(SignatureError) as replayed:
        verify_waypost(secrets=["s"], body=BODY, timestamp=str(int(NOW)), signature=signed, now=NOW)
    assert replayed.value.kind == "bad_signature"
