"""Waypost's payload converter: Temporal's pydantic converter, with one TypeAdapter per type
for the whole process.

Decoding a payload validates fields only: a policy inside a journey's or a play's input was
checked where it entered Waypost (`workflows.policy.check_policy`, run by the loader, the API
and the `change_policy` update validator), so a worker never re-checks it.
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


@functools.lru_cache(maxsize=1024)
def _adapter(type_hint: Any) -> TypeAdapter[Any]:
    """One TypeAdapter per type for the whole process. The SDK builds new converter
    instances as it goes (DataConverter.with_context replaces the dataclass, which constructs
    a payload converter), and the stock converter's cache, per instance, was rebuilt each time:
    5% of a worker's CPU when starting journeys (make bench)."""
    return TypeAdapter(type_hint)


class CachedPydanticJSONPayloadConverter(PydanticJSONPlainPayloadConverter):
    def from_payload(
        self, payload: temporalio.api.common.v1.Payload, type_hint: type | None = None
    ) -> Any:
        try:
            adapter = _adapter(type_hint if type_hint is not None else Any)
        except TypeError:  # an unhashable hint: build it, as the SDK does
            return super().from_payload(payload, type_hint)
        return adapter.validate_json(payload.data)


class WaypostPayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        json_converter = CachedPydanticJSONPayloadConverter()
        super().__init__(
            *(
                json_converter if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


waypost_data_converter = DataConverter(payload_converter_class=WaypostPayloadConverter)
