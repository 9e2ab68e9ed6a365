"""Customer data stays private: every payload Waypost sends Temporal is encrypted.

Account names, e-mails and contact details travel in workflow inputs, signals, activity
arguments and results. With `WAYPOST_PAYLOAD_KEY` set, `PayloadKeys` builds an AES-GCM
`PayloadCodec` that every client and worker use (`runtime/temporal.py`), so the Temporal
server, its database and anyone reading the UI without the key see only ciphertext.

Wire format of an encrypted payload:
- metadata `encoding` = `binary/encrypted` (Temporal's convention: the UI shows it as such)
- metadata `encryption-key-id` = the key's id (a fingerprint, not the key)
- data = 12-byte nonce ‖ AES-256-GCM(serialized original payload), the key id as associated
  data, so a payload cannot be relabelled with another key's id.

Two keys are accepted at once, for rotation: the current one encrypts, both decrypt. Once a
key is set, a payload without the marker is refused: plaintext cannot be injected into a
journey (unless `WAYPOST_PAYLOAD_ACCEPT_PLAINTEXT` is on while encryption is being turned on
for journeys that already run). Error messages name key ids and reasons, never payload data.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from runtime.errors import SetupError
from runtime.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32
MAKE_KEY = "python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'"


class PayloadKeyError(SetupError):
    """A configured key is unusable; the message says which setting and how to fix it.

    A SetupError, so the CLI prints it as a set-up problem rather than a traceback."""


class PayloadRefused(ValueError):
    """A payload this codec will not decode: not encrypted, unknown key, or tampered."""


def key_id(key: bytes) -> str:
    """A short, stable fingerprint naming the key in payload metadata (not secret)."""
    return hashlib.sha256(b"waypost-payload-key\x00" + key).hexdigest()[:16]


def parse_key(text: str, setting: str) -> bytes:
    """A base64 (standard or URL-safe) 32-byte key; the error never echoes the value."""
    raw = text.strip()
    try:
        key = base64.b64decode(raw.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise PayloadKeyError(f"{setting} is not base64; make a key with: {MAKE_KEY}") from None
    if len(key) != KEY_BYTES:
        raise PayloadKeyError(
            f"{setting} must be {KEY_BYTES} random bytes (AES-256), base64-encoded; it decodes "
            f"to {len(key)} bytes. Make one with: {MAKE_KEY}"
        )
    return key


@dataclass(frozen=True)
class PayloadKeys:
    """The current key (encrypts and decrypts) and the previous one (decrypts only)."""

    current: bytes
    previous: bytes | None = None
    accept_plaintext: bool = False

    def __post_init__(self) -> None:
        for key in (self.current, self.previous):
            if key is not None and len(key) != KEY_BYTES:
                raise PayloadKeyError(f"a payload key must be {KEY_BYTES} bytes")

    # A key must never reach a log line or a traceback through a dataclass repr.
    def __repr__(self) -> str:
        return f"PayloadKeys(current={self.current_id!r}, previous={self.previous_id!r})"

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    @property
    def previous_id(self) -> str | None:
        return key_id(self.previous) if self.previous is not None else None

    @classmethod
    def from_settings(cls, settings: Settings) -> PayloadKeys | None:
        """The keys the settings name, or None when encryption is off (no key set)."""
        if settings.payload_key is None:
            if settings.payload_key_previous is not None:
                raise PayloadKeyError(
                    "WAYPOST_PAYLOAD_KEY_PREVIOUS is set without WAYPOST_PAYLOAD_KEY: set the "
                    "new key as WAYPOST_PAYLOAD_KEY and the old one as _PREVIOUS"
                )
            return None
        current = parse_key(settings.payload_key.get_secret_value(), "WAYPOST_PAYLOAD_KEY")
        previous = (
            parse_key(
                settings.payload_key_previous.get_secret_value(), "WAYPOST_PAYLOAD_KEY_PREVIOUS"
            )
            if settings.payload_key_previous is not None
            else None
        )
        return cls(current, previous, settings.payload_accept_plaintext)


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over whole payloads (see the module docstring for the format)."""

    def __init__(self, keys: PayloadKeys, *, accept_plaintext: bool | None = None) -> None:
        self._current_id = keys.current_id
        self._current = AESGCM(keys.current)
        self._ciphers = {self._current_id: self._current}
        if keys.previous is not None and keys.previous_id != self._current_id:
            self._ciphers[key_id(keys.previous)] = AESGCM(keys.previous)
        self._accept_plaintext = (
            keys.accept_plaintext if accept_plaintext is None else accept_plaintext
        )

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._current.encrypt(
            nonce, payload.SerializeToString(), self._current_id.encode()
        )
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: self._current_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            if self._accept_plaintext:
                return payload
            raise PayloadRefused(
                "refused a payload that is not encrypted (encoding "
                f"{_printable(payload.metadata.get('encoding'))}): WAYPOST_PAYLOAD_KEY is set, "
                "so every payload must come from a client or worker that has the key"
            )
        kid = payload.metadata.get(KEY_ID, b"").decode("ascii", "replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise PayloadRefused(
                f"payload encrypted with key id {_printable(kid.encode())}, which is not a "
                f"configured key (have: {', '.join(self._ciphers)}): set the key it was "
                "written with as WAYPOST_PAYLOAD_KEY or WAYPOST_PAYLOAD_KEY_PREVIOUS"
            )
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], kid.encode())
        except InvalidTag:
            raise PayloadRefused(
                f"payload with key id {kid} failed authentication: it was altered, or written "
                "with a different key under the same id"
            ) from None
        try:
            return Payload.FromString(plain)
        except DecodeError:
            raise PayloadRefused(f"payload with key id {kid} decrypts to no payload") from None


def _printable(value: bytes | None) -> str:
    """Metadata as shown in an error: short and free of anything payload-like."""
    if not value:
        return "none"
    text = value[:40].decode("ascii", "replace")
    return repr("".join(c if c.isprintable() else "?" for c in text))


def with_encryption(converter: DataConverter, keys: PayloadKeys | None) -> DataConverter:
    """`converter` with the codec added when there are keys; unchanged otherwise.

    Failures get encoded attributes too: an exception's message and stack trace can quote
    an account (a name in a validation message), so they travel encrypted like payloads.
    """
    if keys is None:
        return converter
    return dataclasses.replace(
        converter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


__all__ = [
    "ENCODING",
    "KEY_ID",
    "EncryptionCodec",
    "PayloadKeyError",
    "PayloadKeys",
    "PayloadRefused",
    "key_id",
    "parse_key",
    "with_encryption",
]
