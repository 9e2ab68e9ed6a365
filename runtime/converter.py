"""Waypost's payload converter: Temporal's pydantic converter, trusting what Waypost pinned.

A journey's input and a play's input carry a policy that was checked where it entered
Waypost (`load_policy` / `policy_from_data` in the CLI, API and demo). Re-running the
policy's cross-reference checks every time a worker decoded such an input was a fifth of a
worker's CPU when starting journeys (make bench). Those two inputs are decoded with the
PINNED context: every field is still validated, the cross-field checks are not. Anything
else, a `change_policy` update included, is checked in full.
"""

from __future__ import annotations

import functools
from typing import Any

import temporalio.api.common.v1
from pydantic import TypeAdapter
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)

from workflows.journey.messages import JourneyInput
from workflows.playbook.messages import PlaybookInput
from workflows.policy import PINNED

PINNED_INPUTS: frozenset[Any] = frozenset({JourneyInput, PlaybookInput})


@functools.lru_cache(maxsize=1024)
def _adapter(type_hint: Any) -> TypeAdapter[Any]:
    """One TypeAdapter per type for the whole process. The SDK builds new converter
    instances as it goes (DataConverter.with_context replaces the dataclass, which constructs
    a payload converter), and an adapter cached per instance was rebuilt each time."""
    return TypeAdapter(type_hint)


class PinnedJSONPayloadConverter(PydanticJSONPlainPayloadConverter):
    def from_payload(
        self, payload: temporalio.api.common.v1.Payload, type_hint: type | None = None
    ) -> Any:
        hint: Any = type_hint if type_hint is not None else Any
        try:
            adapter = _adapter(hint)
        except TypeError:  # an unhashable hint: build it, as the SDK does
            return super().from_payload(payload, type_hint)
        context = {PINNED: True} if hint in PINNED_INPUTS else None
        return adapter.validate_json(payload.data, context=context)


class WaypostPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        json_converter = PinnedJSONPayloadConverter()
        super().__init__(
            *(
                json_converter if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


waypost_data_converter = DataConverter(payload_converter_class=WaypostPayloadConverter)
