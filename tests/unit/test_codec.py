"""The payload codec and the codec server, without a Temporal server."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError

from runtime.codec import (
    ENCODING,
    KEY_ID,
    EncryptionCodec,
    PayloadKeyError,
    PayloadKeys,
    PayloadRefused,
    key_id,
    parse_key,
    with_encryption,
)
from runtime.settings import Settings
from starter.codec_server import CodecServerError, app_from_settings, create_codec_app
from workflows.models import Account, Contact

NAME, EMAIL = "Zebulon Quartermaine", "zebulon@quartermaine.example"
TOKEN = "codec-test-token"
UI = "http://localhost:8233"


def _key() -> bytes:
    return os.urandom(32)


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _account() -> Account:
    return Account(
        account_id="acme",
        name=NAME,
        segment="smb",
        tier="base",
        seats=5,
        contract_start=date(2026, 1, 1),
        contract_end=date(2027, 1, 1),
        csm="dana",
        contacts=(Contact(contact_id="c1", name=NAME, email=EMAIL, persona="champion"),),
    )


def _converter(keys: PayloadKeys | None) -> DataConverter:
    return with_encryption(pydantic_data_converter, keys)


async def test_payloads_are_encrypted_and_come_back_whole() -> None:
    keys = PayloadKeys(_key())
    converter = _converter(keys)
    [payload] = await converter.encode([_account()])

    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[KEY_ID] == keys.current_id.encode()
    assert NAME.encode() not in payload.SerializeToString()
    assert EMAIL.encode() not in payload.SerializeToString()
    [back] = await converter.decode([payload], [Account])
    assert back == _account()


async def test_the_same_value_encrypts_differently_each_time() -> None:
    codec = EncryptionCodec(PayloadKeys(_key()))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')
    first, second = await codec.encode([plain, plain])
    assert first.data != second.data  # a fresh nonce per payload: equal values do not show


async def test_rotation_reads_the_previous_key_and_writes_the_current_one() -> None:
    old, new = _key(), _key()
    [written_before] = await _converter(PayloadKeys(old)).encode([_account()])

    rotated = _converter(PayloadKeys(new, previous=old))
    [back] = await rotated.decode([written_before], [Account])
    assert back == _account()
    [written_after] = await rotated.encode([_account()])
    assert written_after.metadata[KEY_ID] == key_id(new).encode()


async def test_a_wrong_key_fails_clearly_and_quotes_no_data() -> None:
    [payload] = await _converter(PayloadKeys(_key())).encode([_account()])
    other = PayloadKeys(_key())

    with pytest.raises(PayloadRefused) as refused:
        await _converter(other).decode([payload], [Account])
    message = str(refused.value)
    assert payload.metadata[KEY_ID].decode() in message
    assert other.current_id in message
    assert "WAYPOST_PAYLOAD_KEY" in message
    assert NAME not in message and EMAIL not in message


async def test_a_tampered_payload_is_refused() -> None:
    keys = PayloadKeys(_key())
    [payload] = await _converter(keys).encode([_account()])
    data = bytearray(payload.data)
    data[-1] ^= 1
    tampered = Payload(metadata=dict(payload.metadata), data=bytes(data))

    with pytest.raises(PayloadRefused, match="failed authentication"):
        await _converter(keys).decode([tampered], [Account])


async def test_a_payload_relabelled_with_another_key_id_is_refused() -> None:
    old, new = _key(), _key()
    keys = PayloadKeys(new, previous=old)
    [payload] = await _converter(PayloadKeys(old)).encode([_account()])
    relabelled = Payload(
        metadata={**payload.metadata, KEY_ID: key_id(new).encode()}, data=payload.data
    )
    with pytest.raises(PayloadRefused, match="failed authentication"):
        await _converter(keys).decode([relabelled], [Account])


async def test_plaintext_is_refused_once_a_key_is_set() -> None:
    [plain] = await pydantic_data_converter.encode([_account()])
    with pytest.raises(PayloadRefused, match="not encrypted") as refused:
        await _converter(PayloadKeys(_key())).decode([plain], [Account])
    assert NAME not in str(refused.value)


async def test_plaintext_is_read_while_encryption_is_being_turned_on() -> None:
    [plain] = await pydantic_data_converter.encode([_account()])
    converter = _converter(PayloadKeys(_key(), accept_plaintext=True))
    [back] = await converter.decode([plain], [Account])
    assert back == _account()
    [written] = await converter.encode([_account()])
    assert written.metadata["encoding"] == ENCODING  # still writes ciphertext


async def test_failures_travel_encrypted() -> None:
    converter = _converter(PayloadKeys(_key()))
    failure = Failure()
    await converter.encode_failure(ApplicationError(f"no seat left for {NAME} <{EMAIL}>"), failure)

    assert failure.message == "Encoded failure"
    assert NAME.encode() not in failure.SerializeToString()
    decoded = await converter.decode_failure(failure)
    assert NAME in str(decoded)


def test_no_key_means_the_converter_unchanged() -> None:
    assert with_encryption(pydantic_data_converter, None) is pydantic_data_converter
    assert PayloadKeys.from_settings(Settings(payload_key=None)) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("not base64 at all!", "not base64"),
        (_b64(b"short"), "decodes to 5 bytes"),
    ],
)
def test_bad_keys_are_refused_without_echoing_them(value: str, expected: str) -> None:
    with pytest.raises(PayloadKeyError, match=expected) as refused:
        parse_key(value, "WAYPOST_PAYLOAD_KEY")
    assert value not in str(refused.value)
    assert "WAYPOST_PAYLOAD_KEY" in str(refused.value)


def test_keys_parse_from_settings_in_either_base64_alphabet() -> None:
    key = bytes(range(251, 255)) * 8  # bytes whose base64 uses + and /
    standard = _b64(key)
    urlsafe = base64.urlsafe_b64encode(key).decode()
    assert standard != urlsafe
    for text in (standard, urlsafe):
        keys = PayloadKeys.from_settings(Settings(payload_key=SecretStr(text)))
        assert keys is not None and keys.current == key


def test_a_previous_key_alone_is_a_mistake() -> None:
    with pytest.raises(PayloadKeyError, match="without WAYPOST_PAYLOAD_KEY"):
        PayloadKeys.from_settings(Settings(payload_key_previous=SecretStr(_b64(_key()))))


def test_keys_never_show_in_a_repr() -> None:
    key = _key()
    shown = repr(PayloadKeys(key))
    assert _b64(key) not in shown and key.hex() not in shown
    assert key_id(key) in shown


# ---- the codec server ----------------------------------------------------------------------------


@pytest.fixture
async def codec_http() -> AsyncIterator[tuple[httpx.AsyncClient, PayloadKeys]]:
    keys = PayloadKeys(_key())
    app = create_codec_app(keys, token=TOKEN, ui_origins=[UI])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://codec") as http:
        yield http, keys


def _json(payloads: list[Payload]) -> dict[str, object]:
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


def _payloads(body: dict[str, list[dict[str, object]]]) -> list[Payload]:
    out = []
    for p in body["payloads"]:
        metadata = p["metadata"]
        assert isinstance(metadata, dict)
        out.append(
            Payload(
                metadata={k: base64.b64decode(v) for k, v in metadata.items()},
                data=base64.b64decode(str(p.get("data", ""))),
            )
        )
    return out


BEARER = {"Authorization": f"Bearer {TOKEN}"}


async def test_codec_server_round_trips(
    codec_http: tuple[httpx.AsyncClient, PayloadKeys],
) -> None:
    http, keys = codec_http
    [plain] = await pydantic_data_converter.encode([_account()])

    encoded = await http.post("/encode", json=_json([plain]), headers=BEARER)
    assert encoded.status_code == 200, encoded.text
    [cipher] = _payloads(encoded.json())
    assert cipher.metadata[KEY_ID] == keys.current_id.encode()
    assert NAME.encode() not in cipher.data

    decoded = await http.post(
        "/decode", json=encoded.json(), headers={**BEARER, "X-Namespace": "default"}
    )
    assert decoded.status_code == 200, decoded.text
    assert _payloads(decoded.json()) == [plain]


async def test_codec_server_shows_plaintext_history_as_it_is(
    codec_http: tuple[httpx.AsyncClient, PayloadKeys],
) -> None:
    http, _ = codec_http
    [plain] = await pydantic_data_converter.encode([_account()])
    decoded = await http.post("/decode", json=_json([plain]), headers=BEARER)
    assert decoded.status_code == 200
    assert _payloads(decoded.json()) == [plain]


async def test_codec_server_with_the_wrong_key_says_which_key(
    codec_http: tuple[httpx.AsyncClient, PayloadKeys],
) -> None:
    http, keys = codec_http
    stranger = PayloadKeys(_key())
    [cipher] = await _converter(stranger).encode([_account()])

    decoded = await http.post("/decode", json=_json([cipher]), headers=BEARER)
    assert decoded.status_code == 422
    body = decoded.json()
    assert body["error"] == "payload_refused"
    assert stranger.current_id in body["detail"] and keys.current_id in body["detail"]
    assert NAME not in decoded.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Token {TOKEN}"},
        {"Authorization": "Basic " + base64.b64encode(b"ops:wrong").decode()},
        {"Authorization": "Basic !!!"},
    ],
    ids=["none", "wrong-bearer", "other-scheme", "wrong-basic", "garbled-basic"],
)
async def test_codec_server_needs_the_token(
    codec_http: tuple[httpx.AsyncClient, PayloadKeys], headers: dict[str, str]
) -> None:
    http, _ = codec_http
    for path in ("/decode", "/encode"):
        r = await http.post(path, json={"payloads": []}, headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Basic")
        assert r.json()["error"] == "unauthorized"


async def test_codec_server_takes_the_token_as_a_basic_password(
    codec_http: tuple[httpx.AsyncClient, PayloadKeys],
) -> None:
    http, keys = codec_http
    basic = "Basic " + base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
    r = await http.get("/", headers={"Authorization": basic})
    assert r.status_code == 200
    assert r.json()["key_ids"] == [keys.current_id]


async def test_codec_server_answers_only_the_ui_origin(
    codec_http: tuple[httpx.AsyncClient, PayloadKeys],
) -> None:
    http, _ = codec_http
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
    }
    allowed = await http.options("/decode", headers={"Origin": UI, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == UI
    assert allowed.headers["access-control-allow-credentials"] == "true"

    evil = "https://evil.example"
    elsewhere = await http.options("/decode", headers={"Origin": evil, **preflight})
    assert elsewhere.status_code == 400
    assert "access-control-allow-origin" not in elsewhere.headers

    posted = await http.post("/decode", json={"payloads": []}, headers={**BEARER, "Origin": evil})
    assert "access-control-allow-origin" not in posted.headers


async def test_codec_server_refuses_a_malformed_body(
    codec_http: tuple[httpx.AsyncClient, PayloadKeys],
) -> None:
    http, _ = codec_http
    r = await http.post("/decode", content=b"{not json", headers=BEARER)
    assert r.status_code == 400
    assert r.json()["error"] == "malformed_payloads"


def test_codec_server_will_not_start_without_a_key_or_a_token() -> None:
    with pytest.raises(CodecServerError, match="WAYPOST_PAYLOAD_KEY"):
        app_from_settings(Settings(api_token="t"))
    with pytest.raises(CodecServerError, match="WAYPOST_API_TOKEN"):
        app_from_settings(Settings(payload_key=SecretStr(_b64(_key()))))
    with pytest.raises(CodecServerError, match="not a URL"):
        app_from_settings(
            Settings(payload_key=SecretStr(_b64(_key())), api_token="t", temporal_ui_url="nope")
        )
