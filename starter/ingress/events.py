"""Webhook bodies into inbox items: strict JSON, then the generic envelope or HubSpot's array.

Everything here is refused with `BadBody`, which names the field (`path`) and says what is
wrong; the API answers it as a 400 or 422 and keeps the rejected body for inspection.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from starter.ingress import inbox
from starter.ingress.hubspot import Draft, HubSpotMapping, HubSpotPayload, interpret, link_updates
from workflows.journey.messages import SIGNALS
from workflows.models import ID_PATTERN

# Postgres timestamps hold more, but a date outside these is a typo or an attack.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a body: where (`event.value`, `[1].kind`) and what."""

    path: str
    message: str


class BadBody(ValueError):
    """A body refused: 400 when it is not usable JSON, 422 when it does not fit its schema."""

    def __init__(
        self, status: int, error: str, detail: str, problems: Sequence[Problem] = ()
    ) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail
        self.problems = list(problems)


def field_path(loc: Sequence[int | str]) -> str:
    """`["account", "seats"]` → `account.seats`; `[1, "kind"]` → `[1].kind`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(body)"


def problems_of(err: ValidationError) -> list[Problem]:
    found: list[Problem] = []
    for item in err.errors(include_url=False):
        loc = list(item["loc"])
        # A tagged union puts the tag in the path ("usage_reported.event.x"); the reader
        # knows the kind they sent.
        loc = [
            p
            for i, p in enumerate(loc)
            if not (p in SIGNALS and (i == 0 or isinstance(loc[i - 1], int)))
        ]
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc.append("kind")
        found.append(Problem(path=field_path(loc), message=item["msg"]))
    return found


def schema_error(problems: list[Problem], what: str) -> BadBody:
    summary = "; ".join(f"{p.path}: {p.message}" for p in problems[:5])
    return BadBody(
        422, "invalid_body", f"the {what} does not match its schema: {summary}", problems
    )


# ---- strict JSON ---------------------------------------------------------------------------------


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:30]} is out of range")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> Any:
    """The body as JSON (no NaN, no infinities, no text Postgres cannot store), or BadBody
    saying where it breaks."""
    if not body.strip():
        raise BadBody(400, "malformed_json", "the body is empty; send a JSON document")
    try:
        data = json.loads(body, parse_float=_finite, parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        raise BadBody(
            400,
            "malformed_json",
            f"the body is not JSON: {err.msg} at line {err.lineno} column {err.colno}",
        ) from None
    except (ValueError, RecursionError) as err:
        raise BadBody(400, "malformed_json", f"the body is not usable JSON: {err}") from None
    bad = _bad_text(data, [])
    if bad is not None:
        path, problem = bad
        where = field_path(path)
        raise BadBody(422, "invalid_body", f"{where}: {problem}", [Problem(where, problem)])
    return data


def _bad_text(data: Any, path: list[int | str]) -> tuple[list[int | str], str] | None:
    """The first string Postgres cannot store (NUL, lone surrogates), with its path."""
    if isinstance(data, str):
        if "\x00" in data:
            return path, "text must not contain NUL (\\u0000)"
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            return path, "text is not valid Unicode (lone surrogate)"
        return None
    if isinstance(data, list):
        for i, item in enumerate(data):
            found = _bad_text(item, [*path, i])
            if found:
                return found
    if isinstance(data, dict):
        for key, item in data.items():
            found = _bad_text(key, [*path, key]) or _bad_text(item, [*path, key])
            if found:
                return found
    return None


def check_time(at: datetime, path: str) -> None:
    if not EARLIEST <= at <= LATEST:
        message = "must be between 1970 and 2200"
        raise BadBody(422, "invalid_body", f"{path}: {message}", [Problem(path, message)])


# ---- generic events ------------------------------------------------------------------------------


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(pattern=ID_PATTERN)


def _envelope_for(kind: str, model: type[BaseModel]) -> type[_Envelope]:
    return create_model(
        f"{model.__name__}Event",
        __base__=_Envelope,
        __doc__=f"A `{kind}` event for an account's journey.",
        kind=(Literal[kind], ...),  # type: ignore[arg-type]
        event=(model, ...),
    )


_ENVELOPES = tuple(_envelope_for(kind, model) for kind, model in SIGNALS.items())
# Built from SIGNALS, so a new signal is accepted here without a change.
_EVENT: Any = Annotated[Union[_ENVELOPES], Field(discriminator="kind")]  # noqa: UP007
ONE_EVENT: TypeAdapter[Any] = TypeAdapter(_EVENT)
EVENT_BATCH: TypeAdapter[list[Any]] = TypeAdapter(
    Annotated[list[_EVENT], Field(min_length=1, max_length=1000)]
)
# What `POST /webhooks/events` takes: one envelope, or an array of them.
EVENTS: TypeAdapter[Any] = TypeAdapter(
    Union[_EVENT, Annotated[list[_EVENT], Field(min_length=1, max_length=1000)]]  # noqa: UP007
)


def generic_events(data: Any) -> list[inbox.Incoming]:
    """`POST /webhooks/events` bodies: one event envelope, or an array of them."""
    batch = isinstance(data, list)
    try:
        envelopes = (
            EVENT_BATCH.validate_python(data) if batch else [ONE_EVENT.validate_python(data)]
        )
    except ValidationError as err:
        raise schema_error(problems_of(err), "event" + ("s" if batch else "")) from None
    items: list[inbox.Incoming] = []
    for i, env in enumerate(envelopes):
        event = env.event
        check_time(event.occurred_at, f"[{i}].event.occurred_at" if batch else "event.occurred_at")
        items.append(
            inbox.Incoming(
                source=inbox.SOURCE_EVENTS,
                event_id=event.event_id,
                occurred_at=event.occurred_at,
                raw=data[i] if batch else data,
                account_id=env.account_id,
                kind=env.kind,
                payload=event.model_dump(mode="json"),
            )
        )
    return items


# ---- HubSpot -------------------------------------------------------------------------------------


def hubspot_events(data: Any, mapping: HubSpotMapping) -> tuple[list[inbox.Incoming], list[Any]]:
    """`POST /webhooks/hubspot` bodies: HubSpot's array of events, interpreted."""
    try:
        payload = HubSpotPayload.model_validate(data)
    except ValidationError as err:
        raise schema_error(problems_of(err), "HubSpot payload") from None
    items: list[inbox.Incoming] = []
    links: list[Any] = []
    for event in payload.root:
        meaning = interpret(event, mapping)
        links.extend(link_updates(event, mapping))
        raw = event.model_dump(mode="json", by_alias=True)
        if isinstance(meaning, Draft):
            item = inbox.Incoming(
                source=inbox.SOURCE_HUBSPOT,
                event_id=event.inbox_id,
                occurred_at=event.occurred,
                raw=raw,
                ref=meaning.ref,
                kind=meaning.kind,
                payload=meaning.fields,
            )
        else:
            item = inbox.Incoming(
                source=inbox.SOURCE_HUBSPOT,
                event_id=event.inbox_id,
                occurred_at=event.occurred,
                raw=raw,
                ignored=meaning.reason,
            )
        items.append(item)
    return items, links


__all__ = [
    "EVENTS",
    "BadBody",
    "Problem",
    "check_time",
    "field_path",
    "generic_events",
    "hubspot_events",
    "parse_json",
    "problems_of",
]
